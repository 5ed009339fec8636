/**
 * Driving source (what moves the portrait) and the OBS helpers: pick the OBS source (through
 * the plugin's Driving Capture filter and its ring) or a webcam; a file or still image set in
 * the configuration file is shown read-only. OBS video sources come from obs.listSources.
 */
import { DRIVING_KINDS, DRIVING_SOURCES, type DrivingKind, type DrivingTraits } from '../../daemon/kinds.js';
import type { DaemonState } from '../../daemon/protocol.js';
import type { Panel, View } from './app.js';
import { byId, fillSelect, setText } from './dom.js';
import { obsStatusWords } from './words.js';

const DEFAULT_WEBCAM = '/dev/video0';

export function mountDriving(panel: Panel): View {
  const kind = byId<HTMLSelectElement>('driving-kind');
  const status = byId('driving-status');
  const error = byId('driving-error');
  const webcamBox = byId('driving-webcam');
  const webcam = byId<HTMLInputElement>('webcam-device');
  const configured = byId('driving-configured');
  const ringBox = byId('driving-ring');

  /**
   * A kind picked whose setting is still to be filled in (the webcam's device): nothing
   * changes on air and nothing is saved until "Use" is pressed.
   */
  let pending: DrivingKind | null = null;

  kind.addEventListener('change', async () => {
    const value = kind.value as DrivingKind;
    if (value === 'webcam') {
      pending = value;
      webcamBox.hidden = false;
      webcam.focus();
      return;
    }
    pending = null;
    const result = await panel.act(kind, () => panel.client.call('driving.set', { kind: value }));
    const state = panel.state();
    if (result && state) panel.patch({ driving: result });
    else if (state) kind.value = state.driving.kind;
  });

  // Typed but not applied yet: state updates must not overwrite it.
  webcam.addEventListener('input', () => { webcam.dataset.edited = 'true'; });
  webcamBox.addEventListener('submit', async (e) => {
    e.preventDefault();
    const result = await panel.act(byId('webcam-apply'), () => panel.client.call('driving.set', { kind: 'webcam', webcam: webcam.value.trim() || DEFAULT_WEBCAM }));
    if (result) {
      delete webcam.dataset.edited;
      pending = null;
      panel.patch({ driving: result });
    }
  });

  return {
    update(state: DaemonState): void {
      const d = state.driving;
      // A kind set in the configuration file only (file, image) is offered once it names one.
      const offered = (k: DrivingKind): boolean => {
        const traits: DrivingTraits = DRIVING_SOURCES[k];
        return traits.clientSettable || k === d.kind || (traits.setting !== null && Boolean(d[traits.setting]));
      };
      fillSelect(kind, DRIVING_KINDS.filter(offered).map((k) => ({ value: k, label: DRIVING_SOURCES[k].label })), pending ?? d.kind);
      const badge = status.querySelector<HTMLElement>('.badge')!;
      badge.dataset.state = d.state;
      setText(badge, d.state);
      setText(status.querySelector('.status-text')!, d.description);
      error.hidden = !d.error;
      setText(error, d.error ?? '');
      webcamBox.hidden = (pending ?? d.kind) !== 'webcam';
      if (document.activeElement !== webcam && !webcam.dataset.edited) webcam.value = d.webcam || DEFAULT_WEBCAM;
      ringBox.hidden = d.kind !== 'ring';
      setText(byId('driving-ring-name'), d.ring);
      configured.hidden = pending !== null || (d.kind !== 'file' && d.kind !== 'image');
      setText(byId('driving-path'), d.kind === 'image' ? d.image : d.file);
    },
  };
}

export function mountObs(panel: Panel): View {
  const stateLine = byId('obs-status');
  const sources = byId<HTMLSelectElement>('obs-source');
  const refresh = byId<HTMLButtonElement>('obs-refresh');
  const capture = byId<HTMLButtonElement>('obs-capture');
  const addOutput = byId<HTMLButtonElement>('obs-add-output');
  let connected = false;

  async function list(): Promise<void> {
    const result = await panel.act(refresh, () => panel.client.call('obs.listSources', {}));
    if (!result) return;
    const selected = sources.value;
    fillSelect(sources, result.sources.length > 0
      ? result.sources.map((s) => ({ value: s.name, label: `${s.name} (${s.kind})` }))
      : [{ value: '', label: 'No video sources in OBS', disabled: true }], selected);
    if (!sources.value && result.sources[0]) sources.value = result.sources[0].name;
    syncButtons();
  }

  function syncButtons(): void {
    refresh.disabled = !connected;
    capture.disabled = !connected || !sources.value;
    addOutput.disabled = !connected;
    sources.disabled = !connected;
  }

  refresh.addEventListener('click', () => void list());
  capture.addEventListener('click', async () => {
    const sourceName = sources.value;
    const result = await panel.act(capture, () => panel.client.call('obs.addDrivingFilter', { sourceName }));
    if (result) panel.notify('info', `Capturing “${result.sourceName}” (filter “${result.filterName}”). Choose “OBS source” as the driving source if it is not already.`);
  });
  addOutput.addEventListener('click', async () => {
    const result = await panel.act(addOutput, () => panel.client.call('obs.addOutputSource', {}));
    if (result) panel.notify('info', `Added “${result.inputName}” to the scene “${result.sceneName}”.`);
  });

  return {
    update(state: DaemonState): void {
      const obs = state.obs;
      const was = connected;
      connected = obs.state === 'connected';
      const badge = stateLine.querySelector<HTMLElement>('.badge')!;
      badge.dataset.state = obs.state;
      setText(badge, obs.state);
      const said = obsStatusWords(obs);
      setText(stateLine.querySelector('.status-text')!, said.text);
      const detail = byId('obs-detail');
      detail.hidden = said.detail === null;
      setText(detail.querySelector('code')!, said.detail ?? '');
      if (connected && !was) void list();
      if (!connected) {
        fillSelect(sources, [{ value: '', label: 'Connect to OBS to list sources', disabled: true }], '');
      }
      syncButtons();
    },
  };
}
