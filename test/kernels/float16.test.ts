import { describe, expect, it } from 'vitest';
import { float16ToFloat32, float32ToFloat16, floatFromHalf, halfFromFloat } from '../../daemon/kernels/float16.js';

/** The value of half bits h, from the IEEE definition (independent of the code under test). */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

function toHalf(values: number[]): number[] {
  const dst = new Uint16Array(values.length);
  float32ToFloat16(Float32Array.from(values), dst);
  return Array.from(dst);
}

/** Nearest half by search over all finite positive halves (ties to even), as a reference. */
const positiveHalves = Array.from({ length: 0x7c00 }, (_, h) => halfValue(h));
function referenceHalf(v: number): number {
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00; // 65504 + half an ulp (16) rounds to infinity
  let lo = 0, hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (positiveHalves[mid] <= a) lo = mid;
    else hi = mid - 1;
  }
  if (lo === 0x7bff) return sign | lo;
  const dLo = a - positiveHalves[lo];
  const dHi = positiveHalves[lo + 1] - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
  return sign | pick;
}

describe('float32ToFloat16', () => {
  it('produces the known bit patterns', () => {
    expect(toHalf([1, -2, 0.5, 65504, 0.1, 1 / 3])).toEqual([0x3c00, 0xc000, 0x3800, 0x7bff, 0x2e66, 0x3555]);
    expect(toHalf([0, -0, Infinity, -Infinity])).toEqual([0x0000, 0x8000, 0x7c00, 0xfc00]);
    expect(toHalf([2 ** -14, 2 ** -24, -(2 ** -24), 1023 * 2 ** -24])).toEqual([0x0400, 0x0001, 0x8001, 0x03ff]);
  });

  it('rounds to nearest, ties to even, in the normal, subnormal and overflow ranges', () => {
    // between 1 and 1 + 2^-10: the tie goes to the even 1; 1.5 ulp goes up to the even 0x3c02
    expect(toHalf([1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20])).toEqual([0x3c00, 0x3c02, 0x3c01]);
    // 2^-25 is half the smallest subnormal: tie to even 0; a bit more rounds up to 1; 1.5 -> 2
    expect(toHalf([2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -25, 2 ** -26])).toEqual([0, 1, 2, 0]);
    // the largest finite half is 65504; 65519.99 stays there, 65520 (the tie) overflows to infinity
    expect(toHalf([65519, 65520, 70000, -65520, 1e30])).toEqual([0x7bff, 0x7c00, 0x7c00, 0xfc00, 0x7c00]);
    // rounding up out of the subnormal range gives the smallest normal
    expect(toHalf([2 ** -14 - 2 ** -26])).toEqual([0x0400]);
  });

  it('keeps NaN a NaN', () => {
    const [h] = toHalf([NaN]);
    expect(h & 0x7c00).toBe(0x7c00);
    expect(h & 0x3ff).not.toBe(0);
  });

  it('agrees with a search-based reference on random float32 values across the half range', () => {
    let seed = 12345;
    const next = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
    const bits = new Uint32Array(20000);
    for (let i = 0; i < bits.length; i++) {
      // exponents 98..145 cover zero-rounding, subnormal, normal and overflow halves
      const e = 98 + (next() % 48);
      bits[i] = ((next() & 1) << 31) | (e << 23) | (next() & 0x7fffff);
    }
    const f = new Float32Array(bits.buffer);
    const dst = new Uint16Array(f.length);
    float32ToFloat16(f, dst);
    const bad: string[] = [];
    for (let i = 0; i < f.length; i++) {
      const want = referenceHalf(f[i]);
      if (dst[i] !== want) bad.push(`${f[i]}: got 0x${dst[i].toString(16)}, want 0x${want.toString(16)}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('throws when dst is too short', () => {
    expect(() => float32ToFloat16(new Float32Array(3), new Uint16Array(2))).toThrowError(/'dst' has length 2/);
  });
});

describe('float16ToFloat32', () => {
  it('decodes every one of the 65536 patterns exactly', () => {
    const src = new Uint16Array(65536).map((_, i) => i);
    const dst = new Float32Array(65536);
    float16ToFloat32(src, dst);
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const want = halfValue(h);
      const ok = Number.isNaN(want) ? Number.isNaN(dst[h]) : Object.is(dst[h], want);
      if (!ok) bad.push(h);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('round-trips every non-NaN half through float32 bit for bit', () => {
    const src = new Uint16Array(65536).map((_, i) => i);
    const f = new Float32Array(65536);
    const back = new Uint16Array(65536);
    float16ToFloat32(src, f);
    float32ToFloat16(f, back);
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const e = (h >> 10) & 0x1f;
      const ok = e === 31 && (h & 0x3ff) !== 0 ? (back[h] & 0x7c00) === 0x7c00 && (back[h] & 0x3ff) !== 0 : back[h] === h;
      if (!ok) bad.push(h);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('handles subarray views with a byte offset', () => {
    const store = new Float32Array(8);
    const view = store.subarray(3, 6);
    float16ToFloat32(Uint16Array.from([0x3c00, 0xc000, 0x0001]), view);
    expect(Array.from(store)).toEqual([0, 0, 0, 1, -2, 2 ** -24, 0, 0]);
    const h = new Uint16Array(4);
    float32ToFloat16(view, h.subarray(1));
    expect(Array.from(h)).toEqual([0, 0x3c00, 0xc000, 0x0001]);
  });
});

describe('halfFromFloat / floatFromHalf (scalars)', () => {
  it('match the array conversions', () => {
    expect(halfFromFloat(1)).toBe(0x3c00);
    expect(halfFromFloat(85 / 255)).toBe(toHalf([85 / 255])[0]);
    expect(halfFromFloat(65520)).toBe(0x7c00);
    expect(floatFromHalf(0x3555)).toBe(halfValue(0x3555));
    expect(floatFromHalf(0x8001)).toBe(-(2 ** -24));
    expect(Number.isNaN(floatFromHalf(0x7e00))).toBe(true);
  });
});
