// The meshwarp renderer's per-pixel triangle warp, compiled. It mirrors MeshWarper's
// TypeScript kernel in daemon/generators/meshwarp/warp.ts operation for operation (the same float64
// expressions in the same order, the same integer rasteriser and fixed-point sampler), so the
// two agree byte for byte; test/generators/meshwarp/warp.test.ts compares them. Keep them in step.
#include "warp.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#include <cstdlib>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#endif

// Fused multiply-add would change the float64 row-start values relative to the TypeScript
// kernel (JavaScript never fuses), so contraction is off for this file.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace {

constexpr int64_t kSub = 256;
constexpr int64_t kHalfSub = 128;
constexpr double kFix = 65536.0;
constexpr double kMaxCoordinate = 16384.0;

// PERSONALIVE_WARP_SIMD=0 turns the AVX2 path off (to compare or to rule it out).
bool NoSimd() {
  static const bool off = [] {
    const char* v = std::getenv("PERSONALIVE_WARP_SIMD");
    return v != nullptr && v[0] == '0';
  }();
  return off;
}

inline bool FiniteCoord(double v) { return std::fabs(v) <= kMaxCoordinate; }  // false for NaN

// Math.floor for |x| < 2^62 without a libm call (x86-64's baseline has no roundsd).
inline int64_t FloorI64(double x) {
  const int64_t i = static_cast<int64_t>(x);
  return i - (static_cast<double>(i) > x ? 1 : 0);
}

// floor(n / d) for d > 0, |n| < 2^53: a float64 quotient (cheaper than a 64-bit idiv),
// corrected by one where rounding put it across an integer.
inline int64_t FloorDiv(int64_t n, int64_t d) {
  int64_t q = FloorI64(static_cast<double>(n) / static_cast<double>(d));
  if (q * d > n) q--;
  else if ((q + 1) * d <= n) q++;
  return q;
}

inline int64_t Snap(double v) { return FloorI64(v * 256.0 + 0.5); }

// Bilinear sample of the padded RGBX reference at 16.16 (u, v) already inside it: position
// rounded to 1/128 px, taps weighted by 7-bit products summing to 16384, one rounding at the
// end (exact at integer positions). Writes 4 bytes at o when `wide` (the 4th is the next
// pixel's red, rewritten by it), else 3.
inline void Sample(const uint8_t* p, int64_t stride, int64_t u, int64_t v, uint8_t* o, bool wide) {
  const int32_t xs = static_cast<int32_t>((u + 256) >> 9), ys = static_cast<int32_t>((v + 256) >> 9);
  const int32_t fx = xs & 127, fy = ys & 127, gx = 128 - fx, gy = 128 - fy;
  const uint8_t* a = p + (ys >> 7) * stride + (xs >> 7) * 4;
  const uint8_t* b = a + stride;
#if defined(__SSE2__)
  (void)wide;
  const __m128i zero = _mm_setzero_si128();
  const __m128i r0 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a));
  const __m128i r1 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b));
  // [c00 c01] per channel as 16-bit pairs, so one madd gives c00*w00 + c01*w01.
  const __m128i t0 = _mm_unpacklo_epi8(_mm_unpacklo_epi8(r0, _mm_srli_si128(r0, 4)), zero);
  const __m128i t1 = _mm_unpacklo_epi8(_mm_unpacklo_epi8(r1, _mm_srli_si128(r1, 4)), zero);
  const uint32_t wx = static_cast<uint32_t>(gx) | (static_cast<uint32_t>(fx) << 16);
  const __m128i w0 = _mm_set1_epi32(static_cast<int>(wx * static_cast<uint32_t>(gy)));
  const __m128i w1 = _mm_set1_epi32(static_cast<int>(wx * static_cast<uint32_t>(fy)));
  __m128i sum = _mm_add_epi32(_mm_madd_epi16(t0, w0), _mm_madd_epi16(t1, w1));
  sum = _mm_srli_epi32(_mm_add_epi32(sum, _mm_set1_epi32(8192)), 14);
  sum = _mm_packs_epi32(sum, sum);
  sum = _mm_packus_epi16(sum, sum);
  const uint32_t rgbx = static_cast<uint32_t>(_mm_cvtsi128_si32(sum));
  if (wide) {
    std::memcpy(o, &rgbx, 4);
  } else {
    o[0] = static_cast<uint8_t>(rgbx);
    o[1] = static_cast<uint8_t>(rgbx >> 8);
    o[2] = static_cast<uint8_t>(rgbx >> 16);
  }
