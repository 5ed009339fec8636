/**
 * The meshwarp renderer: exact rasterisation (top-left rule), exact identity and integer
 * translation, fold handling, uncovered pixels, and the compiled kernel against the
 * TypeScript reference byte for byte. Under CI=true the addon must be built; elsewhere a
 * missing build skips the native comparisons.
 */
import Delaunator from 'delaunator';
import { describe, expect, it } from 'vitest';
import { PersonaLiveError } from '../../../daemon/errors.js';
import { buildWarpTopology, placeDepths, placeVertices } from '../../../daemon/generators/meshwarp/topology.js';
import { countCoverage, createMeshWarper, loadWarpAddon, MeshWarper, triangleSpans } from '../../../daemon/generators/meshwarp/warp.js';
import { moveFace, noiseImage, syntheticFace } from '../../fixtures/synthetic-face.js';

const { addon, error } = loadWarpAddon();
if (!addon && process.env.CI === 'true') throw new Error(`native warp kernel must be built under CI: ${error}`);

const W = 512, H = 512;

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296;
  };
}

function countDiff(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('rasteriser', () => {
  it('draws every pixel of a random triangulation exactly once, ties included', () => {
    // Vertices on a 0.5 px lattice put many pixel centres exactly on edges and vertices.
    const rand = lcg(3);
    const w = 97, h = 61;
    const pts: number[] = [0, 0, w, 0, w, h, 0, h];
    for (let i = 0; i < 300; i++) pts.push(Math.round(rand() * w * 2) / 2, Math.round(rand() * h * 2) / 2);
    for (let i = 0; i <= 8; i++) pts.push((i * w) / 8, 0, (i * w) / 8, h, 0, (i * h) / 8, w, (i * h) / 8);
    const d = new Delaunator(Float64Array.from(pts));
    const vertices = Float32Array.from(pts);
    const counts = new Uint32Array(w * h);
    countCoverage(vertices, d.triangles, w, h, counts);
    const wrong = counts.filter((c) => c !== 1).length;
    expect(wrong).toBe(0);
  });

  it('applies the top-left rule to a pixel centre on a shared edge', () => {
    // Two triangles sharing the vertical edge x = 2.5 through pixel centres (2.5, y + 0.5).
    const S = 256;
    const rowL = new Int32Array(8), rowR = new Int32Array(8), range = new Int32Array(2);
    // Left triangle (0,0) (2.5,0) (2.5,4), positively oriented: the shared edge is its right
    // edge -> centres on it excluded.
    triangleSpans(0, 0, 2.5 * S, 0, 2.5 * S, 4 * S, 8, 8, rowL, rowR, range);
    const left: number[] = [];
    for (let y = range[0]; y < range[1]; y++) left.push(rowR[y]);
    // Right triangle (2.5,0) (5,0) (2.5,4): the shared edge is its left edge -> included.
    triangleSpans(2.5 * S, 0, 5 * S, 0, 2.5 * S, 4 * S, 8, 8, rowL, rowR, range);
    const right: number[] = [];
    for (let y = range[0]; y < range[1]; y++) right.push(rowL[y]);
    expect(left).toEqual([1, 1, 1, 1]);
    expect(right).toEqual([2, 2, 2, 2]);
  });
});

describe('MeshWarper (TypeScript reference)', () => {
  const reference = noiseImage(W, H, 11);
  const face = syntheticFace();
  const topology = buildWarpTopology(face, W, H);
  const warper = new MeshWarper(reference, W, H, { implementation: 'typescript' });
  const out = new Uint8Array(W * H * 3);

  it('reproduces the reference byte for byte under the identity warp', () => {
    expect(warper.implementation).toBe('typescript');
    const drawn = warper.render(topology.referenceVertices, topology.referenceVertices, topology.triangles, out);
    expect(drawn).toBe(topology.triangles.length / 3);
    expect(countDiff(out, reference.data)).toBe(0);
  });

  it('shifts the face region by exactly an integer translation of face and ring vertices', () => {
    const dx = 7, dy = -5;
    const dst = Float32Array.from(topology.referenceVertices);
    const moves = (i: number): boolean => i < topology.border.start || i >= topology.lidCopies.start;
    for (let i = 0; i < topology.vertexCount; i++) {
      if (!moves(i)) continue;
      dst[2 * i] += dx;
      dst[2 * i + 1] += dy;
    }
    const drawn = warper.render(topology.referenceVertices, dst, topology.triangles, out);
    expect(drawn).toBe(topology.triangles.length / 3); // nothing folded
    // Pixels drawn by triangles that have no border vertex moved rigidly.
    const inner: number[] = [];
    const t = topology.triangles;
    for (let i = 0; i < t.length; i += 3) if (moves(t[i]) && moves(t[i + 1]) && moves(t[i + 2])) inner.push(t[i], t[i + 1], t[i + 2]);
    const mask = new Uint32Array(W * H);
    countCoverage(dst, Uint32Array.from(inner), W, H, mask);
    let checked = 0, wrong = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (!mask[y * W + x]) continue;
        const sx = x - dx, sy = y - dy;
        if (sx < 0 || sx >= W || sy < 0 || sy >= H) wrong++;
        else for (let c = 0; c < 3; c++) if (out[(y * W + x) * 3 + c] !== reference.data[(sy * W + sx) * 3 + c]) wrong++;
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(80_000);
    expect(wrong).toBe(0);
    // And the frame is still a partition: every pixel drawn once.
    const all = new Uint32Array(W * H);
    countCoverage(dst, topology.triangles, W, H, all, topology.referenceVertices);
    expect(all.every((c) => c === 1)).toBe(true);
  });

  it('skips back-facing (folded) triangles and leaves uncovered pixels at the reference', () => {
    // A smooth reference so the check is about coverage, not sampling.
    const flat = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(200) };
    const small = new MeshWarper(flat, 64, 64, { implementation: 'typescript' });
    const src = Float32Array.from([10, 10, 50, 10, 10, 50, 50, 50]);
    const tris = Uint32Array.from([0, 1, 2, 1, 3, 2]);
    const dst = Float32Array.from([10, 10, 50, 10, 10, 50, 5, 5]); // second triangle flips
    const o = new Uint8Array(64 * 64 * 3);
    expect(small.render(src, dst, tris, o)).toBe(1);
    expect(o.every((v) => v === 200)).toBe(true);
  });

  it('draws back-facing triangles too when asked (drawBackFaces), in both kernels', () => {
    const flat = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(200) };
    for (let y = 0; y < 64; y++) for (let x = 30; x < 64; x++) flat.data.fill(40, (y * 64 + x) * 3, (y * 64 + x) * 3 + 3);
    const src = Float32Array.from([10, 10, 50, 10, 10, 50, 50, 50]);
    const tris = Uint32Array.from([0, 1, 2, 1, 3, 2]);
    const dst = Float32Array.from([10, 10, 50, 10, 10, 50, 5, 5]); // second triangle flips
    const outs = (['typescript', 'native'] as const).map((implementation) => {
      const w = new MeshWarper(flat, 64, 64, { implementation, drawBackFaces: true });
      const o = new Uint8Array(64 * 64 * 3);
      expect(w.render(src, dst, tris, o)).toBe(2);
      return o;
    });
    // The flipped triangle now covers pixels the reference left as they were.
    const skipped = new Uint8Array(64 * 64 * 3);
    new MeshWarper(flat, 64, 64, { implementation: 'typescript' }).render(src, dst, tris, skipped);
    expect(countDiff(outs[0], skipped)).toBeGreaterThan(0);
    expect(countDiff(outs[0], outs[1])).toBe(0);
  });

  it('draws overlapping triangles back to front when given depth', () => {
    const img = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3) };
    for (let x = 0; x < 32; x++) for (let y = 0; y < 32; y++) img.data.fill(x < 16 ? 50 : 250, (y * 32 + x) * 3, (y * 32 + x) * 3 + 3);
    const small = new MeshWarper(img, 32, 32, { implementation: 'typescript' });
    // Two triangles: A samples the dark half, B the bright half; both drawn on the same spot.
    const src = Float32Array.from([2, 2, 12, 2, 2, 12, 20, 2, 30, 2, 20, 12]);
    const dst = Float32Array.from([4, 4, 28, 4, 4, 28, 4, 4, 28, 4, 4, 28]);
    const tris = Uint32Array.from([0, 1, 2, 3, 4, 5]);
    const o = new Uint8Array(32 * 32 * 3);
    const px = (8 * 32 + 8) * 3;
    small.render(src, dst, tris, o);
    expect(o[px]).toBe(250); // index order: B last
    small.render(src, dst, tris, o, Float32Array.from([0, 0, 0, 5, 5, 5])); // B is farther
    expect(o[px]).toBe(50);
    small.render(src, dst, tris, o, Float32Array.from([5, 5, 5, 0, 0, 0])); // A is farther
    expect(o[px]).toBe(250);
  });

  it('samples a larger reference into the output size (vertices in each image\'s pixels)', () => {
    const big = noiseImage(2 * W, 2 * H, 5);
    const down = new MeshWarper(big, W, H, { implementation: 'typescript' });
    const src = Float32Array.from([0, 0, 2 * W, 0, 0, 2 * H, 2 * W, 2 * H]);
    const dst = Float32Array.from([0, 0, W, 0, 0, H, W, H]);
    down.render(src, dst, Uint32Array.from([0, 1, 2, 1, 3, 2]), out);
    // Output pixel (x, y) centre maps to source (2x + 1, 2y + 1): the mean of a 2x2 block.
    let worst = 0;
    for (let y = 0; y < H; y += 7) {
      for (let x = 0; x < W; x += 5) {
        for (let c = 0; c < 3; c++) {
          const at = (sx: number, sy: number): number => big.data[(sy * 2 * W + sx) * 3 + c];
          const mean = (at(2 * x, 2 * y) + at(2 * x + 1, 2 * y) + at(2 * x, 2 * y + 1) + at(2 * x + 1, 2 * y + 1)) / 4;
          worst = Math.max(worst, Math.abs(out[(y * W + x) * 3 + c] - mean));
        }
      }
    }
    expect(worst).toBeLessThanOrEqual(0.5);
  });

  it('names the argument that is wrong', () => {
    const run = (fn: () => unknown): PersonaLiveError => {
      try {
        fn();
      } catch (e) {
        return e as PersonaLiveError;
      }
      throw new Error('no error');
    };
    const e1 = run(() => warper.render(topology.referenceVertices, topology.referenceVertices, topology.triangles, new Uint8Array(10)));
    expect(e1).toBeInstanceOf(PersonaLiveError);
    expect(e1.code).toBe('INTERNAL');
    expect(e1.message).toContain("'out' has length 10");
    const e2 = run(() => warper.render(new Float32Array(6), new Float32Array(6), Uint32Array.from([0, 1, 3]), out));
    expect(e2.message).toContain("'triangles'[2] = 3");
    const e3 = run(() => new MeshWarper({ width: 4, height: 4, data: new Uint8Array(5) }));
    expect(e3.message).toContain("'reference' data has length 5");
  });
});

