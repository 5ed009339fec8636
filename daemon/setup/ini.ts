/**
 * The INI files OBS keeps (global.ini, user.ini): read a key, set or remove one, leaving
 * every other line as it was (OBS rewrites the files itself; a setup must not reorder them).
 * Pure text in, text out.
 */

interface Located {
  lines: string[];
  /** Index of the [section] line, or -1. */
  header: number;
  /** Index after the section's last line. */
  end: number;
  /** Index of the key's line, or -1. */
  at: number;
}

function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function locate(text: string, section: string, key: string): Located {
  const lines = splitLines(text);
  let header = -1;
  let end = lines.length;
  let at = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const match = /^\[(.*)\]$/.exec(line);
    if (match) {
      if (header >= 0) {
        end = i;
        break;
      }
      if (match[1] === section) header = i;
      continue;
    }
    if (header >= 0 && at < 0 && line.slice(0, line.indexOf('=')).trim() === key && line.includes('=')) at = i;
  }
  return { lines, header, end: header >= 0 ? end : lines.length, at };
}

/** The value of `key` in `[section]`, or null. */
export function getIniValue(text: string, section: string, key: string): string | null {
  const { lines, at } = locate(text, section, key);
  if (at < 0) return null;
  const line = lines[at]!;
  return line.slice(line.indexOf('=') + 1);
}

/** `text` with `key=value` in `[section]` (replaced in place, or added at the section's end; the section is added at the end). */
export function setIniValue(text: string, section: string, key: string, value: string): string {
  const { lines, header, end, at } = locate(text, section, key);
  if (at >= 0) lines[at] = `${key}=${value}`;
  else if (header >= 0) {
    // After the section's last non-blank line, so a blank separator line stays a separator.
    let insert = end;
    while (insert > header + 1 && lines[insert - 1]!.trim() === '') insert--;
    lines.splice(insert, 0, `${key}=${value}`);
  } else {
    if (lines.length > 0 && lines[lines.length - 1]!.trim() !== '') lines.push('');
    lines.push(`[${section}]`, `${key}=${value}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `text` without `key` in `[section]` (an emptied section is removed too). */
export function removeIniValue(text: string, section: string, key: string): string {
  const { lines, header, at } = locate(text, section, key);
  if (at < 0) return text;
  lines.splice(at, 1);
  const again = locate(`${lines.join('\n')}\n`, section, '\u0000');
  const body = again.lines.slice(again.header + 1, again.end);
  if (header >= 0 && body.every((line) => line.trim() === '')) {
    again.lines.splice(again.header, again.end - again.header);
    while (again.lines.length > 0 && again.lines[again.lines.length - 1]!.trim() === '') again.lines.pop();
  }
  return again.lines.length ? `${again.lines.join('\n')}\n` : '';
}
