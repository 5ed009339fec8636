/**
 * The Expression section: how strongly the built-in generator follows mouth, eyes, brows
 * and head (sliders, applied on release, followed from the next frame), relative or absolute
 * head pose, and "This is my neutral face" (the same as the OBS hotkey).
 */
import { DEFAULT_EXPRESSION_CONTROLS, type ExpressionControls } from '../../daemon/kinds.js';
import type { DaemonState } from '../../daemon/protocol.js';
import type { Panel, View } from './app.js';
import { byId, fillSelect } from './dom.js';

const SLIDERS = ['mouth', 'eyes', 'brows', 'head'] as const;

export function mountExpression(panel: Panel): View {
  const sliders = Object.fromEntries(SLIDERS.map((name) => [name, byId<HTMLInputElement>(`expression-${name}`)])) as Record<(typeof SLIDERS)[number], HTMLInputElement>;
  const headPose = byId<HTMLSelectElement>('expression-head-pose');
  const calibrate = byId<HTMLButtonElement>('expression-calibrate');

  async function set(control: HTMLElement, params: Partial<ExpressionControls>): Promise<void> {
    const result = await panel.act(control, () => panel.client.call('expression.set', params));
    const state = panel.state();
    if (state) panel.patch({ generator: { ...state.generator, expression: result ?? state.generator.expression } });
  }
  for (const name of SLIDERS) sliders[name].addEventListener('change', () => void set(sliders[name], { [name]: Number(sliders[name].value) }));
  headPose.addEventListener('change', () => void set(headPose, { headPose: headPose.value as ExpressionControls['headPose'] }));
  calibrate.addEventListener('click', async () => {
    if (await panel.act(calibrate, () => panel.client.call('expression.calibrate', {}))) panel.notify('info', 'Neutral face set: motion is measured from this frame on.');
  });

  return {
    update(state: DaemonState): void {
      const expression = state.generator.expression ?? DEFAULT_EXPRESSION_CONTROLS;
      for (const name of SLIDERS) if (document.activeElement !== sliders[name]) sliders[name].value = String(expression[name]);
      fillSelect(headPose, [
        { value: 'relative', label: 'Relative (from your neutral face)' },
        { value: 'absolute', label: 'Absolute (your own angles)' },
      ], expression.headPose);
    },
  };
}
