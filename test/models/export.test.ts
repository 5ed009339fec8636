/**
 * `personalive pack export` on a stand-in upstream checkout (test/fixtures/standin-upstream:
 * tiny modules with upstream's interfaces) and random weights in upstream's layout: the
 * exporter's own code (static dims, manifest from ONNX Runtime's view, external data and
 * its hashes, fp16, resuming, failures named for the failure), then verify and animate.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportPack, exporterRoot, type ExportEvent, type ExportOptions } from '../../models/exporter.js';
import { verifyPack } from '../../models/pack.js';
import { readOnnxDeclaration } from '../../models/onnx/declaration.js';
import { openGraph } from '../../daemon/ort/onnx-runtime.js';
import { PersonaLiveError } from '../../daemon/errors.js';
import { main } from '../../daemon/cli/main.js';
import { demoDataDir, mountSmallDisk, requireBinary, requirePythonWithTorch } from '../helpers/system.js';
import { useTempDirs } from '../helpers/temp-dirs.js';
import { tmpdir } from 'node:os';

const { python, skip } = requirePythonWithTorch();
const ffmpeg = requireBinary('ffmpeg');
const demo = demoDataDir();
const STANDIN = new URL('../fixtures/standin-upstream', import.meta.url).pathname;
const tempDir = useTempDirs('personalive-export-');

let shared: string;
let weights: string;
/** The fp32 pack of the first test, kept for comparing the fp16 export's numbers with. */
let fp32Pack: string | undefined;

function options(out: string, extra: Partial<ExportOptions> = {}): ExportOptions {
  return { upstream: STANDIN, weights, out, resolution: 64, dtype: 'fp32', python: python!, ...extra };
}

async function exportCollecting(opts: ExportOptions): Promise<{ events: ExportEvent[]; result?: Awaited<ReturnType<typeof exportPack>>; error?: PersonaLiveError }> {
  const events: ExportEvent[] = [];
  try {
    const result = await exportPack(opts, (e) => events.push(e));
    return { events, result };
  } catch (error) {
    return { events, error: error as PersonaLiveError };
  }
}