#else
  (void)wide;
  const int32_t w00 = gx * gy, w01 = fx * gy, w10 = gx * fy, w11 = fx * fy;
  o[0] = static_cast<uint8_t>((a[0] * w00 + a[4] * w01 + b[0] * w10 + b[4] * w11 + 8192) >> 14);
  o[1] = static_cast<uint8_t>((a[1] * w00 + a[5] * w01 + b[1] * w10 + b[5] * w11 + 8192) >> 14);
  o[2] = static_cast<uint8_t>((a[2] * w00 + a[6] * w01 + b[2] * w10 + b[6] * w11 + 8192) >> 14);
#endif
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define WARP_HAVE_AVX2 1
bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#endif

// Per-triangle affine map and its per-row fixed-point steps (set up once per frame).
struct TriMap {
  double s0x, s0y, d0x, d0y, ux, uy, vx, vy;
  int64_t dU, dV;
};

// One scanline span of one triangle.
struct Span {
  int32_t tri, y, xl, xr;
};

// Scratch that lives for the addon's lifetime and only grows (no per-frame allocation once
// the largest frame has been seen). Calls are synchronous on the JS thread.
struct Scratch {
  std::vector<TriMap> maps;
  std::vector<Span> spans, sorted;  // spans: used up to spanCount
  size_t spanCount = 0;
  std::vector<int32_t> rowStart;
};

// Appends the scanline spans of a positively oriented fixed-point triangle: the same exact
// half-plane bounds as triangleSpans in warp.ts, all three edges stepped together row by row.
// `spans` has room for one span per output row from `count` on; returns the new count.
size_t EmitSpans(int64_t x0, int64_t y0, int64_t x1, int64_t y1, int64_t x2, int64_t y2, int outW, int outH, int32_t id, Span* spans, size_t count) {
  const int64_t yMin = std::min(y0, std::min(y1, y2)), yMax = std::max(y0, std::max(y1, y2));
  int64_t ys = -FloorDiv(-(yMin - kHalfSub), kSub);
  int64_t ye = FloorDiv(yMax - kHalfSub, kSub) + 1;
  if (ys < 0) ys = 0;
  if (ye > outH) ye = outH;
  if (ys >= ye) return count;
  const int yStart = static_cast<int>(ys), yEnd = static_cast<int>(ye);
  // Per edge: kind 0 left bound x >= -q, 1 right bound x <= q (q = floor(n / d) tracked as
  // quotient + remainder), 2 horizontal (a row is kept while k >= 0, k stepping by kStep).
  int kind[3];
  int64_t q[3], r[3], qs[3], rs[3], d[3], k[3], kStep[3];
  const int64_t xv[3] = {x0, x1, x2}, yv[3] = {y0, y1, y2};
  for (int e = 0; e < 3; e++) {
    const int64_t px = xv[e], py = yv[e], qx = xv[(e + 1) % 3], qy = yv[(e + 1) % 3];
    const int64_t dx = qx - px, dy = qy - py;
    const int64_t t = (dy < 0 || (dy == 0 && dx > 0)) ? 0 : 1;
    const int64_t k0 = dx * (kSub * yStart + kHalfSub - py) + dy * px - t;
    q[e] = r[e] = qs[e] = rs[e] = 0;
    d[e] = 1;
    k[e] = k0;
    kStep[e] = kSub * dx;
    if (dy == 0) {
      kind[e] = 2;
      continue;
    }
    kind[e] = dy < 0 ? 0 : 1;
    d[e] = dy < 0 ? -kSub * dy : kSub * dy;
    const int64_t n0 = k0 - kHalfSub * dy;
    q[e] = FloorDiv(n0, d[e]);
    r[e] = n0 - q[e] * d[e];
    qs[e] = FloorDiv(kSub * dx, d[e]);
    rs[e] = kSub * dx - qs[e] * d[e];
  }
  for (int y = yStart; y < yEnd; y++) {
    int64_t xl = 0, xr = outW - 1;
    for (int e = 0; e < 3; e++) {
      if (kind[e] == 0) {
        if (-q[e] > xl) xl = -q[e];
      } else if (kind[e] == 1) {
        if (q[e] < xr) xr = q[e];
      } else {
        if (k[e] < 0) xr = -1;
        k[e] += kStep[e];
        continue;
      }
      q[e] += qs[e];
      r[e] += rs[e];
      if (r[e] >= d[e]) {
        r[e] -= d[e];
        q[e]++;
      }
    }
    if (xl <= xr) spans[count++] = Span{id, y, static_cast<int32_t>(xl), static_cast<int32_t>(xr)};
  }
  return count;
}

