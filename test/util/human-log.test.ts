/** Readable log lines for a terminal, so the panel URL does not scroll away under JSON. */
import { describe, expect, it } from 'vitest';
import { formatLogLine, humanLogStream } from '../../daemon/util/human-log.js';

describe('formatLogLine', () => {
  const time = new Date(2026, 11, 3, 12, 3, 4).getTime();

  it('writes time, level and message, then the fields a person needs, without the pid noise', () => {
    const line = formatLogLine(JSON.stringify({ level: 40, time, pid: 123, hostname: 'h', msg: 'obs-websocket unavailable', err: 'connect ECONNREFUSED 127.0.0.1:4455', attempts: 3 }));
    expect(line).toBe('12:03:04 WARN  obs-websocket unavailable  err="connect ECONNREFUSED 127.0.0.1:4455" attempts=3\n');
  });

  it('names every level and leaves out empty fields', () => {
    expect(formatLogLine(JSON.stringify({ level: 30, time, msg: 'daemon stopped', code: null }))).toBe('12:03:04 INFO  daemon stopped\n');
    expect(formatLogLine(JSON.stringify({ level: 50, time, msg: 'x' }))).toMatch(/^12:03:04 ERROR x\n$/);
  });

  it('shortens a long value instead of filling the terminal', () => {
    const line = formatLogLine(JSON.stringify({ level: 30, time, msg: 'm', generator: { active: 'meshwarp', detail: 'x'.repeat(500) } }));
    expect(line.length).toBeLessThan(160);
    expect(line).toContain('…');
  });

  it('passes a line that is not JSON through unchanged', () => {
    expect(formatLogLine('plain text')).toBe('plain text\n');
  });

  it('as a pino destination, writes one readable line per record', () => {
    const written: string[] = [];
    humanLogStream((text) => written.push(text)).write(`${JSON.stringify({ level: 30, time, msg: 'ready' })}\n`);
    expect(written).toEqual(['12:03:04 INFO  ready\n']);
  });
});
