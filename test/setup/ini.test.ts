/** OBS's ini files edited key by key: every other line stays where OBS put it. */
import { describe, expect, it } from 'vitest';
import { getIniValue, removeIniValue, setIniValue } from '../../daemon/setup/ini.js';

const OBS = '[General]\nFirstRun=true\n\n[BasicWindow]\nSysTrayEnabled=false\nPreviewEnabled=false\n\n[Basic]\nProfile=Me\n';

describe('OBS ini files', () => {
  it('reads a key of one section only, values with = and spaces as they are', () => {
    expect(getIniValue(OBS, 'BasicWindow', 'PreviewEnabled')).toBe('false');
    expect(getIniValue(OBS, 'General', 'PreviewEnabled')).toBeNull();
    expect(getIniValue('[A]\nKey=a=b c\n', 'A', 'Key')).toBe('a=b c');
    expect(getIniValue('[A]\r\nKey=1\r\n', 'A', 'Key')).toBe('1');
  });

  it('replaces a value in place, adds a key at its section\'s end (before the blank separator), and a section at the file\'s end', () => {
    expect(setIniValue(OBS, 'BasicWindow', 'PreviewEnabled', 'true')).toBe(OBS.replace('PreviewEnabled=false', 'PreviewEnabled=true'));
    expect(setIniValue(OBS, 'BasicWindow', 'ExtraBrowserDocks', '[]')).toBe(OBS.replace('PreviewEnabled=false\n', 'PreviewEnabled=false\nExtraBrowserDocks=[]\n'));
    expect(setIniValue(OBS, 'OBSWebSocket', 'ServerEnabled', 'true')).toBe(`${OBS}\n[OBSWebSocket]\nServerEnabled=true\n`);
    expect(setIniValue('', 'OBSWebSocket', 'ServerEnabled', 'true')).toBe('[OBSWebSocket]\nServerEnabled=true\n');
  });

  it('removes a key, and a section left empty, so set-then-remove gives the file back', () => {
    expect(removeIniValue(setIniValue(OBS, 'BasicWindow', 'ExtraBrowserDocks', '[]'), 'BasicWindow', 'ExtraBrowserDocks')).toBe(OBS);
    expect(removeIniValue(setIniValue(OBS, 'OBSWebSocket', 'ServerEnabled', 'true'), 'OBSWebSocket', 'ServerEnabled')).toBe(OBS);
    expect(removeIniValue(OBS, 'Basic', 'Missing')).toBe(OBS);
  });
});
