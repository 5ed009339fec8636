/**
 * The tfjs-to-ONNX converter: the face tracker's three real models give the same outputs in
 * ONNX Runtime as in TensorFlow.js (its CPU backend, the reference implementation of tfjs
 * graph semantics); malformed graphs fail naming the model and node.
 */
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS, defaultModelDir, readGraphModel } from '../../../../daemon/generators/meshwarp/tracking/model-files.js';
import { convertTfjsGraph, decodeWeights, type TfjsGraphModel } from '../../../../daemon/generators/meshwarp/tracking/tfjs-to-onnx.js';

const INPUT_SIDE: Record<(typeof MODELS)[number], number> = { blazeface: 256, facemesh: 192, iris: 64 };

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => tf.disposeVariables());

function seededInput(n: number): Float32Array {
  let s = 7;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) / 2 ** 24);
}

describe('tfjs graph -> ONNX', () => {
  it.each(MODELS)('%s gives the same outputs in ONNX Runtime as in tfjs (two images)', async (name) => {
    const { graph, shards } = readGraphModel(defaultModelDir(), name);
    const converted = convertTfjsGraph(name, graph, shards);
    const side = INPUT_SIDE[name];
    const input = seededInput(2 * side * side * 3);

    const session = await ort.InferenceSession.create(converted.bytes, { intraOpNumThreads: 1 });
    // Blazeface's graph has a fixed batch of 1: its two images are run and compared one by one.
    const perImage = side * side * 3;
    const runs = name === 'blazeface' ? [0, 1].map((b) => input.slice(b * perImage, (b + 1) * perImage)) : [input];
    const results = [];
    for (const data of runs) results.push(await session.run({ [converted.input]: new ort.Tensor('float32', data, [data.length / perImage, side, side, 3]) }));
    await session.release();

    const weightData = shards.reduce((all, s) => Uint8Array.from([...all, ...s]), new Uint8Array(0));
    const model = await tf.loadGraphModel(
      tf.io.fromMemory({ modelTopology: graph.modelTopology as never, weightSpecs: graph.weightsManifest.flatMap((g) => g.weights) as never, weightData: weightData.buffer }),
    );
    for (let r = 0; r < runs.length; r++) {
      const got = results[r];
      const x = tf.tensor4d(runs[r], [runs[r].length / perImage, side, side, 3]);
      const outputs = model.execute(x) as tf.Tensor | tf.Tensor[];
      const list = Array.isArray(outputs) ? outputs : [outputs];
      const names = model.outputs.map((o) => o.name.split(':')[0]);
      expect(names.every((n) => converted.outputs.includes(n))).toBe(true);
      for (let k = 0; k < list.length; k++) {
        const expected = list[k].dataSync();
        const actual = got[names[k]].data as Float32Array;
        expect(got[names[k]].dims).toEqual(list[k].shape);
        let worst = 0;
        for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
        expect(worst, `${name} output ${names[k]}`).toBeLessThan(1e-3);
      }
      tf.dispose([x, ...list]);
    }
    model.dispose();
  }, 60_000);

  const tiny = (node: TfjsGraphModel['modelTopology']['node'], weights: TfjsGraphModel['weightsManifest'][number]['weights'] = []): TfjsGraphModel => ({
    modelTopology: { node },
    weightsManifest: [{ paths: ['w.bin'], weights }],
  });
  const placeholder = { name: 'x', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: -1 }, { size: 4 }, { size: 4 }, { size: 3 }] } } } };

  it('decodes float16-quantised and uint8-quantised weights', () => {
    const bytes = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 2, 10]); // f16 1.0, -2.0; u8 2, 10
    const constants = decodeWeights('tiny', tiny([], [
      { name: 'h', shape: [2], dtype: 'float32', quantization: { dtype: 'float16' } },
      { name: 'q', shape: [2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } },
    ]), [bytes]);
    expect([...constants.get('h')!.values]).toEqual([1, -2]);
    expect([...constants.get('q')!.values]).toEqual([0, 4]);
  });

  it('names the model and node of an unsupported operator, and weights that run past the shards', () => {
    expect(() => convertTfjsGraph('tiny', tiny([placeholder, { name: 'odd', op: 'Softmax', input: ['x'] }]), [new Uint8Array(0)])).toThrow(
      'tiny: node "odd" (Softmax): operator not supported by the tfjs-to-onnx converter',
    );
    expect(() => decodeWeights('tiny', tiny([], [{ name: 'w', shape: [4], dtype: 'float32' }]), [new Uint8Array(8)])).toThrow(/"w" run past the end of the shards \(8 bytes\)/);
    expect(() => convertTfjsGraph('tiny', tiny([placeholder]), [new Uint8Array(0)])).toThrow('tiny: the graph has no Identity outputs');
  });
});