// Sets up one triangle (the same tests and float64 expressions as drawTriangle in warp.ts) and
// appends its non-empty row spans; false when it is skipped.
bool SetupTriangle(const float* src, const float* dst, uint32_t ia, uint32_t ib, uint32_t ic, int outW, int outH, Scratch& sc, bool drawBackFaces) {
  const double d0x = dst[2 * ia], d0y = dst[2 * ia + 1], d1x = dst[2 * ib], d1y = dst[2 * ib + 1], d2x = dst[2 * ic], d2y = dst[2 * ic + 1];
  const double s0x = src[2 * ia], s0y = src[2 * ia + 1], s1x = src[2 * ib], s1y = src[2 * ib + 1], s2x = src[2 * ic], s2y = src[2 * ic + 1];
  if (!(FiniteCoord(d0x) && FiniteCoord(d0y) && FiniteCoord(d1x) && FiniteCoord(d1y) && FiniteCoord(d2x) && FiniteCoord(d2y))) return false;
  if (!(FiniteCoord(s0x) && FiniteCoord(s0y) && FiniteCoord(s1x) && FiniteCoord(s1y) && FiniteCoord(s2x) && FiniteCoord(s2y))) return false;
  const int64_t X0 = Snap(d0x), Y0 = Snap(d0y), X1 = Snap(d1x), Y1 = Snap(d1y), X2 = Snap(d2x), Y2 = Snap(d2y);
  const int64_t area = (X1 - X0) * (Y2 - Y0) - (Y1 - Y0) * (X2 - X0);
  const double srcArea = (s1x - s0x) * (s2y - s0y) - (s1y - s0y) * (s2x - s0x);
  if (area == 0 || srcArea == 0 || (!drawBackFaces && !(srcArea > 0 ? area > 0 : area < 0))) return false;
  const double e1x = d1x - d0x, e1y = d1y - d0y, e2x = d2x - d0x, e2y = d2y - d0y;
  const double det = e1x * e2y - e1y * e2x;
  if (det == 0) return false;
  const double f1x = s1x - s0x, f1y = s1y - s0y, f2x = s2x - s0x, f2y = s2y - s0y;
  const double ux = (f1x * e2y - f2x * e1y) / det;
  const double uy = (f2x * e1x - f1x * e2x) / det;
  const double vx = (f1y * e2y - f2y * e1y) / det;
  const double vy = (f2y * e1x - f1y * e2x) / det;
  if (!(std::fabs(ux) <= kFix && std::fabs(uy) <= kFix && std::fabs(vx) <= kFix && std::fabs(vy) <= kFix)) return false;

  const int32_t id = static_cast<int32_t>(sc.maps.size());
  sc.maps.push_back(TriMap{s0x, s0y, d0x, d0y, ux, uy, vx, vy, FloorI64(ux * kFix + 0.5), FloorI64(vx * kFix + 0.5)});
  // Room for one span per output row, so EmitSpans writes through a plain pointer.
  if (sc.spans.size() < sc.spanCount + static_cast<size_t>(outH)) sc.spans.resize(2 * (sc.spanCount + outH));
  if (area > 0) sc.spanCount = EmitSpans(X0, Y0, X1, Y1, X2, Y2, outW, outH, id, sc.spans.data(), sc.spanCount);
  else sc.spanCount = EmitSpans(X0, Y0, X2, Y2, X1, Y1, outW, outH, id, sc.spans.data(), sc.spanCount);
  return true;
}

