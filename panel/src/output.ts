/** Output settings: frame rate, size, virtual camera and recording toggles with their real state. */
import { PICTURE_BACKGROUNDS, VIRTUAL_CAMERA_SIZES, type OutputPicture, type PictureBackground } from '../../daemon/kinds.js';
import type { DaemonState, RequestMap } from '../../daemon/protocol.js';
import type { Panel, View } from './app.js';
import { byId, fillSelect, setText } from './dom.js';

const FPS_CHOICES = [15, 20, 24, 25, 30, 50, 60];
const BACKGROUND_LABELS: Record<PictureBackground, string> = { blur: 'Blurred portrait', colour: 'Colour', image: 'Image (from the configuration)' };
const SIZE_CHOICES = [256, 384, 512, 768, 1024];

/** The usual choices plus the current value when the configuration set another one. */
function choices(list: number[], current: number): number[] {
  return list.includes(current) ? list : [...list, current].sort((a, b) => a - b);
}

export function mountOutput(panel: Panel): View {
  const fps = byId<HTMLSelectElement>('output-fps');
  const size = byId<HTMLSelectElement>('output-size');
  const vcam = byId<HTMLInputElement>('output-vcam');
  const recording = byId<HTMLInputElement>('output-recording');

  async function set(control: HTMLElement, params: RequestMap['output.set']['params']): Promise<void> {
    const result = await panel.act(control, () => panel.client.call('output.set', params));
    const state = panel.state();
    // On failure, put the controls back to what the daemon has.
    if (state) panel.patch({ output: result ?? state.output });
  }

  // The camera's 16:9 picture: applied on the running camera (no reopen), so sliders act live.
  const cameraSize = byId<HTMLSelectElement>('camera-size');
  const background = byId<HTMLSelectElement>('camera-background');
  const colour = byId<HTMLInputElement>('camera-colour');
  const sliders = { scale: byId<HTMLInputElement>('camera-scale'), x: byId<HTMLInputElement>('camera-x'), y: byId<HTMLInputElement>('camera-y') };
  async function setCamera(control: HTMLElement, params: RequestMap['camera.set']['params']): Promise<void> {
    const result = await panel.act(control, () => panel.client.call('camera.set', params));
    const state = panel.state();
    if (state) panel.patch({ output: { ...state.output, virtualCamera: result ?? state.output.virtualCamera } });
  }
  cameraSize.addEventListener('change', () => void setCamera(cameraSize, { size: cameraSize.value as never }));
  background.addEventListener('change', () => void setCamera(background, { background: background.value as never }));
  colour.addEventListener('change', () => void setCamera(colour, { colour: colour.value }));
  for (const [name, slider] of Object.entries(sliders)) slider.addEventListener('change', () => void setCamera(slider, { [name]: Number(slider.value) }));

  const picture = byId<HTMLSelectElement>('output-picture');
  picture.addEventListener('change', () => void set(picture, { picture: picture.value as OutputPicture }));
  fps.addEventListener('change', () => void set(fps, { fps: Number(fps.value) }));
  size.addEventListener('change', () => void set(size, { size: Number(size.value) }));
  vcam.addEventListener('change', () => void set(vcam, { virtualCamera: vcam.checked }));
  recording.addEventListener('change', () => void set(recording, { recording: recording.checked }));

  function toggleState(prefix: string, state: string, detail: string, error: string | null): void {
    const badge = byId(`${prefix}-state`);
    badge.dataset.state = state;
    setText(badge, state);
    setText(byId(`${prefix}-detail`), detail);
    const errorLine = byId(`${prefix}-error`);
    errorLine.hidden = !error;
    setText(errorLine, error ?? '');
  }

  return {
    update(state: DaemonState): void {
      const o = state.output;
      fillSelect(fps, choices(FPS_CHOICES, o.fps).map((n) => ({ value: String(n), label: `${n} fps` })), String(o.fps));
      fillSelect(size, choices(SIZE_CHOICES, o.size).map((n) => ({ value: String(n), label: `${n}×${n}` })), String(o.size));
      vcam.checked = o.virtualCamera.enabled;
      toggleState('output-vcam', o.virtualCamera.state, o.virtualCamera.device ? `Device: ${o.virtualCamera.device}` : '', o.virtualCamera.error);
      const camera = o.virtualCamera;
      fillSelect(cameraSize, VIRTUAL_CAMERA_SIZES.map((s) => ({ value: s, label: s.replace('x', '×') })), camera.size);
      fillSelect(background, PICTURE_BACKGROUNDS.map((b) => ({
        value: b,
        label: BACKGROUND_LABELS[b],
        disabled: b === 'image' && !camera.image,
        title: b === 'image' && !camera.image ? 'Set output.virtualCamera.image in the configuration file' : undefined,
      })), camera.background);
      byId('camera-colour-field').hidden = camera.background !== 'colour';
      byId('camera-framing').hidden = camera.framing !== 'photo';
      if (document.activeElement !== colour) colour.value = camera.colour;
      for (const [name, slider] of Object.entries(sliders)) if (document.activeElement !== slider) slider.value = String(camera[name as keyof typeof sliders]);
      fillSelect(picture, [
        { value: 'square', label: 'The animation (square)' },
        { value: 'camera', label: 'The camera picture (16:9)' },
      ], o.picture);
      recording.checked = o.recording.enabled;
      toggleState('output-recording', o.recording.state, o.recording.path ? `File: ${o.recording.path}` : '', o.recording.error);
      setText(byId('output-ring'), o.ring.enabled ? `OBS output ring “${o.ring.name}”` : 'OBS output ring off');
    },
  };
}
