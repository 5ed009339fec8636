/**
 * What the panel asks of OBS itself, through obs-websocket: list the video sources, put the
 * PersonaLive Output source in a scene, put the Driving Capture filter on a source.
 */
import type { ObsClient } from './obs-client.js';

/** Input kinds that carry no picture (never offered as a driving source). */
const AUDIO_ONLY = /^(pulse|alsa|jack|wasapi|coreaudio|sck_audio)/;
export const OUTPUT_SOURCE = { name: 'PersonaLive Output', kind: 'personalive_output_source' } as const;
export const DRIVING_FILTER = { name: 'PersonaLive Driving Capture', kind: 'personalive_driving_filter' } as const;

export async function listVideoSources(obs: ObsClient): Promise<{ name: string; kind: string }[]> {
  const { inputs } = await obs.call('GetInputList');
  return inputs.map((i) => ({ name: String(i.inputName), kind: String(i.inputKind) })).filter((i) => !AUDIO_ONLY.test(i.kind));
}

/** Adds the output source to `sceneName` (the program scene by default), reusing it when it exists. */
export async function addOutputSource(obs: ObsClient, sceneName: string | undefined, ringName: string): Promise<{ sceneName: string; inputName: string }> {
  const scene = sceneName ?? (await obs.call('GetCurrentProgramScene')).currentProgramSceneName;
  const { inputs } = await obs.call('GetInputList', { inputKind: OUTPUT_SOURCE.kind });
  if (inputs.some((i) => i.inputName === OUTPUT_SOURCE.name)) await obs.call('CreateSceneItem', { sceneName: scene, sourceName: OUTPUT_SOURCE.name });
  else await obs.call('CreateInput', { sceneName: scene, inputName: OUTPUT_SOURCE.name, inputKind: OUTPUT_SOURCE.kind, inputSettings: { ring_name: ringName } });
  return { sceneName: scene, inputName: OUTPUT_SOURCE.name };
}

export async function addDrivingFilter(obs: ObsClient, sourceName: string, settings: { ringName: string; fps: number; size: number }): Promise<{ sourceName: string; filterName: string }> {
  await obs.call('CreateSourceFilter', {
    sourceName,
    filterName: DRIVING_FILTER.name,
    filterKind: DRIVING_FILTER.kind,
    filterSettings: { ring_name: settings.ringName, fps: settings.fps, width: settings.size, height: settings.size },
  });
  return { sourceName, filterName: DRIVING_FILTER.name };
}
