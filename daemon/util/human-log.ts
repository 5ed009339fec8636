/**
 * Log lines for a person at a terminal: pino's JSON lines turned into
 * `12:03:04 WARN  message  key=value ...`, short enough that the panel URL printed at start
 * does not scroll away under them. Piped or with --json the daemon keeps JSON (for tools).
 */

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
/** Fields every line has, or that the text already says. */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v']);
const MAX_VALUE_CHARS = 120;

function valueText(value: unknown): string {
  const text = typeof value === 'string' ? (/[\s"=]/.test(value) ? JSON.stringify(value) : value) : JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}

/** One JSON log line as a readable line (with its newline); a line that is not JSON is passed through. */
export function formatLogLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const time = typeof record.time === 'number' ? new Date(record.time).toTimeString().slice(0, 8) : '--:--:--';
  const level = LEVELS[Number(record.level)] ?? 'INFO ';
  const fields = Object.entries(record)
    .filter(([key, value]) => !HIDDEN.has(key) && value !== null && value !== undefined)
    .map(([key, value]) => `${key}=${valueText(value)}`);
  return `${time} ${level} ${String(record.msg ?? '')}${fields.length ? `  ${fields.join(' ')}` : ''}\n`;
}

/**
 * A pino destination that writes readable lines through `write` (pino calls it once per
 * record). For a terminal, `write` is synchronous so lines keep their order with the banner.
 */
export function humanLogStream(write: (text: string) => void): { write(line: string): void } {
  return { write: (line: string) => write(formatLogLine(line.replace(/\n$/, ''))) };
}
