/** The control API's request handlers (params already validated by validate.ts). */
import { PersonaLiveError } from '../errors.js';
import type { ConfigPatch } from '../config/config.js';
import { DRIVING_SOURCES, PANEL_TOGGLED_SINK_KINDS, backendChoiceProblem, type DrivingTraits } from '../kinds.js';
import type { BackendChoice } from '../live/live-loop.js';
import { addDrivingFilter, addOutputSource, listVideoSources } from '../obs/scenes.js';
import type { ObsClient } from '../obs/obs-client.js';
import { runDoctor } from '../setup/doctor.js';
import type { Handlers } from './server.js';
import type { BackendOption } from '../protocol.js';
import type { DaemonSession } from './session.js';

export function createHandlers(session: DaemonSession): Handlers {
  const { loop, gallery, backends } = session;

  function requireAvailable(kind: 'generators' | 'devices' | 'decoders', value: string): void {
    const option = (backends[kind] as BackendOption[]).find((o) => o.value === value);
    if (option && !option.available) {
      const code = kind === 'devices' ? 'DEVICE_UNAVAILABLE' : kind === 'decoders' ? 'DECODER_UNAVAILABLE' : 'GENERATOR_NEEDS_PACK';
      throw new PersonaLiveError(code, `${value} is not available: ${option.reason}${option.detail ? ` (${option.detail})` : ''}`, { [kind]: value, detail: option.detail });
    }
  }

  const requireObs = (): ObsClient => {
    const obs = session.obs();
    if (!obs) throw new PersonaLiveError('OBS_DISCONNECTED', 'obs-websocket is disabled in the configuration (obs.enabled)');
    return obs;
  };

  return {
    'state.get': () => session.state(),
    'references.activate': async ({ id }) => {
      await session.activateReference(id);
      return { activeReferenceId: id };
    },
    'references.delete': async ({ id }) => {
      if (id === gallery.activeId && gallery.list().length > 1) {
        throw new PersonaLiveError('CONTROL_BAD_PARAMS', 'references.delete: this reference is on air; swap to another one first', { field: 'id' });
      }
      const references = gallery.remove(id);
      session.broadcastState();
      return { references };
    },
    'references.reorder': async ({ ids }) => {
      const references = gallery.reorder(ids);
      session.broadcastState();
      return { references };
    },
    'backend.set': async (params) => {
      const current = loop.generatorStatus();
      // Unnamed settings keep what the user chose (the device that runs may differ: the built-in generator runs on the CPU).
      const saved = session.config().generator;
      const choice: BackendChoice = { generator: params.generator ?? current.requested, device: params.device ?? saved.device, decoder: params.decoder ?? saved.decoder };
      if (params.generator) requireAvailable('generators', params.generator);
      if (params.device) requireAvailable('devices', params.device);
      if (params.decoder) requireAvailable('decoders', params.decoder);
      // Available here, but not for this generator: refused rather than shown as running.
      const problem = backendChoiceProblem(choice.generator, { device: params.device, decoder: params.decoder });
      if (problem) throw new PersonaLiveError('CONTROL_BAD_PARAMS', `backend.set: ${problem.message}`, { field: problem.field });
      await loop.switchBackend(choice);
      session.edit({ generator: { kind: choice.generator, device: choice.device, decoder: choice.decoder } });
      session.broadcastState();
      return loop.generatorStatus();
    },
    'failover.restore': async () => {
      await loop.restoreRequested();
      session.broadcastState();
      return loop.generatorStatus();
    },
    'driving.set': async (params) => {
      const config = session.config();
      const patch: ConfigPatch = { driving: { kind: params.kind, ...(params.ring ? { ring: params.ring } : {}), ...(params.webcam ? { webcam: params.webcam } : {}) } };
      // A kind whose setting is a path on this machine is usable once the configuration file names one.
      const { setting, clientSettable } = DRIVING_SOURCES[params.kind] as DrivingTraits;
      if (!clientSettable && setting !== null && !config.driving[setting]) {
        throw new PersonaLiveError('CONTROL_BAD_PARAMS', `driving.set: no ${params.kind} is configured (set driving.${setting} in ${session.paths.configFile})`, { field: 'kind' });
      }
      session.edit(patch);
      await session.applySource();
      return (await session.state()).driving;
    },
    'output.set': async (params) => {
      const switched = PANEL_TOGGLED_SINK_KINDS.filter((kind) => params[kind] !== undefined).map((kind) => [kind, { enabled: params[kind] }]);
      const { previous } = session.edit({
        output: {
          ...(params.fps !== undefined ? { fps: params.fps } : {}),
          ...(params.size !== undefined ? { size: params.size } : {}),
          ...(params.picture !== undefined ? { picture: params.picture } : {}),
          ...Object.fromEntries(switched),
        },
      });
      if (params.size !== undefined && params.size !== previous.output.size) await loop.rebuildActive();
      await session.applyOutputs();
      session.broadcastState();
      return (await session.state()).output;
    },
    'animation.setPaused': async ({ paused }) => {
      loop.setPaused(paused);
      return { paused };
    },
    'obs.listSources': async () => ({ sources: await listVideoSources(requireObs()) }),
    'obs.addOutputSource': async ({ sceneName }) => addOutputSource(requireObs(), sceneName, session.config().output.ring.name),
    'camera.set': async (params) => {
      if (params.background === 'image' && !session.config().output.virtualCamera.image) {
        throw new PersonaLiveError('CONTROL_BAD_PARAMS', 'camera.set: params.background: "image" needs a background picture: set output.virtualCamera.image in the configuration file first', { field: 'background' });
      }
      session.edit({ output: { virtualCamera: params } });
      await session.applyOutputs();
      session.broadcastState();
      return (await session.state()).output.virtualCamera;
    },
    'expression.set': async (params) => {
      session.edit({ generator: { expression: params } });
      session.broadcastState();
      return session.config().generator.expression;
    },
    'expression.calibrate': async () => {
      await loop.calibrate();
      session.notice('info', null, 'Neutral face set: motion is measured from this frame on');
      return { calibrated: true };
    },
    'doctor.run': async () => ({ checks: await runDoctor({ env: process.env, config: session.config(), token: session.token, insideDaemon: true }) }),
    'obs.addDrivingFilter': async ({ sourceName }) => {
      const config = session.config();
      const added = await addDrivingFilter(requireObs(), sourceName, { ringName: config.driving.ring, fps: config.driving.fps, size: config.output.size });
      if (config.driving.kind !== 'ring') {
        session.edit({ driving: { kind: 'ring' } });
        await session.applySource();
      }
      return added;
    },
  };
}

/** Methods outside the protocol, enabled only with the test hooks (PERSONALIVE_TEST_HOOKS=1). */
export function createTestHandlers(session: DaemonSession): Record<string, (params: unknown) => Promise<unknown>> {
  return {
    'test.injectFault': async (params: unknown) => {
      const mode = (params as { mode?: string })?.mode;
      if (mode !== 'throw' && mode !== 'stall') throw new PersonaLiveError('CONTROL_BAD_PARAMS', 'test.injectFault: params.mode: expected "throw" or "stall"');
      session.loop.injectFault(mode);
      return { injected: mode };
    },
  };
}
