import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestPack } from '../../models/test-pack.js';
import { loadPack, sha256File, verifyPack } from '../../models/pack.js';
import { validateManifest } from '../../models/manifest.js';
import { resolveDevice } from '../../daemon/ort/onnx-runtime.js';
import { PersonaLiveError } from '../../daemon/errors.js';

let root: string;
let good: string;
let good128: string;

async function copyPack(from: string, name: string): Promise<string> {
  const to = join(root, name);
  await rm(to, { recursive: true, force: true });
  const { cp } = await import('node:fs/promises');
  await cp(from, to, { recursive: true });
  return to;
}

async function editManifest(dir: string, edit: (m: any) => void): Promise<void> {
  const path = join(dir, 'manifest.json');
  const manifest = JSON.parse(await readFile(path, 'utf8'));
  edit(manifest);
  await writeFile(path, JSON.stringify(manifest, null, 2));
}

async function expectError(promise: Promise<unknown>, code: string, ...fragments: string[]): Promise<PersonaLiveError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PersonaLiveError);
  const e = error as PersonaLiveError;
  expect(e.code).toBe(code);
  for (const fragment of fragments) expect(e.message).toContain(fragment);
  return e;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'personalive-verify-'));
  good = join(root, 'good');
  good128 = join(root, 'good128');
  await buildTestPack(good, { resolution: 64 });
  await buildTestPack(good128, { resolution: 128 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('pack verify', () => {
  it('accepts a generated test pack and reports every component with its providers', async () => {
    const report = await verifyPack(good, 'cpu');
    expect(report.components.map((c) => c.component)).toEqual([
      'image_encoder', 'vae_encoder', 'reference_unet', 'motion_extractor', 'motion_encoder', 'pose_guider', 'step', 'vae_decoder', 'tiny_decoder',
    ]);
    for (const c of report.components) expect(c.providers).toEqual(['cpu']);
    expect(report.decoders).toEqual(['vae', 'tiny']);
  });

  it('missing manifest: PACK_MANIFEST_MISSING naming the folder', async () => {
    await expectError(verifyPack(join(root, 'nowhere')), 'PACK_MANIFEST_MISSING', 'manifest.json', join(root, 'nowhere'));
  });

  it('manifest that is not JSON: PACK_MANIFEST_INVALID naming the file', async () => {
    const dir = await copyPack(good, 'not-json');
    await writeFile(join(dir, 'manifest.json'), '{ "format": ');
    await expectError(verifyPack(dir), 'PACK_MANIFEST_INVALID', join(dir, 'manifest.json'), 'not valid JSON');
  });

  it('wrong schema version: names the field and the expected value', async () => {
    const dir = await copyPack(good, 'schema');
    await editManifest(dir, (m) => (m.schemaVersion = 7));
    const e = await expectError(verifyPack(dir), 'PACK_MANIFEST_INVALID', 'field "schemaVersion"', 'expected 1', 'got 7');
    expect(e.details.field).toBe('schemaVersion');
  });

  it('bad step kind: names components.step.kind', async () => {
    const dir = await copyPack(good, 'kind');
    await editManifest(dir, (m) => (m.components.step.kind = 'magic'));
    await expectError(verifyPack(dir), 'PACK_MANIFEST_INVALID', 'components.step.kind', '"unet_work", "denoiser"', '"magic"');
  });

  it('missing pack file: PACK_FILE_MISSING naming the file and the manifest field', async () => {
    const dir = await copyPack(good, 'missing-file');
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    await rm(join(dir, manifest.components.pose_guider.file));
    const e = await expectError(verifyPack(dir), 'PACK_FILE_MISSING', manifest.components.pose_guider.file, 'components.pose_guider.file');
    expect(e.exitCode).toBe(2);
  });

  it('checksum mismatch: PACK_CHECKSUM_MISMATCH with both digests', async () => {
    const dir = await copyPack(good, 'checksum');
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    const file = join(dir, manifest.components.motion_encoder.file);
    const bytes = await readFile(file);
    bytes[bytes.length - 1] ^= 0xff;
    await writeFile(file, bytes);
    const actual = await sha256File(file);
    await expectError(verifyPack(dir), 'PACK_CHECKSUM_MISMATCH', file, actual, manifest.components.motion_encoder.sha256, 'components.motion_encoder.sha256');
  });

  it('graph with a wrong input name: PACK_GRAPH_MISMATCH naming the tensor', async () => {
    const dir = await copyPack(good, 'wrong-name');
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    // Put the VAE encoder's graph where the image encoder belongs (checksum updated, so only the graph is wrong).
    const target = join(dir, manifest.components.image_encoder.file);
    await copyFile(join(dir, manifest.components.vae_encoder.file), target);
    const sha = await sha256File(target);
    await editManifest(dir, (m) => (m.components.image_encoder.sha256 = sha));
    await expectError(verifyPack(dir), 'PACK_GRAPH_MISMATCH', target, 'components.image_encoder.inputs[0]', 'no tensor named "pixel_values"');
  });

  it('graph with a wrong shape: PACK_GRAPH_MISMATCH naming the dimension and both shapes', async () => {
    const dir = await copyPack(good, 'wrong-shape');
    const other = JSON.parse(await readFile(join(good128, 'manifest.json'), 'utf8'));
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    const target = join(dir, manifest.components.vae_encoder.file);
    await copyFile(join(good128, other.components.vae_encoder.file), target);
    const sha = await sha256File(target);
    await editManifest(dir, (m) => (m.components.vae_encoder.sha256 = sha));
    await expectError(verifyPack(dir), 'PACK_GRAPH_MISMATCH', target, '"image"', '[1,3,128,128]', 'expected [1,3,64,64]');
  });

  it('unknown device: DEVICE_UNKNOWN listing the valid ones', () => {
    expect(() => resolveDevice('gpu')).toThrowError(/unknown device "gpu": expected one of cpu, cuda, tensorrt/);
  });

  it('unavailable device: DEVICE_UNAVAILABLE listing the available devices (no GPU provider here)', async () => {
    await expectError(verifyPack(good, 'cuda'), 'DEVICE_UNAVAILABLE', 'device "cuda" is not available', 'Available devices: cpu');
  });

  it('loadPack resolves absolute paths of every component', async () => {
    const pack = await loadPack(good);
    expect(Object.keys(pack.files)).toContain('step');
    expect(pack.files.step!.startsWith(good)).toBe(true);
  });
});

describe('manifest validation', () => {
  it('rejects a non-object with the file name', () => {
    expect(() => validateManifest([], '/x/manifest.json')).toThrowError(/\/x\/manifest\.json: field "\(root\)": expected a JSON object/);
  });

  it('rejects a path that escapes the pack', async () => {
    const manifest = JSON.parse(await readFile(join(good, 'manifest.json'), 'utf8'));
    manifest.components.step.file = '../elsewhere/step.onnx';
    expect(() => validateManifest(manifest, 'm.json')).toThrowError(/components\.step\.file.*relative path inside the pack/);
  });

  it('rejects a denoiser pack without any decoder', async () => {
    const manifest = JSON.parse(await readFile(join(good, 'manifest.json'), 'utf8'));
    delete manifest.components.vae_decoder;
    delete manifest.components.tiny_decoder;
    expect(() => validateManifest(manifest, 'm.json')).toThrowError(/a decoder \(vae_decoder or tiny_decoder\)/);
  });

  it('rejects inconsistent latent size', async () => {
    const manifest = JSON.parse(await readFile(join(good, 'manifest.json'), 'utf8'));
    manifest.latentSize = 9;
    expect(() => validateManifest(manifest, 'm.json')).toThrowError(/field "latentSize": expected resolution \/ 8 = 8, got 9/);
  });

  it('rejects a missing reference-state output in a component', async () => {
    const manifest = JSON.parse(await readFile(join(good, 'manifest.json'), 'utf8'));
    manifest.components.reference_unet.outputs = manifest.components.reference_unet.outputs.filter((o: { name: string }) => o.name !== 'm');
    expect(() => validateManifest(manifest, 'm.json')).toThrowError(/components\.reference_unet\.outputs.*missing m\b/);
  });
});