// Draws one span (the same row-start expressions as warp.ts).
inline void DrawSpan(const TriMap& m, const Span& sp, const uint8_t* p, int64_t stride, int64_t uMax, int64_t vMax, uint8_t* out, int outW) {
  const int xl = sp.xl, xr = sp.xr, y = sp.y;
  const double ax = xl + 0.5 - m.d0x, ay = y + 0.5 - m.d0y;
  int64_t U = FloorI64((m.s0x + m.ux * ax + m.uy * ay - 0.5) * kFix + 0.5);
  int64_t V = FloorI64((m.s0y + m.vx * ax + m.vy * ay - 0.5) * kFix + 0.5);
  const int64_t dU = m.dU, dV = m.dV;
  uint8_t* o = out + (static_cast<int64_t>(y) * outW + xl) * 3;
  const int64_t last = xr - xl;
  const int64_t U1 = U + last * dU, V1 = V + last * dV;
  if (U >= 0 && U <= uMax && U1 >= 0 && U1 <= uMax && V >= 0 && V <= vMax && V1 >= 0 && V1 <= vMax) {
    for (int x = xl; x <= xr; x++) {
      Sample(p, stride, U, V, o, x < xr);
      o += 3;
      U += dU;
      V += dV;
    }
    return;
  }
  for (int x = xl; x <= xr; x++) {
    const int64_t u = U < 0 ? 0 : (U > uMax ? uMax : U);
    const int64_t v = V < 0 ? 0 : (V > vMax ? vMax : V);
    Sample(p, stride, u, v, o, x < xr);
    o += 3;
    U += dU;
    V += dV;
  }
}

