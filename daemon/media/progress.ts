/**
 * A one-line progress bar for the offline CLI. It draws only on a TTY: piped or redirected
 * stderr (CI logs, `2> log.txt`) gets nothing, so logs are not flooded with redraws.
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Frames expected, or null when unknown (then no bar, no percentage and no ETA). */
  total: number | null;
  label?: string;
  stream?: ProgressStream;
  /** false turns the display off entirely (e.g. --no-progress); default true. */
  enabled?: boolean;
  /** Clock in milliseconds; injectable for tests. */
  now?: () => number;
}

export interface Progress {
  /** Counts n more frames done (default 1); redraws at most every REDRAW_INTERVAL_MS. */
  tick(n?: number): void;
  /** Draws the final state and ends the line. Further calls do nothing. */
  done(): void;
}

export const REDRAW_INTERVAL_MS = 100;

/** Starts a progress display on `stream` (stderr by default). */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const total = options.total !== null && options.total > 0 ? options.total : null;
  const interactive = options.enabled !== false && stream.isTTY === true;
  const started = now();
  let count = 0;
  let lastDraw = -Infinity;
  let finished = false;

  const draw = (): void => {
    const line = formatProgress({
      done: count,
      total,
      elapsedMs: now() - started,
      width: Math.max(20, (stream.columns ?? 80) - 1),
      label: options.label,
    });
    // \r returns to column 0, ESC[K clears what a longer previous line left behind.
    stream.write(`\r${line}\x1b[K`);
  };

  return {
    tick(n = 1): void {
      if (finished) return;
      count += n;
      if (!interactive) return;
      const t = now();
      if (t - lastDraw >= REDRAW_INTERVAL_MS) {
        lastDraw = t;
        draw();
      }
    },
    done(): void {
      if (finished) return;
      finished = true;
      if (!interactive) return;
      draw();
      stream.write('\n');
    },
  };
}

/**
 * Formats one progress line, at most `width` characters:
 * `label [#####-----] 120/1641  7% 24.9 fps ETA 1:01` with a total,
 * `label 120 frames 24.9 fps` without. Pure: no clock, no stream.
 */
export function formatProgress(input: {
  done: number;
  total: number | null;
  elapsedMs: number;
  width: number;
  label?: string;
}): string {
  const { done, total, elapsedMs, width } = input;
  const seconds = elapsedMs / 1000;
  const fps = seconds > 0 ? done / seconds : 0;
  const prefix = input.label ? `${input.label} ` : '';
  const rate = `${fps.toFixed(1)} fps`;

  if (total === null || !(total > 0)) {
    return clip(`${prefix}${done} frames ${rate}`, width);
  }
  const fraction = Math.min(1, Math.max(0, done / total));
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const eta = fps > 0 ? `ETA ${formatDuration(Math.max(0, total - done) / fps)}` : 'ETA --:--';
  const counts = `${done}/${total}`;
  const tail = ` ${counts} ${percent} ${rate} ${eta}`;
  const barWidth = width - prefix.length - tail.length - 2;
  if (barWidth < 5) return clip(`${prefix}${counts} ${percent} ${rate} ${eta}`, width);
  const filled = Math.round(fraction * barWidth);
  return `${prefix}[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${tail}`;
}

/** 75 -> '1:15', 3725 -> '1:02:05'. */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const secs = String(s % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${secs}` : `${minutes}:${secs}`;
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, Math.max(0, width));
}
