/** The gallery's face check: refuses a picture without a face by name; its tracker does not stay running when idle. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFaceCheck } from '../../../daemon/generators/meshwarp/face-check.js';
import { fitSquare, loadImageRgb } from '../../../daemon/media/image.js';
import { demoDataDir } from '../../helpers/system.js';

const demo = demoDataDir();

describe.skipIf(demo.skip)('createFaceCheck', () => {
  it('accepts a portrait, refuses a plain picture naming it, and stops its tracker when idle', async () => {
    const faces = createFaceCheck(100);
    try {
      const portrait = await fitSquare(await loadImageRgb(join(demo.dir, 'reference.png')), 256);
      await faces.require(portrait, 'reference.png');
      const plain = { data: new Uint8Array(256 * 256 * 3).fill(128), width: 256, height: 256 };
      await expect(faces.require(plain, 'Uploaded file "plain.png"')).rejects.toMatchObject({ code: 'NO_FACE', message: expect.stringContaining('Uploaded file "plain.png" shows no face') });
      expect(faces.running).toBe(true);
      await new Promise((r) => setTimeout(r, 400));
      expect(faces.running).toBe(false);
      await faces.require(portrait, 'reference.png'); // started again on demand
      expect(faces.running).toBe(true);
    } finally {
      await faces.close();
    }
    expect(faces.running).toBe(false);
  });
});
