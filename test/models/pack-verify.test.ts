import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestPack } from '../../models/test-pack.js';
import { graphTensorProblems, loadPack, sha256File, verifyPack } from '../../models/pack.js';
import { readOnnxDeclaration } from '../../models/onnx/declaration.js';
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
    const e = await expectError(verifyPack(dir), 'PACK_MANIFEST_INVALID', 'field "schemaVersion"', 'expected 1 or 2', 'got 7');
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
    // The flipped byte also breaks the graph, which verify says as well.
    const e = await expectError(verifyPack(dir), 'PACK_INVALID', file, actual, manifest.components.motion_encoder.sha256, 'components.motion_encoder.sha256', 'changed after the pack was made');
    expect((e.details.problems as { code: string }[]).map((p) => p.code)).toEqual(['PACK_CHECKSUM_MISMATCH', 'PACK_GRAPH_INVALID']);
  });

  it('graph with a wrong input name: PACK_GRAPH_MISMATCH naming the tensor', async () => {
    const dir = await copyPack(good, 'wrong-name');
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    // Put the VAE encoder's graph where the image encoder belongs (checksum updated, so only the graph is wrong).
    const target = join(dir, manifest.components.image_encoder.file);
    await copyFile(join(dir, manifest.components.vae_encoder.file), target);
    const sha = await sha256File(target);
    await editManifest(dir, (m) => (m.components.image_encoder.sha256 = sha));
    // Every problem of the swapped graph at once: both names missing, both extra tensors.
    const e = await expectError(verifyPack(dir), 'PACK_INVALID', target, 'components.image_encoder.inputs[0]', 'no tensor named "pixel_values"', 'no tensor named "image_embeds"');
    expect((e.details.problems as { code: string }[]).map((p) => p.code)).toEqual(Array(4).fill('PACK_GRAPH_MISMATCH'));
  });

  it('graph with a wrong shape: PACK_GRAPH_MISMATCH naming the dimension and both shapes', async () => {
    const dir = await copyPack(good, 'wrong-shape');
    const other = JSON.parse(await readFile(join(good128, 'manifest.json'), 'utf8'));
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    const target = join(dir, manifest.components.vae_encoder.file);
    await copyFile(join(good128, other.components.vae_encoder.file), target);
    const sha = await sha256File(target);
    await editManifest(dir, (m) => (m.components.vae_encoder.sha256 = sha));
    await expectError(verifyPack(dir), 'PACK_INVALID', target, '"image"', '[1,3,128,128]', 'expected [1,3,64,64]', '"latent_mean"', 'expected [1,4,8,8]');
  });

  it('several broken files: one error listing every problem, not just the first', async () => {
    const dir = await copyPack(good, 'several');
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    for (const name of ['motion_encoder', 'pose_guider']) {
      const file = join(dir, manifest.components[name].file);
      const bytes = await readFile(file);
      bytes[bytes.length - 1] ^= 0xff;
      await writeFile(file, bytes);
    }
    await editManifest(dir, (m) => (m.components.step.outputs[0].shape[1] = 5));
    const e = await expectError(verifyPack(dir), 'PACK_INVALID', '5 problems', 'components.motion_encoder.sha256', 'components.pose_guider.sha256', 'components.step.outputs[0] "noise_pred"');
    expect((e.details.problems as { code: string }[]).map((p) => p.code)).toEqual(['PACK_CHECKSUM_MISMATCH', 'PACK_CHECKSUM_MISMATCH', 'PACK_GRAPH_INVALID', 'PACK_GRAPH_INVALID', 'PACK_GRAPH_MISMATCH']);
  });

  it('a schema-1 pack (made before external data) still verifies; a newer schema says to update personalive', async () => {
    const dir = await copyPack(good, 'schema1');
    await editManifest(dir, (m) => {
      m.schemaVersion = 1;
      delete m.precision;
    });
    expect((await verifyPack(dir)).precision).toBe('float32');
    await editManifest(dir, (m) => (m.schemaVersion = 3));
    await expectError(verifyPack(dir), 'PACK_MANIFEST_INVALID', 'field "schemaVersion"', 'made by a newer personalive: update personalive', 'got 3');
  });

  it('a data file named by the manifest but missing: PACK_FILE_MISSING naming it and its field', async () => {
    const dir = await copyPack(good, 'missing-data');
    await editManifest(dir, (m) => (m.components.step.data = [{ file: 'denoiser.onnx.data', sha256: '0'.repeat(64), bytes: 10 }]));
    await expectError(verifyPack(dir), 'PACK_FILE_MISSING', join(dir, 'denoiser.onnx.data'), 'components.step.data[0].file');
  });

  it('unknown device: DEVICE_UNKNOWN listing the valid ones', () => {
    expect(() => resolveDevice('gpu')).toThrowError(/unknown device "gpu": expected one of cpu, cuda, tensorrt, webgpu/);
  });

  it('unavailable device: DEVICE_UNAVAILABLE listing the available devices (no GPU provider here)', async () => {
    await expectError(verifyPack(good, 'cuda'), 'DEVICE_UNAVAILABLE', 'device "cuda" is not available', 'Available devices: cpu');
  });

  it('webgpu without an adapter: DEVICE_UNAVAILABLE with ONNX Runtime\'s own words, not a silent CPU run', async () => {
    const { probeWebGpu } = await import('../../daemon/ort/onnx-runtime.js');
    if ((await probeWebGpu()).available) return; // a machine with a WebGPU adapter: nothing to refuse
    await expectError(verifyPack(good, 'webgpu'), 'DEVICE_UNAVAILABLE', 'No supported adapters');
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

  it('accepts a motion extractor without exp (upstream\'s has none), not one without kp', async () => {
    const manifest = JSON.parse(await readFile(join(good, 'manifest.json'), 'utf8'));
    const outputs = manifest.components.motion_extractor.outputs;
    manifest.components.motion_extractor.outputs = outputs.filter((o: { name: string }) => o.name !== 'exp');
    expect(() => validateManifest(manifest, 'm.json')).not.toThrow();
    manifest.components.motion_extractor.outputs = outputs.filter((o: { name: string }) => o.name !== 'kp');
    expect(() => validateManifest(manifest, 'm.json')).toThrowError(/components\.motion_extractor\.outputs.*\(exp optional\) \(missing kp\)/);
  });

  it('names every bad component, not only the first', async () => {
    const manifest = JSON.parse(await readFile(join(good, 'manifest.json'), 'utf8'));
    manifest.components.vae_encoder.sha256 = 'nope';
    manifest.components.pose_guider.file = '/abs.onnx';
    manifest.components.step.data = [{ file: 'x.data', sha256: 'A'.repeat(64), bytes: 1 }];
    try {
      validateManifest(manifest, 'm.json');
      expect.unreachable();
    } catch (error) {
      const e = error as PersonaLiveError;
      expect(e.message).toMatch(/^m\.json: 3 problems: /);
      expect((e.details.problems as { field: string }[]).map((p) => p.field)).toEqual(['components.vae_encoder.sha256', 'components.pose_guider.file', 'components.step.data[0].sha256']);
    }
  });

  it('rejects a missing reference-state output in a component', async () => {
    const manifest = JSON.parse(await readFile(join(good, 'manifest.json'), 'utf8'));
    manifest.components.reference_unet.outputs = manifest.components.reference_unet.outputs.filter((o: { name: string }) => o.name !== 'm');
    expect(() => validateManifest(manifest, 'm.json')).toThrowError(/components\.reference_unet\.outputs.*missing m\b/);
  });
});

