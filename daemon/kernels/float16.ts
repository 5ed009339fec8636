/**
 * IEEE 754 binary16 <-> binary32 conversion for float16 ONNX graphs (the tensors travel
 * as Uint16Array bit patterns). Both directions allocate nothing per call after the first
 * call with a given array (bit views are cached per array).
 */
import { PersonaLiveError } from '../errors.js';

const u32Views = new WeakMap<Float32Array, Uint32Array>();

function bitsOf(a: Float32Array): Uint32Array {
  let v = u32Views.get(a);
  if (v === undefined) {
    v = new Uint32Array(a.buffer, a.byteOffset, a.length);
    u32Views.set(a, v);
  }
  return v;
}

/**
 * float16 bits for the float32 with bits `x`, rounding to nearest, ties to even (what
 * torch .half() and numpy astype(float16) do). Magnitudes >= 65520 become +-inf, values
 * below 2^-25 become +-0, those between 2^-25 and 2^-14 become subnormal; NaN stays a
 * (quiet) NaN keeping its top payload bits; the sign is kept, including on zero.
 */
function halfFromFloatBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const a = x & 0x7fffffff;
  let h: number;
  if (a >= 0x38800000 && a < 0x47800000) {
    // Normal half (2^-14 <= |v| < 65536): rebias the exponent by 112, round away the
    // low 13 bits to even. A carry into exponent 31 correctly gives infinity.
    h = (a + 0x0fff + ((a >>> 13) & 1) - 0x38000000) >>> 13;
  } else if (a < 0x33000000) {
    h = 0; // below 2^-25 (the tie at 2^-25 rounds to even, i.e. 0): zero
  } else if (a < 0x38800000) {
    // Subnormal half: value / 2^-24 = m * 2^(e - 126), rounded to nearest even.
    const e = a >>> 23;
    const m = (a & 0x7fffff) | 0x800000;
    const shift = 126 - e;
    const q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    h = rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q;
  } else if (a > 0x7f800000) {
    h = 0x7e00 | ((a >>> 13) & 0x3ff); // NaN
  } else {
    h = 0x7c00; // overflow or infinity
  }
  return sign | h;
}

/**
 * Float32 to float16 bits, element by element, rounding as halfFromFloat does.
 * @throws PersonaLiveError INTERNAL when `dst` is shorter than `src`.
 */
export function float32ToFloat16(src: Float32Array, dst: Uint16Array): void {
  const n = src.length;
  if (dst.length < n) throw new PersonaLiveError('INTERNAL', `'dst' has length ${dst.length}, shorter than 'src' (${n})`);
  const bits = bitsOf(src);
  for (let i = 0; i < n; i++) dst[i] = halfFromFloatBits(bits[i]);
}

const scalarF32 = new Float32Array(1);
const scalarU32 = new Uint32Array(scalarF32.buffer);

/**
 * float16 bits of one number: first rounded to float32 (as a Float32Array holds it), then
 * to float16, nearest-even (so results equal float32ToFloat16 on a Float32Array).
 */
export function halfFromFloat(v: number): number {
  scalarF32[0] = v;
  return halfFromFloatBits(scalarU32[0]);
}

let halfValues: Float32Array | null = null;

/**
 * The value of every float16 bit pattern, indexed by the pattern (65536 float32s sharing
 * the decode table's memory; NaN payloads may be canonicalised when read as numbers).
 */
export function halfValueTable(): Float32Array {
  if (halfValues === null) halfValues = new Float32Array(halfToFloatTable().buffer);
  return halfValues;
}

/** The number that float16 bits `h` encode (exact). */
export function floatFromHalf(h: number): number {
  return halfValueTable()[h & 0xffff];
}

let halfTable: Uint32Array | null = null;

/** float32 bit patterns of all 65536 half values, built on first use (256 KiB). */
function halfToFloatTable(): Uint32Array {
  if (halfTable !== null) return halfTable;
  const t = new Uint32Array(65536);
  const f = new Float32Array(1);
  const fb = new Uint32Array(f.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    let bits: number;
    if (e === 0) {
      f[0] = m * 2 ** -24; // exact: zero or subnormal, normal in float32
      bits = fb[0];
    } else if (e === 31) {
      bits = 0x7f800000 | (m << 13);
    } else {
      bits = ((e + 112) << 23) | (m << 13);
    }
    t[h] = (sign | bits) >>> 0;
  }
  halfTable = t;
  return t;
}

/**
 * Float16 bits to float32 (exact; NaN payloads are kept). Table-driven.
 * @throws PersonaLiveError INTERNAL when `dst` is shorter than `src`.
 */
export function float16ToFloat32(src: Uint16Array, dst: Float32Array): void {
  const n = src.length;
  if (dst.length < n) throw new PersonaLiveError('INTERNAL', `'dst' has length ${dst.length}, shorter than 'src' (${n})`);
  const table = halfToFloatTable();
  const out = bitsOf(dst);
  for (let i = 0; i < n; i++) out[i] = table[src[i]];
}