#if defined(WARP_HAVE_AVX2)
// All spans, four pixels at a time with AVX2 (chosen at run time; gathers are avoided, they
// are slow under the Gather Data Sampling mitigation): the same row-start expressions,
// clamping and integer arithmetic as DrawSpan/Sample, per channel
// c00*w00 + c01*w01 + c10*w10 + c11*w11 as two 16-bit multiply-adds. A span that could leave
// int32 goes through DrawSpan.
__attribute__((target("avx2"))) void DrawSpansAvx2(const Scratch& sc, size_t count, const uint8_t* p, int64_t stride, int64_t uMax, int64_t vMax, uint8_t* out, int outW) {
  const __m128i lane = _mm_setr_epi32(0, 1, 2, 3);
  const __m128i zero4 = _mm_setzero_si128(), uHi = _mm_set1_epi32(static_cast<int32_t>(uMax)), vHi = _mm_set1_epi32(static_cast<int32_t>(vMax));
  const __m128i c256 = _mm_set1_epi32(256), c127 = _mm_set1_epi32(127), c128 = _mm_set1_epi32(128);
  const __m128i cStride = _mm_set1_epi32(static_cast<int32_t>(stride));
  const __m256i zero = _mm256_setzero_si256(), round = _mm256_set1_epi32(8192);
  // Per 8-byte tap pair [c00 (RGBX) c01 (RGBX)]: channel pairs (c00, c01) side by side.
  const __m256i pairs = _mm256_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15, 0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
  const __m256i evenPx = _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2), oddPx = _mm256_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3);
  const __m128i toRgb = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
  const uint8_t* p1 = p + stride;
  constexpr int64_t kLane = int64_t{1} << 30, kStep = int64_t{1} << 26;
  for (size_t i = 0; i < count; i++) {
    const Span& sp = sc.sorted[i];
    const TriMap& m = sc.maps[sp.tri];
    const int xl = sp.xl, xr = sp.xr, y = sp.y;
    const double ax = xl + 0.5 - m.d0x, ay = y + 0.5 - m.d0y;
    const int64_t U = FloorI64((m.s0x + m.ux * ax + m.uy * ay - 0.5) * kFix + 0.5);
    const int64_t V = FloorI64((m.s0y + m.vx * ax + m.vy * ay - 0.5) * kFix + 0.5);
    const int64_t dU = m.dU, dV = m.dV;
    const int n = xr - xl + 1;
    // Lanes stay in int32: |U|, |V| < 2^30 over the span and 3 more steps of < 2^26.
    const int64_t U1 = U + (n - 1) * dU, V1 = V + (n - 1) * dV;
    if (!(U > -kLane && U < kLane && U1 > -kLane && U1 < kLane && V > -kLane && V < kLane && V1 > -kLane && V1 < kLane && dU > -kStep && dU < kStep &&
          dV > -kStep && dV < kStep)) {
      DrawSpan(m, sp, p, stride, uMax, vMax, out, outW);
      continue;
    }
    uint8_t* o = out + (static_cast<int64_t>(y) * outW + xl) * 3;
    __m128i u = _mm_add_epi32(_mm_set1_epi32(static_cast<int32_t>(U)), _mm_mullo_epi32(lane, _mm_set1_epi32(static_cast<int32_t>(dU))));
    __m128i v = _mm_add_epi32(_mm_set1_epi32(static_cast<int32_t>(V)), _mm_mullo_epi32(lane, _mm_set1_epi32(static_cast<int32_t>(dV))));
    const __m128i du4 = _mm_set1_epi32(static_cast<int32_t>(dU * 4)), dv4 = _mm_set1_epi32(static_cast<int32_t>(dV * 4));
    for (int done = 0; done < n; done += 4) {
      const __m128i uc = _mm_min_epi32(_mm_max_epi32(u, zero4), uHi);
      const __m128i vc = _mm_min_epi32(_mm_max_epi32(v, zero4), vHi);
      const __m128i xs = _mm_srai_epi32(_mm_add_epi32(uc, c256), 9);
      const __m128i ys = _mm_srai_epi32(_mm_add_epi32(vc, c256), 9);
      const __m128i fx = _mm_and_si128(xs, c127), fy = _mm_and_si128(ys, c127);
      const __m128i gx = _mm_sub_epi32(c128, fx), gy = _mm_sub_epi32(c128, fy);
      const __m128i off = _mm_add_epi32(_mm_mullo_epi32(_mm_srai_epi32(ys, 7), cStride), _mm_slli_epi32(_mm_srai_epi32(xs, 7), 2));
      const __m128i wx = _mm_or_si128(gx, _mm_slli_epi32(fx, 16));
      const __m256i wt = _mm256_castsi128_si256(_mm_mullo_epi32(wx, gy));  // w00 | w01 << 16
      const __m256i wb = _mm256_castsi128_si256(_mm_mullo_epi32(wx, fy));  // w10 | w11 << 16
      const int32_t oa = _mm_cvtsi128_si32(off), ob = _mm_extract_epi32(off, 1), oc = _mm_extract_epi32(off, 2), od = _mm_extract_epi32(off, 3);
      const __m128i ab0 = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + oa)), _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + ob)));
      const __m128i cd0 = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + oc)), _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + od)));
      const __m128i ab1 = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p1 + oa)), _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p1 + ob)));
      const __m128i cd1 = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p1 + oc)), _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p1 + od)));
      const __m256i row0 = _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(ab0), cd0, 1), pairs);  // [a b | c d]
      const __m256i row1 = _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(ab1), cd1, 1), pairs);
      const __m256i wtEven = _mm256_permutevar8x32_epi32(wt, evenPx), wtOdd = _mm256_permutevar8x32_epi32(wt, oddPx);
      const __m256i wbEven = _mm256_permutevar8x32_epi32(wb, evenPx), wbOdd = _mm256_permutevar8x32_epi32(wb, oddPx);
      // unpacklo takes pixels a | c, unpackhi b | d (per 128-bit lane).
      __m256i ac = _mm256_add_epi32(_mm256_madd_epi16(_mm256_unpacklo_epi8(row0, zero), wtEven), _mm256_madd_epi16(_mm256_unpacklo_epi8(row1, zero), wbEven));
      __m256i bd = _mm256_add_epi32(_mm256_madd_epi16(_mm256_unpackhi_epi8(row0, zero), wtOdd), _mm256_madd_epi16(_mm256_unpackhi_epi8(row1, zero), wbOdd));
      ac = _mm256_srli_epi32(_mm256_add_epi32(ac, round), 14);
      bd = _mm256_srli_epi32(_mm256_add_epi32(bd, round), 14);
      const __m256i w16 = _mm256_packs_epi32(ac, bd);    // [a b | c d] as 16-bit RGBX
      const __m256i b8 = _mm256_packus_epi16(w16, w16);  // low 8 bytes of each lane: [a b], [c d]
      const __m128i abcd = _mm_unpacklo_epi64(_mm256_castsi256_si128(b8), _mm256_extracti128_si256(b8, 1));
      const __m128i rgb = _mm_shuffle_epi8(abcd, toRgb);
      uint8_t* q = o + 3 * done;
      const int left = n - done;
      if (left >= 4) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(q), rgb);
        const int32_t tail = _mm_extract_epi32(rgb, 2);
        std::memcpy(q + 8, &tail, 4);
      } else {
        alignas(16) uint8_t tmp[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp), rgb);
        std::memcpy(q, tmp, static_cast<size_t>(3 * left));
      }
      u = _mm_add_epi32(u, du4);
      v = _mm_add_epi32(v, dv4);
    }
  }
}
#endif