describe('what the .onnx file declares beside what ONNX Runtime reports', () => {
  it('reads a graph\'s declared inputs and outputs without loading it', async () => {
    const manifest = JSON.parse(await readFile(join(good, 'manifest.json'), 'utf8'));
    const declaration = readOnnxDeclaration(await readFile(join(good, manifest.components.step.file)));
    expect(declaration.inputs.map((t) => t.name)).toEqual(manifest.components.step.inputs.map((t: { name: string }) => t.name));
    expect(declaration.inputs.find((t) => t.name === 'd00')).toEqual({ name: 'd00', dtype: 'float32', shape: [1, 'len_d00', 8] });
    expect(declaration.externalDataFiles).toEqual([]);
  });

  it('quotes both views when they differ (ONNX Runtime infers some dims at load)', () => {
    const declared = [{ name: 'latents', dtype: 'float32' as const, shape: [1, 4, 16, 8, 8] }];
    const problems = graphTensorProblems('step.onnx', 'components.step.outputs', declared, [{ name: 'latents', dtype: 'float32', shape: [1, 4, 'Slice_12_o0', 8, 8] }], [
      { name: 'latents', dtype: 'float32', shape: [1, 4, 'Slice_12_o0', '?', 8] },
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0].message).toBe(
      'step.onnx: components.step.outputs[0] "latents": shape is [1,4,Slice_12_o0,8,8], expected [1,4,16,8,8] (dim 2) (the file declares [1,4,Slice_12_o0,?,8], ONNX Runtime reports [1,4,Slice_12_o0,8,8])',
    );
  });

  it('a dynamic axis in the manifest accepts any symbolic name in the graph, not a fixed size', () => {
    const declared = [{ name: 'd00', dtype: 'float32' as const, shape: [1, 'len_d00', 320] }];
    expect(graphTensorProblems('s.onnx', 'f', declared, [{ name: 'd00', dtype: 'float32', shape: [1, 'len_4096', 320] }])).toEqual([]);
    expect(graphTensorProblems('s.onnx', 'f', declared, [{ name: 'd00', dtype: 'float32', shape: [1, 4096, 320] }])[0].message).toContain('the manifest says dynamic, the graph has a fixed size');
  });
});
