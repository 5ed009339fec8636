/** setup's journal: undone byte for byte when untouched, key by key when OBS rewrote the file since. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { setIniValue } from '../../daemon/setup/ini.js';
import { loadJournal, recordAction, saveJournal, undoJournal, writeJournaled, type Journal } from '../../daemon/setup/journal.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const temp = useTempDirs('pl-journal-');
const fresh = (): Journal => ({ version: 1, files: [] });

describe('setup journal', () => {
  it('restores a file it changed byte for byte, removes one it created with the folders it made, and writes nothing when nothing changes', () => {
    const dir = temp();
    const ini = join(dir, 'global.ini');
    const before = '[General]\r\nFirstRun=true\r\n'; // CRLF kept as it was
    writeFileSync(ini, before);
    const journal = fresh();
    const after = setIniValue(before, 'OBSWebSocket', 'ServerEnabled', 'true');
    expect(writeJournaled(journal, ini, 'obs-websocket', after, [{ format: 'ini', section: 'OBSWebSocket', key: 'ServerEnabled', before: null }])).toBe(true);
    expect(writeJournaled(journal, ini, 'obs-websocket', after)).toBe(false); // a second run
    const plugin = join(dir, 'plugins/personalive/bin/64bit/personalive.so');
    expect(writeJournaled(journal, plugin, 'plugin', new Uint8Array([0x7f, 0x45, 0x4c, 0x46]), [], 0o755)).toBe(true);
    const file = join(dir, 'journal.json');
    saveJournal(file, journal);
    const loaded = loadJournal(file);
    expect(undoJournal(loaded)).toEqual([`removed ${plugin}`, `restored ${ini} as it was before setup`]);
    expect(readFileSync(ini, 'utf8')).toBe(before);
    expect(existsSync(join(dir, 'plugins'))).toBe(false);
    saveJournal(file, loaded);
    expect(existsSync(file)).toBe(false);
  });

  it('a file OBS rewrote since: only the keys setup set go back, what OBS added stays', () => {
    const dir = temp();
    const ini = join(dir, 'global.ini');
    writeFileSync(ini, '[OBSWebSocket]\nServerPort=4466\n');
    const journal = fresh();
    let text = setIniValue('[OBSWebSocket]\nServerPort=4466\n', 'OBSWebSocket', 'ServerEnabled', 'true');
    text = setIniValue(text, 'OBSWebSocket', 'ServerPort', '4455');
    writeJournaled(journal, ini, 'obs-websocket', text, [
      { format: 'ini', section: 'OBSWebSocket', key: 'ServerEnabled', before: null },
      { format: 'ini', section: 'OBSWebSocket', key: 'ServerPort', before: '4466' },
    ]);
    writeFileSync(ini, `[General]\nLastVersion=1\n\n${text}`); // OBS saved it on exit
    expect(undoJournal(journal)[0]).toMatch(/put back the 2 setting\(s\) setup changed in .*the rest of it is kept/);
    expect(readFileSync(ini, 'utf8')).toBe('[General]\nLastVersion=1\n\n[OBSWebSocket]\nServerPort=4466\n');
  });

  it('a JSON file changed since: dotted keys go back to their old values or away', () => {
    const dir = temp();
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ obs: { url: 'ws://127.0.0.1:4455' } }));
    const journal = fresh();
    writeJournaled(journal, config, 'daemon', JSON.stringify({ obs: { url: 'ws://127.0.0.1:4460', password: 'pw' } }), [
      { format: 'json', key: 'obs.url', before: 'ws://127.0.0.1:4455' },
      { format: 'json', key: 'obs.password', before: null },
    ], 0o600);
    writeFileSync(config, JSON.stringify({ obs: { url: 'ws://127.0.0.1:4460', password: 'pw' }, output: { fps: 30 } })); // the panel saved since
    undoJournal(journal);
    expect(JSON.parse(readFileSync(config, 'utf8'))).toEqual({ obs: { url: 'ws://127.0.0.1:4455' }, output: { fps: 30 } });
  });

  it('undoes an action (a module setup loaded) with its command, once, and says when the command fails', () => {
    const journal = fresh();
    recordAction(journal, { what: 'loaded the v4l2loopback module', undo: ['modprobe', '-r', 'v4l2loopback'] });
    recordAction(journal, { what: 'loaded the v4l2loopback module', undo: ['modprobe', '-r', 'v4l2loopback'] }); // a second run
    const ran: string[][] = [];
    expect(undoJournal(journal, (command) => { ran.push(command); return 0; })).toEqual(['undid: loaded the v4l2loopback module (modprobe -r v4l2loopback)']);
    expect(ran).toEqual([['modprobe', '-r', 'v4l2loopback']]);
    recordAction(journal, { what: 'loaded the v4l2loopback module', undo: ['modprobe', '-r', 'v4l2loopback'] });
    expect(undoJournal(journal, () => 1)[0]).toBe('could not undo: loaded the v4l2loopback module: modprobe -r v4l2loopback exited 1; run it by hand');
  });

  it('a journal that cannot be read is refused with its path (setup cannot guess what it changed)', () => {
    const dir = temp();
    mkdirSync(join(dir, 'c'));
    writeFileSync(join(dir, 'c/journal.json'), '{"version": 7}');
    expect(() => loadJournal(join(dir, 'c/journal.json'))).toThrow(/journal\.json: not a readable setup journal/);
  });
});