Napi::Value Fail(const Napi::Env& env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// meshWarp(padded u8 (refW+1)x(refH+1)x4 RGBX, refW, refH, src f32, dst f32, vertexCount,
//          triangles u32, order u32 | null, triCount, background u8, out u8, outW, outH[, drawBackFaces]) -> drawn
Napi::Value MeshWarp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if ((info.Length() != 13 && info.Length() != 14) || !info[0].IsTypedArray() || !info[3].IsTypedArray() || !info[4].IsTypedArray() || !info[6].IsTypedArray() ||
      !info[9].IsTypedArray() || !info[10].IsTypedArray()) {
    return Fail(env, "meshWarp: expected (Uint8Array padded, refW, refH, Float32Array src, Float32Array dst, vertexCount, Uint32Array triangles, Uint32Array|null order, triCount, Uint8Array background, Uint8Array out, outW, outH)");
  }
  auto padded = info[0].As<Napi::Uint8Array>();
  const int refW = info[1].As<Napi::Number>().Int32Value();
  const int refH = info[2].As<Napi::Number>().Int32Value();
  auto src = info[3].As<Napi::Float32Array>();
  auto dst = info[4].As<Napi::Float32Array>();
  const int64_t vertexCount = info[5].As<Napi::Number>().Int64Value();
  auto triangles = info[6].As<Napi::Uint32Array>();
  const bool hasOrder = info[7].IsTypedArray();
  const int64_t triCount = info[8].As<Napi::Number>().Int64Value();
  auto background = info[9].As<Napi::Uint8Array>();
  auto out = info[10].As<Napi::Uint8Array>();
  const int outW = info[11].As<Napi::Number>().Int32Value();
  const int outH = info[12].As<Napi::Number>().Int32Value();
  const bool drawBackFaces = info.Length() == 14 && info[13].ToBoolean().Value();
  const size_t outBytes = static_cast<size_t>(outW) * outH * 3;
  if (refW <= 0 || refH <= 0 || refW > 16384 || refH > 16384 || outW <= 0 || outH <= 0 || outW > 16384 || outH > 16384 || vertexCount < 0 || triCount < 0 ||
      padded.ElementLength() < static_cast<size_t>(refW + 1) * (refH + 1) * 4 || src.ElementLength() < static_cast<size_t>(2 * vertexCount) ||
      dst.ElementLength() < static_cast<size_t>(2 * vertexCount) || triangles.ElementLength() < static_cast<size_t>(3 * triCount) ||
      background.ElementLength() < outBytes || out.ElementLength() < outBytes) {
    return Fail(env, "meshWarp: sizes or buffers out of range");
  }
  const uint32_t* order = nullptr;
  if (hasOrder) {
    auto o = info[7].As<Napi::Uint32Array>();
    if (o.ElementLength() < static_cast<size_t>(triCount)) return Fail(env, "meshWarp: order shorter than triCount");
    order = o.Data();
  }
  static thread_local Scratch sc;
  if (sc.rowStart.size() < static_cast<size_t>(outH) + 1) sc.rowStart.resize(outH + 1);
  sc.maps.clear();
  sc.spanCount = 0;
#if defined(WARP_HAVE_AVX2)
  const bool avx2 = HasAvx2() && !NoSimd();
#else
  const bool avx2 = false;
#endif
  std::memcpy(out.Data(), background.Data(), outBytes);
  const uint32_t* tri = triangles.Data();
  const float* s = src.Data();
  const float* d = dst.Data();
  int64_t drawn = 0;
  for (int64_t k = 0; k < triCount; k++) {
    const int64_t t = order ? order[k] : k;
    if (t >= triCount) continue;
    const uint32_t a = tri[3 * t], b = tri[3 * t + 1], c = tri[3 * t + 2];
    if (a >= vertexCount || b >= vertexCount || c >= vertexCount) continue;
    if (SetupTriangle(s, d, a, b, c, outW, outH, sc, drawBackFaces)) drawn++;
  }
  // Draw row by row (a stable counting sort keeps the draw order within a row, so every pixel
  // still ends with the last triangle in draw order, as the triangle-by-triangle TypeScript
  // kernel leaves it) so that reference and output are walked along their rows.
  int32_t* rowStart = sc.rowStart.data();
  std::fill(rowStart, rowStart + outH + 1, 0);
  const size_t spanCount = sc.spanCount;
  const Span* spans = sc.spans.data();
  for (size_t i = 0; i < spanCount; i++) rowStart[spans[i].y + 1]++;
  for (int y = 0; y < outH; y++) rowStart[y + 1] += rowStart[y];
  if (sc.sorted.size() < spanCount) sc.sorted.resize(spanCount + spanCount / 4);
  Span* sorted = sc.sorted.data();
  for (size_t i = 0; i < spanCount; i++) sorted[rowStart[spans[i].y]++] = spans[i];
  const uint8_t* p = padded.Data();
  const int64_t stride = (static_cast<int64_t>(refW) + 1) * 4;
  const int64_t uMax = static_cast<int64_t>(refW - 1) * 65536, vMax = static_cast<int64_t>(refH - 1) * 65536;
  uint8_t* o = out.Data();
#if defined(WARP_HAVE_AVX2)
  if (avx2) {
    DrawSpansAvx2(sc, spanCount, p, stride, uMax, vMax, o, outW);
    return Napi::Number::New(env, static_cast<double>(drawn));
  }
#else
  (void)avx2;
#endif
  for (size_t i = 0; i < spanCount; i++) {
    const Span& sp = sc.sorted[i];
    DrawSpan(sc.maps[sp.tri], sp, p, stride, uMax, vMax, o, outW);
  }
  return Napi::Number::New(env, static_cast<double>(drawn));
}

}  // namespace

void RegisterWarp(Napi::Env env, Napi::Object exports) {
  exports.Set("meshWarp", Napi::Function::New(env, MeshWarp));
}
