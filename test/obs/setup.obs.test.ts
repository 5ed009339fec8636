/**
 * `personalive setup` against the real OBS 29 in a throwaway home (the built CLI as a user
 * runs it): after it, OBS starts with obs-websocket on and the generated password (the one in
 * the daemon's configuration) works, the plugin loads, the dock entry is in global.ini and
 * survives an OBS start and clean exit; a second run changes nothing; it refuses to edit
 * under a running OBS; --uninstall restores the files byte for byte (or, after OBS rewrote
 * global.ini, removes only what setup set).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ObsClient } from '../../daemon/obs/obs-client.js';
import { getIniValue } from '../../daemon/setup/ini.js';
import { freePort, requireObs, startObs, writeObsHome, type ObsInstance } from '../helpers/obs-harness.js';

const obsDeps = requireObs();
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Every file under `dir` with its bytes (base64), for byte-for-byte comparisons. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(dir, path)] = readFileSync(path).toString('base64');
    }
  };
  walk(dir);
  return out;
}

function personalive(home: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), PERSONALIVE_CONFIG_DIR: join(home, '.config/personalive') };
    const child = execFile(process.execPath, [join(REPO, 'bin/personalive.js'), ...args], { env, timeout: 180_000 }, (_error, stdout, stderr) => {
      resolve({ code: child.exitCode ?? 1, stdout, stderr });
    });
  });
}

describe.skipIf(obsDeps.skip)('personalive setup with the real OBS 29', () => {
  const home = mkdtempSync(join(tmpdir(), 'personalive-setup-obs-'));
  const root = join(home, 'system-root'); // v4l2loopback files would go here (nothing is written without --yes)
  mkdirSync(root);
  let obs: ObsInstance | null = null;
  afterAll(async () => {
    await obs?.stop().catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  });

  it('turns obs-websocket on with a password the daemon shares, installs the plugin, registers the dock; a second run changes nothing; OBS starts with all of it', async () => {
    const port = await freePort();
    writeObsHome(home, port, 'unused', 'off'); // a user who never turned obs-websocket on
    const before = snapshot(home);

    const first = await personalive(home, ['setup', '--root', root]);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toContain(`changed   obs-websocket (native): turned on at port ${port} with a generated password`);
    expect(first.stdout).toMatch(/changed {3}OBS plugin \(native\): installed in .*plugins\/personalive/);
    expect(first.stdout).toContain("This OBS has no browser docks (Debian's own package is built without them)");
    const globalIni = readFileSync(join(home, '.config/obs-studio/global.ini'), 'utf8');
    const password = getIniValue(globalIni, 'OBSWebSocket', 'ServerPassword')!;
    expect(password).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const daemonConfig = JSON.parse(readFileSync(join(home, '.config/personalive/config.json'), 'utf8')) as { obs: { url: string; password: string } };
    expect(daemonConfig.obs).toMatchObject({ url: `ws://127.0.0.1:${port}`, password });
    const token = readFileSync(join(home, '.config/personalive/token'), 'utf8').trim();
    const docks = JSON.parse(getIniValue(globalIni, 'BasicWindow', 'ExtraBrowserDocks')!) as Array<{ title: string; url: string; uuid: string }>;
    expect(docks).toEqual([{ title: 'PersonaLive', url: `http://127.0.0.1:7860/panel/?token=${token}`, uuid: expect.stringMatching(/^[0-9a-f-]{36}$/) }]);

    const afterFirst = snapshot(home);
    const second = await personalive(home, ['setup', '--root', root]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('This run changed nothing');
    expect(snapshot(home)).toEqual(afterFirst);

    // --uninstall now (nothing rewrote the files): byte for byte as before setup.
    const undone = await personalive(home, ['setup', '--uninstall']);
    expect(undone.code, undone.stderr).toBe(0);
    expect(snapshot(home)).toEqual(before);

    // Set up again and start OBS on its own settings (no command-line password).
    expect((await personalive(home, ['setup', '--root', root])).code).toBe(0);
    const again = getIniValue(readFileSync(join(home, '.config/obs-studio/global.ini'), 'utf8'), 'OBSWebSocket', 'ServerPassword')!;
    obs = await startObs({ home, prepared: { port, password: again } });
    const client = new ObsClient({ url: `ws://127.0.0.1:${port}`, password: (JSON.parse(readFileSync(join(home, '.config/personalive/config.json'), 'utf8')) as { obs: { password: string } }).obs.password, reconnect: false });
    await client.connect();
    const { inputKinds } = await client.call('GetInputKindList', { unversioned: false });
    expect(inputKinds).toContain('personalive_output_source'); // the plugin loaded
    await client.close();
    const wrong = new ObsClient({ url: `ws://127.0.0.1:${port}`, password: 'not-the-password', reconnect: false });
    await expect(wrong.connect()).rejects.toMatchObject({ code: 'OBS_AUTH_FAILED' });
    await wrong.close();
  }, 240_000);

  it('refuses to change OBS\'s files while OBS runs, and says to close it', async () => {
    const running = await personalive(home, ['setup', '--root', root]);
    expect(running.code).toBe(1);
    expect(running.stdout).toMatch(/failed {4}OBS \(native\): OBS 29\.0\.2 is running \(pid \d+\) and rewrites its settings when it exits: close OBS/);
    const blocked = await personalive(home, ['setup', '--uninstall']);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/error SETUP_BLOCKED: OBS is running \(pid \d+\)/);
    // doctor sees what setup did, with OBS running.
    const doctor = JSON.parse((await personalive(home, ['doctor', '--json'])).stdout) as { checks: Array<{ area: string; name: string; status: string; found: string }> };
    const row = (name: string) => doctor.checks.find((c) => c.area === 'OBS (native)' && c.name === name);
    expect(row('PersonaLive plugin')).toMatchObject({ status: 'ok' });
    expect(row('obs-websocket')).toMatchObject({ status: 'ok', found: expect.stringContaining('with a password') });
    expect(row('connection')).toMatchObject({ status: 'ok', found: expect.stringContaining('answers with the configured password (OBS 29.0.2') });
    expect(row('dock')).toMatchObject({ status: 'warn', found: expect.stringContaining("registered, but this OBS has no browser docks") });
  }, 120_000);

  it('the dock entry survives an OBS clean exit; --uninstall then removes only what setup set', async () => {
    await obs!.stop();
    obs = null;
    const saved = readFileSync(join(home, '.config/obs-studio/global.ini'), 'utf8');
    expect(getIniValue(saved, 'BasicWindow', 'ExtraBrowserDocks')).toContain('"title":"PersonaLive"');
    const undone = await personalive(home, ['setup', '--uninstall']);
    expect(undone.code, undone.stderr).toBe(0);
    const after = readFileSync(join(home, '.config/obs-studio/global.ini'), 'utf8');
    expect(getIniValue(after, 'BasicWindow', 'ExtraBrowserDocks')).toBeNull();
    expect(getIniValue(after, 'OBSWebSocket', 'ServerEnabled')).not.toBe('true');
    expect(getIniValue(after, 'OBSWebSocket', 'ServerPassword')).toBeNull();
    expect(readdirSync(join(home, '.config/obs-studio'))).not.toContain('plugins');
  }, 120_000);
});
