/** Live stats (event `stats`, about 2 Hz) and the small MJPEG preview. */
import type { LiveStats } from '../../daemon/protocol.js';
import type { Panel } from './app.js';
import { byId, readSetting, setText, writeSetting } from './dom.js';

const fps = (value: number): string => value.toFixed(1);
const ms = (value: number | null): string => (value === null ? '—' : `${Math.round(value)} ms`);

export interface StatsView {
  stats(stats: LiveStats): void;
  /** The connection (re)opened or closed: restart or stop the preview stream. */
  connected(open: boolean): void;
}

export function mountStats(panel: Panel): StatsView {
  const preview = byId<HTMLImageElement>('preview');
  const previewToggle = byId<HTMLInputElement>('preview-toggle');
  const PREVIEW_KEY = 'personalive.preview';
  let open = false;

  previewToggle.checked = readSetting(PREVIEW_KEY) !== 'off';
  function syncPreview(): void {
    const want = open && previewToggle.checked;
    // An <img> keeps a multipart stream open until its src changes: drop it when hidden.
    if (want && !preview.getAttribute('src')) preview.src = panel.tokenUrl(`/api/preview.mjpg?t=${Date.now()}`);
    if (!want && preview.getAttribute('src')) preview.removeAttribute('src');
    preview.hidden = !want;
    byId('preview-off').hidden = want;
    setText(byId('preview-off'), open ? 'Preview off' : 'No preview while the daemon is offline');
  }
  previewToggle.addEventListener('change', () => {
    writeSetting(PREVIEW_KEY, previewToggle.checked ? 'on' : 'off');
    syncPreview();
  });
  // The stream breaks when the daemon restarts or has no frame yet: try again a little later.
  preview.addEventListener('error', () => {
    preview.removeAttribute('src');
    window.setTimeout(syncPreview, 3_000);
  });

  const cell = (name: string): HTMLElement => byId(`stat-${name}`);
  return {
    stats(s: LiveStats): void {
      setText(cell('input-fps'), fps(s.inputFps));
      setText(cell('generated-fps'), fps(s.generatedFps));
      setText(cell('output-fps'), fps(s.outputFps));
      setText(cell('latency'), `${ms(s.latencyMs.p50)} / ${ms(s.latencyMs.p95)}`);
      setText(cell('drops'), `${s.drops.input} / ${s.drops.output}`);
      setText(cell('repeats'), String(s.repeats));
      setText(cell('frames-out'), String(s.framesOut));
      setText(cell('failover'), s.failover ? 'active' : 'no');
      cell('failover').dataset.state = s.failover ? 'warning' : 'ok';
      setText(cell('provider'), s.executionProvider);
      setText(cell('uptime'), `${Math.floor(s.uptimeS / 60)} min ${Math.floor(s.uptimeS % 60)} s · ${Math.round(s.rssMb)} MB`);
    },
    connected(isOpen: boolean): void {
      open = isOpen;
      if (!isOpen) preview.removeAttribute('src');
      syncPreview();
    },
  };
}