describe.skipIf(!addon)('MeshWarper native kernel', () => {
  it('is chosen by default and reports it; typescript when asked', () => {
    const ref = noiseImage(64, 64);
    expect(createMeshWarper(ref, 64, 64, 'native').implementation).toBe('native');
    expect(createMeshWarper(ref, 64, 64, 'typescript').implementation).toBe('typescript');
    expect(createMeshWarper(ref, 64, 64, 'native').fallbackReason).toBeNull();
  });

  it('agrees with the TypeScript kernel byte for byte on moving, folding, clamped frames', () => {
    const reference = noiseImage(W, H, 23);
    const face = syntheticFace();
    const topology = buildWarpTopology(face, W, H);
    const ts = new MeshWarper(reference, W, H, { implementation: 'typescript' });
    const native = new MeshWarper(reference, W, H, { implementation: 'native' });
    const a = new Uint8Array(W * H * 3), b = new Uint8Array(W * H * 3);
    const moved = new Float32Array(478 * 3);
    const dst = new Float32Array(2 * topology.vertexCount), depth = new Float32Array(topology.vertexCount);
    const frames = [
      { angle: 0, tx: 0, ty: 0, scale: 1, open: 0 },
      { angle: 0.15, tx: 9.3, ty: -4.1, scale: 1.04, open: 12 },
      { angle: -0.3, tx: -20, ty: 14, scale: 0.9, open: 25 },
      { angle: 0.05, tx: 150, ty: 0, scale: 1.3, open: 5 }, // face pushed past the image edge: clamping and folds
      { angle: 1.2, tx: 0, ty: 0, scale: 1.6, open: 30 }, // extreme: many folded triangles
    ];
    let folded = 0;
    for (const f of frames) {
      moveFace(syntheticFace({ mouthOpen: f.open }), moved, f);
      placeVertices(topology, moved, dst);
      placeDepths(topology, moved, depth);
      for (const d of [undefined, depth]) {
        const na = ts.render(topology.referenceVertices, dst, topology.triangles, a, d);
        const nb = native.render(topology.referenceVertices, dst, topology.triangles, b, d);
        expect(nb).toBe(na);
        expect(countDiff(a, b)).toBe(0);
        folded += topology.triangles.length / 3 - na;
      }
    }
    expect(folded).toBeGreaterThan(0);
  });

  it('agrees with the TypeScript kernel when the reference is another size', () => {
    const reference = noiseImage(300, 420, 9);
    const face = moveFace(syntheticFace(), new Float32Array(478 * 3), { scale: 0.7, tx: -106, ty: -40 });
    const topology = buildWarpTopology(face, 300, 420);
    const ts = new MeshWarper(reference, W, H, { implementation: 'typescript' });
    const native = new MeshWarper(reference, W, H, { implementation: 'native' });
    const dst = new Float32Array(2 * topology.vertexCount);
    // Destination: the reference mesh stretched to 512x512 plus a head turn.
    const moved = moveFace(face, new Float32Array(478 * 3), { angle: 0.1, cx: 150, cy: 210, tx: 3 });
    placeVertices(topology, moved, dst);
    for (let i = 0; i < topology.vertexCount; i++) {
      dst[2 * i] *= W / 300;
      dst[2 * i + 1] *= H / 420;
    }
    const a = new Uint8Array(W * H * 3), b = new Uint8Array(W * H * 3);
    ts.render(topology.referenceVertices, dst, topology.triangles, a);
    native.render(topology.referenceVertices, dst, topology.triangles, b);
    expect(countDiff(a, b)).toBe(0);
  });

  it('skips non-finite and out-of-range vertices like the TypeScript kernel', () => {
    const reference = noiseImage(64, 64, 2);
    const ts = new MeshWarper(reference, 64, 64, { implementation: 'typescript' });
    const native = new MeshWarper(reference, 64, 64, { implementation: 'native' });
    const src = Float32Array.from([0, 0, 64, 0, 0, 64, 64, 64, 30, 30]);
    const dst = Float32Array.from([0, 0, 64, 0, 0, 64, 64, 64, Number.NaN, 30]);
    const tris = Uint32Array.from([0, 1, 4, 1, 3, 4, 3, 2, 4, 2, 0, 4, 0, 1, 2]);
    const a = new Uint8Array(64 * 64 * 3), b = new Uint8Array(64 * 64 * 3);
    expect(ts.render(src, dst, tris, a)).toBe(1);
    expect(native.render(src, dst, tris, b)).toBe(1);
    expect(countDiff(a, b)).toBe(0);
    dst[8] = 1e9;
    expect(native.render(src, dst, tris, b)).toBe(ts.render(src, dst, tris, a));
    expect(countDiff(a, b)).toBe(0);
  });
});