describe.skipIf(skip)('pack export on upstream\'s interfaces (stand-in checkout, random weights)', () => {
  beforeAll(() => {
    shared = mkdtempSync(join(tmpdir(), 'personalive-export-shared-'));
    weights = join(shared, 'weights');
    execFileSync(python!, ['-m', 'personalive_export.random_weights', '--upstream', STANDIN, '--out', weights, '--configs', join(STANDIN, 'weight-configs')], {
      env: { ...process.env, PYTHONPATH: exporterRoot() },
      stdio: 'pipe',
    });
  }, 120_000);

  afterAll(() => rmSync(shared, { recursive: true, force: true }));

  it('exports upstream\'s unet_work pack whose manifest is what ONNX Runtime reports, verifies it and animates with it', async () => {
    const out = join(tempDir(), 'pack');
    // A unet_work step decodes inside, so a separate decoder comes only when asked for (here: to
    // compare the fp16 export's numbers with).
    const components = ['image_encoder', 'vae_encoder', 'reference_unet', 'motion_extractor', 'motion_encoder', 'pose_guider', 'step', 'vae_decoder'] as const;
    const { events, result, error } = await exportCollecting(options(out, { components: [...components] }));
    expect(error).toBeUndefined();
    expect(events.filter((e) => e.event === 'done').map((e) => e.component)).toEqual(components);
    const manifest = result!.manifest;
    expect(manifest).toMatchObject({ schemaVersion: 2, precision: 'float32', resolution: 64, latentSize: 8, embeddingDim: 16, poseChannels: 8, clipSize: 224, extractorSize: 256, motionCropSize: 224, motionEmbedding: [32, 16] });
    expect(manifest.source).toMatchObject({ randomWeights: true, onnxOpset: 17 });
    expect(manifest.description).toContain('RANDOM weights');
    expect(manifest.components.step.kind).toBe('unet_work');
    expect(manifest.components.step.file).toBe('unet_work.onnx');
    // Upstream's motion extractor computes no exp; the contract lets it be absent.
    expect(manifest.components.motion_extractor.outputs.map((o) => o.name)).toEqual(['kp', 'pitch', 'yaw', 'roll', 't', 'scale']);
    expect(manifest.referenceStates.map((s) => [s.name, s.length, s.channels]).slice(0, 7)).toEqual([
      ['d00', 64, 8], ['d01', 64, 8], ['d10', 16, 16], ['d11', 16, 16], ['d20', 4, 32], ['d21', 4, 32], ['m', 1, 32],
    ]);
    // Every tensor in the manifest is the graph's, as ONNX Runtime opens it; outputs are fixed
    // where the contract fixes them (torch left them symbolic) and dynamic where it does not.
    for (const [name, spec] of Object.entries(manifest.components)) {
      const session = await openGraph(name, join(out, spec.file), 'cpu');
      expect(spec.inputs, name).toEqual(session.inputs);
      expect(spec.outputs, name).toEqual(session.outputs);
      await session.release();
    }
    const step = manifest.components.step;
    expect(step.outputs.find((o) => o.name === 'latents')!.shape).toEqual([1, 4, 16, 8, 8]);
    expect(step.outputs.find((o) => o.name === 'pred_video')!.shape).toEqual([4, 64, 64, 3]);
    expect(step.inputs.find((i) => i.name === 'd00')!.shape).toEqual([1, 'len_d00', 8]);
    expect(manifest.components.motion_extractor.outputs[0].shape).toEqual(['batch', 63]);
    expect(manifest.components.pose_guider.outputs[0].shape).toEqual([1, 8, 'frames', 8, 8]);
    // No work folder, no temporary folder left; a second verify agrees.
    expect(readdirSync(join(out, '..'))).toEqual(['pack']);
    expect((await verifyPack(out)).components).toHaveLength(8);
    fp32Pack = join(shared, 'fp32-pack');
    cpSync(out, fp32Pack, { recursive: true });
    if (!ffmpeg.skip && !demo.skip) {
      let stdout = '';
      const code = await main(['animate', '--pack', out, '--reference', join(demo.dir, 'reference.png'), '--driving', join(demo.dir, 'driving.mp4'), '--max-frames', '8', '--out', join(tempDir(), 'fused.mp4'), '--json'], {
        stdout: (t) => (stdout += t), stderr: () => {}, stderrIsTty: false,
      });
      expect(code, stdout).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ frames: 8, generator: 'personalive', decoder: 'vae' }); // unet_work has the full VAE inside
    }
  }, 180_000);

  it.skipIf(ffmpeg.skip || demo.skip)('an fp16 denoiser pack with TAESD: float16 graphs, decoders as a runtime switch, animate runs it', async () => {
    const out = join(tempDir(), 'fp16');
    const { result, error } = await exportCollecting(options(out, { dtype: 'fp16', step: 'denoiser', taesd: join(weights, 'taesd') }));
    expect(error).toBeUndefined();
    const m = result!.manifest;
    expect(m.precision).toBe('float16');
    expect(m.components.step).toMatchObject({ kind: 'denoiser', file: 'denoiser.onnx' });
    expect(m.components.step.inputs.find((i) => i.name === 'sample')!.dtype).toBe('float16');
    expect(m.components.tiny_decoder).toMatchObject({ latentMultiplier: 1, outputRange: 'minus1to1' });
    expect(m.components.vae_decoder!.latentMultiplier).toBeCloseTo(1 / 0.18215, 6);
    // The float16 graphs compute what the float32 ones do, to float16's precision.
    expect(fp32Pack, 'the fp32 pack of the first test').toBeDefined();
    {
      const latents = { data: Float32Array.from({ length: 2 * 4 * 8 * 8 }, (_, i) => Math.sin(i * 0.37)), dims: [2, 4, 8, 8] };
      const pose = { data: Float32Array.from({ length: 3 * 4 * 64 * 64 }, (_, i) => (i % 97) / 97), dims: [1, 3, 4, 64, 64] };
      for (const [component, feeds] of [['vae_decoder', { latents }], ['pose_guider', { pose }]] as const) {
        const [full, half] = await Promise.all([fp32Pack!, out].map((dir) => openGraph(component, join(dir, `${component}.onnx`), 'cpu')));
        const [a, b] = await Promise.all([full.run(feeds), half.run(feeds)]);
        const x = Object.values(a)[0].data as Float32Array;
        const y = Object.values(b)[0].data as Float32Array;
        const scale = Math.max(...x.map(Math.abs));
        const worst = Math.max(...x.map((v, i) => Math.abs(v - y[i])));
        expect(worst / scale, component).toBeLessThan(0.01);
        await Promise.all([full.release(), half.release()]);
      }
      // A feed marked constant is converted to float16 once: writing its array afterwards
      // (which the contract forbids) shows the cached form is what the second run used.
      const half = await openGraph('pose_guider', join(out, 'pose_guider.onnx'), 'cpu');
      const data = Float32Array.from(pose.data);
      const first = (await half.run({ pose: { data, dims: pose.dims, constant: true } })).pose_cond_fea.data as Float32Array;
      data.fill(0.5);
      const cached = (await half.run({ pose: { data, dims: pose.dims, constant: true } })).pose_cond_fea.data as Float32Array;
      const fresh = (await half.run({ pose: { data, dims: pose.dims } })).pose_cond_fea.data as Float32Array;
      expect(Buffer.compare(Buffer.from(cached.buffer), Buffer.from(first.buffer))).toBe(0);
      expect(Buffer.compare(Buffer.from(fresh.buffer), Buffer.from(first.buffer))).not.toBe(0);
      await half.release();
    }
    for (const decoder of ['tiny', 'vae']) {
      const movie = join(tempDir(), `${decoder}.mp4`);
      let stdout = '';
      const code = await main(['animate', '--pack', out, '--decoder', decoder, '--reference', join(demo.dir, 'reference.png'), '--driving', join(demo.dir, 'driving.mp4'), '--max-frames', '8', '--out', movie, '--json'], {
        stdout: (t) => (stdout += t), stderr: () => {}, stderrIsTty: false,
      });
      expect(code, stdout).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ frames: 8, generator: 'personalive', decoder });
    }
  }, 180_000);

  it('big weights go to one external data file per component, each hashed in the manifest; a data file changed after export is named by verify', async () => {
    const out = join(tempDir(), 'external');
    const { result, error } = await exportCollecting(options(out, { externalDataThreshold: 0 }));
    expect(error).toBeUndefined();
    const step = result!.manifest.components.step;
    expect(step.data).toHaveLength(1);
    expect(step.data![0]).toMatchObject({ file: 'unet_work.onnx.data' });
    expect(readOnnxDeclaration(readFileSync(join(out, step.file))).externalDataFiles).toEqual(['unet_work.onnx.data']);
    const dataPath = join(out, step.data![0].file);
    expect(readFileSync(dataPath).length).toBe(step.data![0].bytes);

    const changed = join(tempDir(), 'changed');
    cpSync(out, changed, { recursive: true });
    const bytes = readFileSync(join(changed, step.data![0].file));
    bytes[0] ^= 0x01; // a weight changed: the graph still loads, only the hash can tell
    writeFileSync(join(changed, step.data![0].file), bytes);
    await expect(verifyPack(changed)).rejects.toMatchObject({ code: 'PACK_CHECKSUM_MISMATCH', message: expect.stringContaining(`${join(changed, 'unet_work.onnx.data')}: sha256 is`) });

    const unlisted = join(tempDir(), 'unlisted');
    cpSync(out, unlisted, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(unlisted, 'manifest.json'), 'utf8'));
    delete manifest.components.step.data;
    writeFileSync(join(unlisted, 'manifest.json'), JSON.stringify(manifest));
    await expect(verifyPack(unlisted)).rejects.toMatchObject({ code: 'PACK_GRAPH_MISMATCH', message: expect.stringContaining('which components.step.data does not list') });
  }, 180_000);

  it('resumes: an export of some components leaves them in the work folder and says what is missing; the next run keeps them and finishes', async () => {
    const dir = tempDir();
    const out = join(dir, 'resumed');
    const first = await exportCollecting(options(out, { components: ['image_encoder', 'pose_guider'] }));
    expect(first.error).toMatchObject({ code: 'EXPORT_INCOMPLETE', message: expect.stringContaining('vae_encoder, reference_unet, motion_extractor, motion_encoder, step') });
    expect(existsSync(out)).toBe(false);
    const second = await exportCollecting(options(out));
    expect(second.error).toBeUndefined();
    expect(second.events.filter((e) => e.event === 'skipped').map((e) => e.component)).toEqual(['image_encoder', 'pose_guider']);
    expect(second.events.filter((e) => e.event === 'done').map((e) => e.component)).not.toContain('image_encoder');
    expect(readdirSync(dir)).toEqual(['resumed']);
  }, 180_000);

  it('an interrupted export (Ctrl+C) keeps what finished, and the same command resumes from there', async () => {
    const out = join(tempDir(), 'interrupted');
    const abort = new AbortController();
    const events: ExportEvent[] = [];
    const interrupted = exportPack({ ...options(out), signal: abort.signal }, (e) => {
      events.push(e);
      if (e.event === 'done' && e.component === 'reference_unet') abort.abort();
    });
    await expect(interrupted).rejects.toMatchObject({ code: 'EXPORT_FAILED', message: expect.stringContaining('run the same command again to resume') });
    const resumed = await exportCollecting(options(out));
    expect(resumed.error).toBeUndefined();
    expect(resumed.events.filter((e) => e.event === 'skipped').map((e) => e.component)).toEqual(expect.arrayContaining(['image_encoder', 'vae_encoder', 'reference_unet']));
  }, 240_000);

  describe('failures, named for the failure', () => {
    it('a missing weights file: EXPORT_WEIGHTS naming each file, nothing written', async () => {
      const partial = join(tempDir(), 'weights');
      cpSync(weights, partial, { recursive: true });
      rmSync(join(partial, 'personalive', 'pose_guider.pth'));
      rmSync(join(partial, 'personalive', 'motion_encoder.pth'));
      const out = join(tempDir(), 'never');
      const { error } = await exportCollecting({ ...options(out), weights: partial });
      expect(error).toMatchObject({ code: 'EXPORT_WEIGHTS', exitCode: 2 });
      expect(error!.message).toContain('missing personalive/motion_encoder.pth, personalive/pose_guider.pth');
      expect(existsSync(out)).toBe(false);
    }, 60_000);

    it('a folder that is not a PersonaLive checkout: EXPORT_UPSTREAM naming what it lacks', async () => {
      const notUpstream = tempDir();
      mkdirSync(join(notUpstream, 'src'));
      const { error } = await exportCollecting({ ...options(join(tempDir(), 'never')), upstream: notUpstream });
      expect(error).toMatchObject({ code: 'EXPORT_UPSTREAM' });
      expect(error!.message).toContain('is not a PersonaLive checkout: it lacks src/models/unet_3d_explicit_reference.py');
    }, 60_000);

    it('torch too old: EXPORT_ENVIRONMENT naming the version and what is needed', async () => {
      const fake = tempDir();
      mkdirSync(join(fake, 'torch'));
      writeFileSync(join(fake, 'torch', '__init__.py'), '__version__ = "1.12.1+cpu"\n');
      const before = process.env.PYTHONPATH;
      process.env.PYTHONPATH = fake; // found before the real torch
      try {
        const { error } = await exportCollecting(options(join(tempDir(), 'never')));
        expect(error).toMatchObject({ code: 'EXPORT_ENVIRONMENT' });
        expect(error!.message).toContain('torch 1.12.1+cpu is too old: the exporter needs torch >= 1.13');
      } finally {
        if (before === undefined) delete process.env.PYTHONPATH;
        else process.env.PYTHONPATH = before;
      }
    }, 60_000);

    it('no Python with torch: EXPORT_ENVIRONMENT saying what was tried and what to do', async () => {
      const { error } = await exportCollecting({ ...options(join(tempDir(), 'never')), python: '/nonexistent/python3' });
      expect(error).toMatchObject({ code: 'EXPORT_ENVIRONMENT', message: expect.stringContaining('/nonexistent/python3: not found') });
      expect(error!.message).toContain('--python PATH');
    });

    it('an existing --out is never written over: OUTPUT_NOT_WRITABLE', async () => {
      const out = tempDir();
      const { error } = await exportCollecting(options(out));
      expect(error).toMatchObject({ code: 'OUTPUT_NOT_WRITABLE', message: expect.stringContaining('already exists') });
    });

    it('the disk fills up during the export (a 640 KB tmpfs): EXPORT_DISK_FULL naming the component; no pack, finished components kept', async (context) => {
      const mountPoint = tempDir();
      const unmount = mountSmallDisk(mountPoint, '640k');
    if (!unmount) return context.skip();
    try {
        const out = join(mountPoint, 'pack');
        const { error } = await exportCollecting(options(out));
        expect(error).toMatchObject({ code: 'EXPORT_DISK_FULL', exitCode: 1 });
        expect(error!.message).toMatch(/no space left on the disk of .* while writing (\w+): free some space and run the same command again/);
        expect(existsSync(out)).toBe(false);
        const work = readdirSync(join(mountPoint, '.pack.export-work'));
        expect(work).toContain('image_encoder.json'); // what finished before the disk filled stays for the resumed run
        expect(work.filter((f) => f.endsWith('.partial'))).toEqual([]);
      } finally {
        unmount();
      }
    }, 120_000);

    it('through the CLI with --json: progress on stderr, the result or a JSON error object on stdout', async () => {
      const out = join(tempDir(), 'cli');
      let stdout = '';
      let stderr = '';
      const io = { stdout: (t: string) => (stdout += `${t}\n`), stderr: (t: string) => (stderr += `${t}\n`), stderrIsTty: false };
      const args = ['pack', 'export', '--upstream', STANDIN, '--weights', weights, '--out', out, '--resolution', '64', '--dtype', 'fp32', '--python', python!, '--json'];
      expect(await main(args, io)).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ ok: true, out, report: { precision: 'float32', stepKind: 'unet_work' } });
      expect(stderr).toMatch(/export: reference_unet done in [\d.]+ s \(reference_unet\.onnx, peak memory so far [\d.]+ GB\)/);
      expect(stderr).toContain('pack verified, moved into place');
      stdout = '';
      expect(await main(args, io)).toBe(2);
      expect(JSON.parse(stdout)).toMatchObject({ ok: false, error: { code: 'OUTPUT_NOT_WRITABLE' } });
      stdout = '';
      expect(await main(['pack', 'export', '--upstream', STANDIN, '--weights', weights, '--out', join(tempDir(), 'x'), '--dtype', 'fp8', '--json'], io)).toBe(2);
      expect(JSON.parse(stdout).error).toMatchObject({ code: 'USAGE', message: '--dtype must be fp16 or fp32, got "fp8"' });
    }, 120_000);
  });
});
