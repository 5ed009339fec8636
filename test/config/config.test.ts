import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, defaultPaths, loadConfig, loadConfigForStart, loadOrCreateToken, saveConfig, validateConfig } from '../../daemon/config/config.js';
import { PersonaLiveError } from '../../daemon/errors.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const temp = useTempDirs('pl-config-');

function failure(run: () => unknown): PersonaLiveError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PersonaLiveError);
    return error as PersonaLiveError;
  }
  throw new Error('expected a failure');
}

describe('daemon configuration', () => {
  it('fills every default from DEFAULT_CONFIG and freezes the result', () => {
    const config = validateConfig({ output: { fps: 30 } }, 'test');
    expect(config.output.fps).toBe(30);
    expect(config.output.size).toBe(DEFAULT_CONFIG.output.size);
    expect(config.control).toEqual(DEFAULT_CONFIG.control);
    expect(Object.isFrozen(config.output.ring)).toBe(true);
  });

  it('names the source, the field and what was expected', () => {
    expect(failure(() => validateConfig({ output: { fps: 0 } }, '/home/u/.config/personalive/config.json')).message)
      .toBe('/home/u/.config/personalive/config.json: field output.fps: expected an integer from 1 to 120, got 0');
    expect(failure(() => validateConfig({ control: { host: '0.0.0.0' } }, 'panel')).message).toMatch(/field control\.host: expected "127\.0\.0\.1", "::1" or "localhost"/);
    expect(failure(() => validateConfig({ output: { ring: { name: '../x' } } }, 'panel')).message).toMatch(/field output\.ring\.name: expected 1-200 characters/);
    expect(failure(() => validateConfig({ outptu: {} }, 'panel')).message).toMatch(/field outptu: unknown setting/);
    expect(failure(() => validateConfig({ generator: { kind: 'personalive' } }, 'panel')).message).toMatch(/generator\.packDir: expected a model pack folder/);
    expect(failure(() => validateConfig({ output: 5 }, 'panel')).code).toBe('CONFIG_INVALID');
  });

  it('applies a patch over the current configuration, not over the defaults', () => {
    const current = validateConfig({ output: { fps: 30, size: 256 } }, 'file');
    const edited = validateConfig({ output: { fps: 20 } }, 'panel', current);
    expect(edited.output).toMatchObject({ fps: 20, size: 256 });
  });

  it('starts with a file an older daemon saved: retired settings are dropped, not refused', () => {
    const dir = temp();
    const older = { ...DEFAULT_CONFIG, output: { ...DEFAULT_CONFIG.output, virtualCamera: { enabled: true, device: 'auto', format: 'NV12', width: 1280, height: 720 } } };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(older));
    const config = loadConfig(join(dir, 'config.json'));
    expect(config.output.virtualCamera).toEqual({ ...DEFAULT_CONFIG.output.virtualCamera, enabled: true, device: 'auto', format: 'NV12' });
    // Only the retired names pass: a typo next to them is still refused.
    expect(failure(() => validateConfig({ output: { virtualCamera: { widht: 1280 } } }, 'file')).message).toMatch(/output\.virtualCamera\.widht: unknown setting/);
  });

  it('takes each configured sink\'s defaults and checks from its kind (kinds.ts)', () => {
    expect(DEFAULT_CONFIG.output.ring).toEqual({ enabled: true, name: 'personalive-output' });
    expect(DEFAULT_CONFIG.output.recording).toEqual({ enabled: false, path: '' });
    expect(failure(() => validateConfig({ output: { virtualCamera: { format: 'MJPG' } } }, 'panel')).message).toBe('panel: field output.virtualCamera.format: expected one of "YUYV", "NV12", got "MJPG"');
  });

  it('reads a missing file as the defaults and a broken one as CONFIG_INVALID naming it', () => {
    const dir = temp();
    expect(loadConfig(join(dir, 'config.json'))).toBe(DEFAULT_CONFIG);
    writeFileSync(join(dir, 'config.json'), '{"output": ');
    expect(failure(() => loadConfig(join(dir, 'config.json'))).message).toMatch(/config\.json: not valid JSON/);
  });

  it('a bad field in the saved file never stops a start: that field takes its default, the rest is kept, the file is copied aside first', () => {
    const dir = temp();
    const file = join(dir, 'config.json');
    const text = JSON.stringify({ output: { fps: 500, size: 256 }, obs: { url: 'ws://127.0.0.1:4456' }, driving: { kind: 'carrier-pigeon' } });
    writeFileSync(file, text);
    const { config, problems, keptCopy } = loadConfigForStart(file);
    expect(config.output).toMatchObject({ fps: DEFAULT_CONFIG.output.fps, size: 256 });
    expect(config.obs.url).toBe('ws://127.0.0.1:4456');
    expect(config.driving.kind).toBe(DEFAULT_CONFIG.driving.kind);
    expect(problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/config\.json: field driving\.kind: expected one of/),
      expect.stringMatching(/config\.json: field output\.fps: expected an integer/),
    ]);
    expect(keptCopy).toBe(`${file}.invalid`);
    expect(readFileSync(keptCopy!, 'utf8')).toBe(text);
    expect(loadConfigForStart(file).keptCopy).toBe(join(dir, 'config.json-2.invalid')); // never over an earlier copy
  });

  it('a saved file that is not JSON, or breaks a rule across fields, still starts (defaults), and an untouched good file copies nothing', () => {
    const dir = temp();
    const file = join(dir, 'config.json');
    writeFileSync(file, '{"output": ');
    expect(loadConfigForStart(file)).toMatchObject({ config: DEFAULT_CONFIG, keptCopy: `${file}.invalid` });
    writeFileSync(file, JSON.stringify({ generator: { kind: 'personalive' }, output: { size: 256 } }));
    const crossField = loadConfigForStart(file);
    expect(crossField.problems[0]!.message).toMatch(/generator\.packDir: expected a model pack folder/);
    expect(crossField.config.generator.kind).toBe('meshwarp');
    expect(crossField.config.output.size).toBe(256);
    writeFileSync(file, JSON.stringify({ output: { size: 256 } }));
    expect(loadConfigForStart(file)).toMatchObject({ problems: [], keptCopy: null });
    expect(loadConfigForStart(join(dir, 'missing.json'))).toEqual({ config: DEFAULT_CONFIG, problems: [], keptCopy: null });
  });

  it('saves atomically with 0600 permissions and leaves no temporary file', () => {
    const dir = temp();
    const file = join(dir, 'sub', 'config.json');
    const config = validateConfig({ obs: { password: 'secret' } }, 'test');
    saveConfig(file, config);
    expect(JSON.parse(readFileSync(file, 'utf8')).obs.password).toBe('secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['config.json']);
    expect(loadConfig(file)).toEqual(config);
  });

  it('generates the control token once (64 hex digits, 0600) and reuses it', () => {
    const dir = temp();
    const file = join(dir, 'token');
    const token = loadOrCreateToken(file);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadOrCreateToken(file)).toBe(token);
  });

  it('follows XDG on Linux and the platform folders elsewhere', () => {
    expect(defaultPaths({ HOME: '/home/u' }, 'linux')).toMatchObject({ configFile: '/home/u/.config/personalive/config.json', dataDir: '/home/u/.local/share/personalive' });
    expect(defaultPaths({ HOME: '/home/u', XDG_CONFIG_HOME: '/cfg', XDG_DATA_HOME: '/data' }, 'linux')).toMatchObject({ configDir: '/cfg/personalive', dataDir: '/data/personalive' });
    expect(defaultPaths({ HOME: '/Users/u' }, 'darwin').configDir).toBe('/Users/u/Library/Application Support/PersonaLive');
    expect(defaultPaths({ HOME: 'C:/Users/u', APPDATA: 'C:/Users/u/AppData/Roaming' }, 'win32').configDir).toMatch(/Roaming.PersonaLive$/);
  });
});
