/**
 * `personalive doctor` on this machine, against a throwaway configuration: every row has a
 * status and a fix where something is wrong; obs-websocket reachable with the configured
 * password, refusing it, or not there; the daemon not running; the command's exit codes.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, validateConfig } from '../../daemon/config/config.js';
import type { DoctorCheck } from '../../daemon/protocol.js';
import { formatDoctor, runDoctor } from '../../daemon/setup/doctor.js';
import { FakeObsWebSocket } from '../helpers/fake-obs-websocket.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'pl-doctor-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const find = (rows: DoctorCheck[], area: RegExp, name: string): DoctorCheck | undefined => rows.find((r) => area.test(r.area) && r.name === name);

describe('doctor', () => {
  it('obs-websocket answering with the configured password, refusing it, or not there at all', async () => {
    const obs = new FakeObsWebSocket('right');
    await obs.start();
    obs.handlers.set('GetVersion', () => ({ obsVersion: '29.0.2' }));
    const obsConfigDir = join(work, 'obs-studio');
    mkdirSync(obsConfigDir, { recursive: true });
    writeFileSync(join(obsConfigDir, 'global.ini'), `[OBSWebSocket]\nServerEnabled=true\nAuthRequired=true\nServerPassword=right\nServerPort=${obs.port}\n`);
    const config = (password: string) => validateConfig({ obs: { url: obs.url, password }, control: { port: 1 } }, 'test');
    try {
      const good = await runDoctor({ env: process.env, config: config('right'), token: 'a'.repeat(64), obsConfigDir, root: work });
      expect(find(good, /^OBS/, 'connection')).toMatchObject({ status: 'ok', found: `${obs.url} answers with the configured password (OBS 29.0.2)` });
      expect(find(good, /^OBS/, 'obs-websocket')).toMatchObject({ status: 'ok', found: `on at port ${obs.port} with a password` });
      expect(find(good, /^OBS/, 'PersonaLive plugin')).toMatchObject({ status: 'fail', fix: 'personalive setup' });
      expect(find(good, /^OBS/, 'dock')).toMatchObject({ status: 'warn' });
      const wrong = await runDoctor({ env: process.env, config: config('wrong'), token: 'a'.repeat(64), obsConfigDir, root: work });
      expect(find(wrong, /^OBS/, 'connection')).toMatchObject({ status: 'fail', found: `${obs.url} refused the configured password` });
    } finally {
      await obs.stop();
    }
    const gone = await runDoctor({ env: process.env, config: config('right'), token: 'a'.repeat(64), obsConfigDir, root: work });
    expect(find(gone, /^OBS/, 'connection')).toMatchObject({ status: 'warn', fix: 'start OBS (with obs-websocket on)' });
  }, 60_000);

  it('the rest of the table on this machine: ffmpeg, the CPU provider opened for real, no pack, no daemon, rings nobody writes', async () => {
    const config = validateConfig({ control: { port: 1 }, output: { ring: { name: `doctor-${process.pid}` } }, driving: { kind: 'ring', ring: `doctor-in-${process.pid}` } }, 'test', DEFAULT_CONFIG);
    const rows = await runDoctor({ env: process.env, config, token: 'b'.repeat(64), root: work });
    for (const row of rows) {
      expect(['ok', 'warn', 'fail', 'info']).toContain(row.status);
      if (row.status === 'fail') expect(row.fix, `${row.area}: ${row.name}`).toBeTruthy();
    }
    expect(find(rows, /^ffmpeg$/, 'ffmpeg')!.status).toBe('ok');
    expect(find(rows, /^GPU$/, 'provider cpu')).toMatchObject({ status: 'ok', found: 'ran a test graph with cpu' });
    expect(find(rows, /^model pack$/, 'pack')!.status).toBe('info');
    expect(find(rows, /^daemon$/, 'daemon')).toMatchObject({ status: 'info', found: 'not running on 127.0.0.1:1' });
    expect(find(rows, /^daemon$/, 'output ring (to OBS)')!.found).toBe(`ring "doctor-${process.pid}": nobody writes it now`);
    expect(find(rows, /^virtual camera$/, 'v4l2loopback module')).toMatchObject({ status: 'fail', fix: 'Debian/Ubuntu: sudo apt install v4l2loopback-dkms' });
    const lines = formatDoctor(rows);
    expect(lines.some((l) => /^ok {4}ffmpeg: ffmpeg/.test(l))).toBe(true);
    expect(lines.some((l) => /^ +fix: Debian\/Ubuntu: sudo apt install v4l2loopback-dkms$/.test(l))).toBe(true);
  }, 60_000);

  it('the command: a table, or --json; exit 1 when a check fails', async () => {
    const run = (args: string[]): Promise<{ code: number; stdout: string }> =>
      new Promise((resolve) => {
        const child = execFile(process.execPath, [join(REPO, 'bin/personalive.js'), 'doctor', '--config-dir', join(work, 'pl'), ...args], { env: { ...process.env, HOME: work, XDG_CONFIG_HOME: join(work, 'xdg') } }, (_e, stdout) => resolve({ code: child.exitCode ?? 1, stdout }));
      });
    const json = await run(['--json']);
    const parsed = JSON.parse(json.stdout) as { ok: boolean; checks: DoctorCheck[] };
    expect(json.code).toBe(parsed.ok ? 0 : 1);
    expect(parsed.checks.length).toBeGreaterThan(5);
    const table = await run([]);
    expect(table.stdout).toMatch(/^ok {4}ffmpeg: ffmpeg/m);
  }, 60_000);
});
