/**
 * The ONNX Runtime adapter: float16 graphs are converted at the boundary, provider
 * availability is told truthfully, and load failures name the file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../models/onnx/builder.js';
import { probedDeviceAvailability, openGraph } from '../../daemon/ort/onnx-runtime.js';
import { PersonaLiveError } from '../../daemon/errors.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'personalive-ort-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('onnx runtime adapter', () => {
  it('runs a float16 graph from float32 tensors (converted both ways at the boundary)', async () => {
    const g = new GraphBuilder('half');
    const x = g.input('x', 'float16', [2, 'n']);
    const y = g.op('Add', [x, x]);
    g.output(y, 'y', 'float16', [2, 'n']);
    const file = join(root, 'half.onnx');
    await writeFile(file, g.toBytes());
    const session = await openGraph('half', file, 'cpu');
    try {
      expect(session.inputs).toEqual([{ name: 'x', dtype: 'float16', shape: [2, 'n'] }]);
      expect(session.providers).toEqual(['cpu']);
      const out = await session.run({ x: { data: new Float32Array([0.5, -1.25, 3, 1000, 0.1, 65504 / 4]), dims: [2, 3] } });
      expect(out.y.dims).toEqual([2, 3]);
      expect(out.y.data).toBeInstanceOf(Float32Array);
      // 0.1 is not exact in float16: 0.0999755859375 doubled.
      expect(Array.from(out.y.data)).toEqual([1, -2.5, 6, 2000, 0.199951171875, 32752]);
    } finally {
      await session.release();
    }
  });

  it('tells which devices are available, with the reason for each that is not', async () => {
    const list = await probedDeviceAvailability();
    expect(list.map((d) => d.device)).toEqual(['cpu', 'cuda', 'tensorrt', 'webgpu']);
    expect(list[0]).toEqual({ device: 'cpu', available: true });
    // WebGPU is asked for an adapter; without one it says ONNX Runtime's own words.
    const webgpu = list[3];
    if (!webgpu.available) expect(webgpu.reason).toMatch(/Failed to get a WebGPU adapter: No supported adapters|no webgpu backend/);
    for (const d of list.slice(1, 3)) {
      // This machine has no GPU provider library and no NVIDIA driver: never claimed available.
      expect(d.available).toBe(false);
      expect(d.reason).toMatch(/provider library is not installed|no NVIDIA driver|no (cuda|tensorrt) backend/);
    }
  });

  it('a file that is not an ONNX graph: PACK_GRAPH_INVALID naming the file', async () => {
    const file = join(root, 'garbage.onnx');
    await writeFile(file, 'definitely not protobuf');
    const error = await openGraph('x', file, 'cpu').then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(PersonaLiveError);
    expect((error as PersonaLiveError).code).toBe('PACK_GRAPH_INVALID');
    expect((error as PersonaLiveError).message).toContain(file);
  });
});
