// Per-frame pixel kernels of the streaming engine, compiled so that the engine's own CPU
// work stays a few percent of a GPU model's time. Each mirrors a TypeScript function in
// daemon/kernels/imageops.ts / ddim.ts bit for bit where the arithmetic allows
// (float32 tap tables, float64 accumulation); test/kernels/native.test.ts compares them.
// The colour kernels of the virtual cameras mirror daemon/kernels/colour.ts exactly
// (integer arithmetic); test/kernels/colour.test.ts compares them.
#include <napi.h>
#include "warp.h"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

struct Axis {
  std::vector<int32_t> idx;
  std::vector<double> wt;
};

// torch bilinear, align_corners=False: same float32 rounding as fillAxisTable in imageops.ts.
void FillAxis(Axis& a, int inSize, int outSize, int start, int stride) {
  a.idx.resize(2 * outSize);
  a.wt.resize(2 * outSize);
  const float scale = static_cast<float>(static_cast<double>(inSize) / outSize);
  for (int d = 0; d < outSize; d++) {
    float s = (scale * static_cast<float>(d + 0.5)) - 0.5f;
    if (s < 0) s = 0;
    const int i0 = static_cast<int>(s);
    float l1 = s - static_cast<float>(i0);
    if (l1 > 1) l1 = 1;
    const int i1 = i0 < inSize - 1 ? i0 + 1 : i0;
    a.idx[2 * d] = (start + i0) * stride;
    a.idx[2 * d + 1] = (start + i1) * stride;
    a.wt[2 * d] = static_cast<double>(1.0f - l1);
    a.wt[2 * d + 1] = static_cast<double>(l1);
  }
}

bool Fail(const Napi::Env& env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return false;
}

// resampleRgb(src u8, srcW, srcH, x1, y1, x2, y2, dstW, dstH, out f32, offset, channelStride, k[3], b[3])
// Crops [y1:y2, x1:x2] of an interleaved RGB image and resizes it to dstW x dstH planar:
// out = bilinear(v) * k[c] + b[c] (k already divided by 255).
Napi::Value ResampleRgb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 14 || !info[0].IsTypedArray() || !info[9].IsTypedArray() || !info[12].IsTypedArray() || !info[13].IsTypedArray()) {
    Fail(env, "resampleRgb: expected (Uint8Array, srcW, srcH, x1, y1, x2, y2, dstW, dstH, Float32Array, offset, channelStride, Float64Array k, Float64Array b)");
    return env.Undefined();
  }
  auto src = info[0].As<Napi::Uint8Array>();
  const int srcW = info[1].As<Napi::Number>().Int32Value();
  const int srcH = info[2].As<Napi::Number>().Int32Value();
  const int x1 = info[3].As<Napi::Number>().Int32Value();
  const int y1 = info[4].As<Napi::Number>().Int32Value();
  const int x2 = info[5].As<Napi::Number>().Int32Value();
  const int y2 = info[6].As<Napi::Number>().Int32Value();
  const int dstW = info[7].As<Napi::Number>().Int32Value();
  const int dstH = info[8].As<Napi::Number>().Int32Value();
  auto out = info[9].As<Napi::Float32Array>();
  const int64_t offset = info[10].As<Napi::Number>().Int64Value();
  const int64_t channelStride = info[11].As<Napi::Number>().Int64Value();
  auto k = info[12].As<Napi::Float64Array>();
  auto b = info[13].As<Napi::Float64Array>();
  if (srcW <= 0 || srcH <= 0 || dstW <= 0 || dstH <= 0 || x1 < 0 || y1 < 0 || x2 > srcW || y2 > srcH || x2 <= x1 || y2 <= y1 ||
      src.ElementLength() < static_cast<size_t>(srcW) * srcH * 3 || k.ElementLength() < 3 || b.ElementLength() < 3 || offset < 0 ||
      static_cast<size_t>(offset + 2 * channelStride + static_cast<int64_t>(dstW) * dstH) > out.ElementLength()) {
    Fail(env, "resampleRgb: sizes, box or buffers out of range");
    return env.Undefined();
  }
  const uint8_t* s0 = src.Data();
  const int64_t rowBytes0 = static_cast<int64_t>(srcW) * 3;
  if (x1 == 0 && y1 == 0 && x2 == srcW && y2 == srcH && srcW == 2 * dstW && srcH == 2 * dstH) {
    // Exact halving: every tap weight is 0.5, so bilinear is the 2x2 mean.
    float* q0 = out.Data() + offset;
    float* q1 = q0 + channelStride;
    float* q2 = q1 + channelStride;
    const float m0 = static_cast<float>(k[0] * 0.25), m1 = static_cast<float>(k[1] * 0.25), m2 = static_cast<float>(k[2] * 0.25);
    const float c0 = static_cast<float>(b[0]), c1 = static_cast<float>(b[1]), c2 = static_cast<float>(b[2]);
    for (int y = 0; y < dstH; y++) {
      const uint8_t* r0 = s0 + 2 * y * rowBytes0;
      const uint8_t* r1 = r0 + rowBytes0;
      const int64_t row = static_cast<int64_t>(y) * dstW;
      for (int x = 0; x < dstW; x++) {
        const int a = 6 * x;
        q0[row + x] = static_cast<float>(r0[a] + r0[a + 3] + r1[a] + r1[a + 3]) * m0 + c0;
        q1[row + x] = static_cast<float>(r0[a + 1] + r0[a + 4] + r1[a + 1] + r1[a + 4]) * m1 + c1;
        q2[row + x] = static_cast<float>(r0[a + 2] + r0[a + 5] + r1[a + 2] + r1[a + 5]) * m2 + c2;
      }
    }
    return env.Undefined();
  }
  Axis ax, ay;
  FillAxis(ax, x2 - x1, dstW, x1, 3);
  FillAxis(ay, y2 - y1, dstH, y1, 1);
  // Float taps and accumulation (the TypeScript reference accumulates in float64: results
  // agree to ~1e-6 of the value range, which the comparison test allows).
  std::vector<float> wx(ax.wt.begin(), ax.wt.end()), wy(ay.wt.begin(), ay.wt.end());
  float* o0 = out.Data() + offset;
  float* o1 = o0 + channelStride;
  float* o2 = o1 + channelStride;
  const float k0 = static_cast<float>(k[0]), k1 = static_cast<float>(k[1]), k2 = static_cast<float>(k[2]);
  const float b0 = static_cast<float>(b[0]), b1 = static_cast<float>(b[1]), b2 = static_cast<float>(b[2]);
  const int32_t* xi = ax.idx.data();
  const float* xw = wx.data();
  for (int y = 0; y < dstH; y++) {
    const uint8_t* r0 = s0 + ay.idx[2 * y] * rowBytes0;
    const uint8_t* r1 = s0 + ay.idx[2 * y + 1] * rowBytes0;
    const float h0 = wy[2 * y], h1 = wy[2 * y + 1];
    const int64_t row = static_cast<int64_t>(y) * dstW;
    for (int x = 0; x < dstW; x++) {
      const int a = xi[2 * x], c = xi[2 * x + 1];
      const float w0 = xw[2 * x] , w1 = xw[2 * x + 1];
      const float a0 = h0 * w0, a1 = h0 * w1, a2 = h1 * w0, a3 = h1 * w1;
      o0[row + x] = (a0 * r0[a] + a1 * r0[c] + a2 * r1[a] + a3 * r1[c]) * k0 + b0;
      o1[row + x] = (a0 * r0[a + 1] + a1 * r0[c + 1] + a2 * r1[a + 1] + a3 * r1[c + 1]) * k1 + b1;
      o2[row + x] = (a0 * r0[a + 2] + a1 * r0[c + 2] + a2 * r1[a + 2] + a3 * r1[c + 2]) * k2 + b2;
    }
  }
  return env.Undefined();
}

// Branch-free so the compiler vectorises it. b includes +0.5 (round half up, like
// imageops.ts); fmaxf(NaN, 0) is 0, so NaN maps to 0 as in the TypeScript version.
inline uint8_t ToByte(float v, float k, float b) {
  float t = v * k + b;
  t = std::fmax(t, 0.0f);
  t = std::fmin(t, 255.0f);
  return static_cast<uint8_t>(static_cast<int>(t));
}

// planarToRgb(src f32, nhwc 0|1, index, width, height, minus1to1 0|1, out u8)
Napi::Value PlanarToRgb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 7 || !info[0].IsTypedArray() || !info[6].IsTypedArray()) {
    Fail(env, "planarToRgb: expected (Float32Array, nhwc, index, width, height, minus1to1, Uint8Array)");
    return env.Undefined();
  }
  auto src = info[0].As<Napi::Float32Array>();
  const bool nhwc = info[1].As<Napi::Number>().Int32Value() != 0;
  const int64_t index = info[2].As<Napi::Number>().Int64Value();
  const int64_t width = info[3].As<Napi::Number>().Int64Value();
  const int64_t height = info[4].As<Napi::Number>().Int64Value();
  const bool minus1to1 = info[5].As<Napi::Number>().Int32Value() != 0;
  auto out = info[6].As<Napi::Uint8Array>();
  const int64_t n = width * height;
  if (width <= 0 || height <= 0 || index < 0 || static_cast<size_t>((index + 1) * 3 * n) > src.ElementLength() || out.ElementLength() < static_cast<size_t>(3 * n)) {
    Fail(env, "planarToRgb: sizes or buffers out of range");
    return env.Undefined();
  }
  const float k = minus1to1 ? 127.5f : 255.0f;
  const float b = (minus1to1 ? 127.5f : 0.0f) + 0.5f;
  const float* s = src.Data() + index * 3 * n;
  uint8_t* o = out.Data();
  if (nhwc) {
    for (int64_t i = 0; i < 3 * n; i++) o[i] = ToByte(s[i], k, b);
  } else {
    const float* r = s;
    const float* g = s + n;
    const float* bl = s + 2 * n;
    for (int64_t p = 0; p < n; p++) {
      o[3 * p] = ToByte(r[p], k, b);
      o[3 * p + 1] = ToByte(g[p], k, b);
      o[3 * p + 2] = ToByte(bl[p], k, b);
    }
  }
  return env.Undefined();
}

// ddimStep(sample, eps, coef f64[4*frames] = (1/sqrt(a_t), sqrt(1-a_t), sqrt(a_prev), sqrt(1-a_prev)) per frame,
//          channels, frames, plane, outPrev, outX0 | null)
Napi::Value DdimStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 8 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray() || !info[6].IsTypedArray()) {
    Fail(env, "ddimStep: expected (Float32Array sample, Float32Array eps, Float64Array coef, channels, frames, plane, Float32Array outPrev, Float32Array|null outX0)");
    return env.Undefined();
  }
  auto sample = info[0].As<Napi::Float32Array>();
  auto eps = info[1].As<Napi::Float32Array>();
  auto coef = info[2].As<Napi::Float64Array>();
  const int64_t channels = info[3].As<Napi::Number>().Int64Value();
  const int64_t frames = info[4].As<Napi::Number>().Int64Value();
  const int64_t plane = info[5].As<Napi::Number>().Int64Value();
  auto outPrev = info[6].As<Napi::Float32Array>();
  const bool hasX0 = info[7].IsTypedArray();
  const size_t total = static_cast<size_t>(channels * frames * plane);
  if (sample.ElementLength() < total || eps.ElementLength() < total || outPrev.ElementLength() < total || coef.ElementLength() < static_cast<size_t>(4 * frames) ||
      (hasX0 && info[7].As<Napi::Float32Array>().ElementLength() < total)) {
    Fail(env, "ddimStep: buffers smaller than channels*frames*plane");
    return env.Undefined();
  }
  float* x0 = hasX0 ? info[7].As<Napi::Float32Array>().Data() : nullptr;
  const float* xs = sample.Data();
  const float* es = eps.Data();
  float* xp = outPrev.Data();
  for (int64_t c = 0; c < channels; c++) {
    for (int64_t f = 0; f < frames; f++) {
      const double inv = coef[4 * f], s1 = coef[4 * f + 1], sp = coef[4 * f + 2], s1p = coef[4 * f + 3];
      const int64_t base = (c * frames + f) * plane;
      for (int64_t p = 0; p < plane; p++) {
        const double e = es[base + p];
        const double clean = (xs[base + p] - s1 * e) * inv;
        if (x0) x0[base + p] = static_cast<float>(clean);
        xp[base + p] = static_cast<float>(sp * clean + s1p * e);
      }
    }
  }
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------
// Colour conversion for the virtual cameras: the same integers as daemon/kernels/colour.ts
// (BT.601 limited range, 2^16 fixed point, chroma from summed pixels shifted once). Every
// intermediate is non-negative before a shift, so the result does not depend on how the
// compiler shifts negative numbers. The TypeScript wrapper validates arguments with named
// messages first; the checks here only guard memory.

constexpr int32_t kYR = 16829, kYG = 33039, kYB = 6416;
constexpr int32_t kUR = -9714, kUG = -19070, kUB = 28784;
constexpr int32_t kVR = 28784, kVG = -24103, kVB = -4681;
constexpr int32_t kYBias = (16 << 16) + (1 << 15);
constexpr int32_t kUvBias4 = (128 << 18) + (1 << 17);
constexpr int32_t kUvBias2 = (128 << 17) + (1 << 16);

inline uint8_t Luma(int32_t r, int32_t g, int32_t b) {
  return static_cast<uint8_t>((kYR * r + kYG * g + kYB * b + kYBias) >> 16);
}

// Reads (Uint8Array src, width, height, Uint8Array out) and checks src >= w*h*srcBpp and
// out >= outBytes(w, h); false (with a TypeError pending) otherwise.
bool ImageArgs(const Napi::CallbackInfo& info, const char* usage, int64_t srcBytesPerPixel, int64_t outNum, int64_t outDen,
               bool evenW, bool evenH, Napi::Uint8Array* src, int* w, int* h, Napi::Uint8Array* out) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return Fail(env, usage);
  }
  *src = info[0].As<Napi::Uint8Array>();
  *w = info[1].As<Napi::Number>().Int32Value();
  *h = info[2].As<Napi::Number>().Int32Value();
  *out = info[3].As<Napi::Uint8Array>();
  const int64_t n = static_cast<int64_t>(*w) * *h;
  if (*w <= 0 || *h <= 0 || (evenW && (*w & 1)) || (evenH && (*h & 1)) || static_cast<int64_t>(src->ElementLength()) < n * srcBytesPerPixel ||
      static_cast<int64_t>(out->ElementLength()) < n * outNum / outDen) {
    return Fail(env, "colour kernel: sizes or buffers out of range");
  }
  return true;
}

// The per-pixel loops read RGB24 with a stride of 3, which compilers vectorise only with
// byte shuffles (SSSE3/AVX2 on x86, NEON's vld3 on ARM). On x86-64 Linux the spans are
// compiled twice and picked at load time (ifunc): ~2.5x faster with AVX2 than the SSE2
// baseline that a portable build is limited to. The arithmetic is integer either way, so
// every clone gives the same bytes.
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define PL_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef PL_VECTOR_CLONES
#define PL_VECTOR_CLONES
#endif

// Pixels per span: the chroma products of one span live on the stack (no allocation).
constexpr int kSpan = 512;

// One span of n (even) pixels of a row pair: both luma rows, and n/2 CbCr pairs from the
// 2x2 sums. The chroma matrix is linear, so summing per-pixel products equals the product
// of the summed pixels: the same integers as colour.ts, in loops that vectorise.
PL_VECTOR_CLONES void Nv12Span(const uint8_t* __restrict s0, const uint8_t* __restrict s1, uint8_t* __restrict y0, uint8_t* __restrict y1,
                               uint8_t* __restrict uv, int n) {
  int32_t cu[kSpan], cv[kSpan];
  for (int x = 0; x < n; x++) {
    const int32_t r0 = s0[3 * x], g0 = s0[3 * x + 1], b0 = s0[3 * x + 2];
    const int32_t r1 = s1[3 * x], g1 = s1[3 * x + 1], b1 = s1[3 * x + 2];
    y0[x] = Luma(r0, g0, b0);
    y1[x] = Luma(r1, g1, b1);
    const int32_t r = r0 + r1, g = g0 + g1, b = b0 + b1;
    cu[x] = kUR * r + kUG * g + kUB * b;
    cv[x] = kVR * r + kVG * g + kVB * b;
  }
  for (int x = 0; x < n / 2; x++) {
    uv[2 * x] = static_cast<uint8_t>((cu[2 * x] + cu[2 * x + 1] + kUvBias4) >> 18);
    uv[2 * x + 1] = static_cast<uint8_t>((cv[2 * x] + cv[2 * x + 1] + kUvBias4) >> 18);
  }
}

// One span of n (even) pixels to YUYV: Y0 Cb Y1 Cr per pair.
PL_VECTOR_CLONES void YuyvSpan(const uint8_t* __restrict s, uint8_t* __restrict o, int n) {
  int32_t cu[kSpan], cv[kSpan];
  uint8_t luma[kSpan];
  for (int x = 0; x < n; x++) {
    const int32_t r = s[3 * x], g = s[3 * x + 1], b = s[3 * x + 2];
    luma[x] = Luma(r, g, b);
    cu[x] = kUR * r + kUG * g + kUB * b;
    cv[x] = kVR * r + kVG * g + kVB * b;
  }
  for (int p = 0; p < n / 2; p++) {
    o[4 * p] = luma[2 * p];
    o[4 * p + 1] = static_cast<uint8_t>((cu[2 * p] + cu[2 * p + 1] + kUvBias2) >> 17);
    o[4 * p + 2] = luma[2 * p + 1];
    o[4 * p + 3] = static_cast<uint8_t>((cv[2 * p] + cv[2 * p + 1] + kUvBias2) >> 17);
  }
}

// rgbToNv12(rgb u8, width, height, out u8): Y plane then interleaved CbCr, 2x2 means.
Napi::Value RgbToNv12(const Napi::CallbackInfo& info) {
  Napi::Uint8Array src, out;
  int w = 0, h = 0;
  if (!ImageArgs(info, "rgbToNv12: expected (Uint8Array rgb, width, height, Uint8Array out)", 3, 3, 2, true, true, &src, &w, &h, &out)) {
    return info.Env().Undefined();
  }
  const uint8_t* s = src.Data();
  uint8_t* yPlane = out.Data();
  uint8_t* uvPlane = yPlane + static_cast<size_t>(w) * h;
  const size_t rowBytes = static_cast<size_t>(w) * 3;
  for (int y = 0; y < h; y += 2) {
    const uint8_t* s0 = s + static_cast<size_t>(y) * rowBytes;
    uint8_t* y0 = yPlane + static_cast<size_t>(y) * w;
    uint8_t* uv = uvPlane + static_cast<size_t>(y / 2) * w;
    for (int x = 0; x < w; x += kSpan) {
      const int n = std::min(kSpan, w - x);
      Nv12Span(s0 + 3 * x, s0 + rowBytes + 3 * x, y0 + x, y0 + w + x, uv + x, n);
    }
  }
  return info.Env().Undefined();
}

// rgbToYuyv(rgb u8, width, height, out u8). Width is even, so pairs never straddle rows
// and the image is one stream of pixels.
Napi::Value RgbToYuyv(const Napi::CallbackInfo& info) {
  Napi::Uint8Array src, out;
  int w = 0, h = 0;
  if (!ImageArgs(info, "rgbToYuyv: expected (Uint8Array rgb, width, height, Uint8Array out)", 3, 2, 1, true, false, &src, &w, &h, &out)) {
    return info.Env().Undefined();
  }
  const int64_t n = static_cast<int64_t>(w) * h;
  for (int64_t x = 0; x < n; x += kSpan) {
    YuyvSpan(src.Data() + 3 * x, out.Data() + 2 * x, static_cast<int>(std::min<int64_t>(kSpan, n - x)));
  }
  return info.Env().Undefined();
}

// quadToRgb(src u8, width, height, out u8, stride, redIndex 0|2): RGBA/BGRA rows -> RGB24.
Napi::Value QuadToRgb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 6 || !info[0].IsTypedArray() || !info[3].IsTypedArray()) {
    Fail(env, "quadToRgb: expected (Uint8Array src, width, height, Uint8Array out, stride, redIndex)");
    return env.Undefined();
  }
  auto src = info[0].As<Napi::Uint8Array>();
  const int64_t w = info[1].As<Napi::Number>().Int64Value();
  const int64_t h = info[2].As<Napi::Number>().Int64Value();
  auto out = info[3].As<Napi::Uint8Array>();
  const int64_t stride = info[4].As<Napi::Number>().Int64Value();
  const int redIndex = info[5].As<Napi::Number>().Int32Value();
  if (w <= 0 || h <= 0 || stride < 4 * w || (redIndex != 0 && redIndex != 2) ||
      static_cast<int64_t>(src.ElementLength()) < stride * (h - 1) + 4 * w || static_cast<int64_t>(out.ElementLength()) < 3 * w * h) {
    Fail(env, "quadToRgb: sizes or buffers out of range");
    return env.Undefined();
  }
  const int blueIndex = 2 - redIndex;
  uint8_t* o = out.Data();
  for (int64_t y = 0; y < h; y++) {
    const uint8_t* s = src.Data() + y * stride;
    for (int64_t x = 0; x < w; x++, s += 4, o += 3) {
      o[0] = s[redIndex];
      o[1] = s[1];
      o[2] = s[blueIndex];
    }
  }
  return env.Undefined();
}

// rgbToQuad(rgb u8, width, height, out u8, redIndex 0|2, alpha): RGB24 -> packed RGBA/BGRA.
Napi::Value RgbToQuad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 6 || !info[0].IsTypedArray() || !info[3].IsTypedArray()) {
    Fail(env, "rgbToQuad: expected (Uint8Array rgb, width, height, Uint8Array out, redIndex, alpha)");
    return env.Undefined();
  }
  auto src = info[0].As<Napi::Uint8Array>();
  const int64_t w = info[1].As<Napi::Number>().Int64Value();
  const int64_t h = info[2].As<Napi::Number>().Int64Value();
  auto out = info[3].As<Napi::Uint8Array>();
  const int redIndex = info[4].As<Napi::Number>().Int32Value();
  const int alpha = info[5].As<Napi::Number>().Int32Value();
  if (w <= 0 || h <= 0 || (redIndex != 0 && redIndex != 2) || alpha < 0 || alpha > 255 ||
      static_cast<int64_t>(src.ElementLength()) < 3 * w * h || static_cast<int64_t>(out.ElementLength()) < 4 * w * h) {
    Fail(env, "rgbToQuad: sizes or buffers out of range");
    return env.Undefined();
  }
  const int blueIndex = 2 - redIndex;
  const uint8_t* s = src.Data();
  uint8_t* o = out.Data();
  const uint8_t a = static_cast<uint8_t>(alpha);
  for (int64_t p = 0, n = w * h; p < n; p++, s += 3, o += 4) {
    o[redIndex] = s[0];
    o[1] = s[1];
    o[blueIndex] = s[2];
    o[3] = a;
  }
  return env.Undefined();
}

// composePicture(src u8, side, out u8, outW, outH, left, top, size, xIndex i32, xWeight u16,
//                yIndex i32, yWeight u16, xAlpha u16, yAlpha u16)
// The camera picture's animation box (daemon/kernels/compose.ts PictureComposer.compose, the
// same integer arithmetic): bilinear from the side x side source through the caller's tables
// (8-bit weights), blended over what `out` holds (the background) by the feather (0-256).
Napi::Value ComposePicture(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 14 || !info[0].IsTypedArray() || !info[2].IsTypedArray()) {
    Fail(env, "composePicture: expected (Uint8Array, side, Uint8Array, outW, outH, left, top, size, Int32Array, Uint16Array, Int32Array, Uint16Array, Uint16Array, Uint16Array)");
    return env.Undefined();
  }
  auto src = info[0].As<Napi::Uint8Array>();
  const int side = info[1].As<Napi::Number>().Int32Value();
  auto out = info[2].As<Napi::Uint8Array>();
  const int W = info[3].As<Napi::Number>().Int32Value();
  const int H = info[4].As<Napi::Number>().Int32Value();
  const int left = info[5].As<Napi::Number>().Int32Value();
  const int top = info[6].As<Napi::Number>().Int32Value();
  const int size = info[7].As<Napi::Number>().Int32Value();
  auto xIndex = info[8].As<Napi::Int32Array>();
  auto xWeight = info[9].As<Napi::Uint16Array>();
  auto yIndex = info[10].As<Napi::Int32Array>();
  auto yWeight = info[11].As<Napi::Uint16Array>();
  auto xAlpha = info[12].As<Napi::Uint16Array>();
  auto yAlpha = info[13].As<Napi::Uint16Array>();
  if (side < 2 || W < 2 || H < 2 || size < 1 || src.ElementLength() < static_cast<size_t>(side) * side * 3 || out.ElementLength() < static_cast<size_t>(W) * H * 3 ||
      xIndex.ElementLength() < static_cast<size_t>(size) || yIndex.ElementLength() < static_cast<size_t>(size) || xWeight.ElementLength() < static_cast<size_t>(size) ||
      yWeight.ElementLength() < static_cast<size_t>(size) || xAlpha.ElementLength() < static_cast<size_t>(size) || yAlpha.ElementLength() < static_cast<size_t>(size)) {
    Fail(env, "composePicture: sizes or buffers out of range");
    return env.Undefined();
  }
  const uint8_t* s = src.Data();
  uint8_t* o = out.Data();
  const int64_t rowBytes = static_cast<int64_t>(side) * 3;
  for (int by = 0; by < size; by++) {
    const int y = top + by;
    if (y < 0 || y >= H) continue;
    const int sy = std::min(std::max(yIndex[by], 0), side - 2);
    const int32_t wy = yWeight[by];
    const int32_t ay = yAlpha[by];
    const uint8_t* row0 = s + sy * rowBytes;
    const uint8_t* row1 = row0 + rowBytes;
    uint8_t* d = o + (static_cast<int64_t>(y) * W + left) * 3;
    for (int bx = 0; bx < size; bx++, d += 3) {
      const int x = left + bx;
      if (x < 0 || x >= W) continue;
      const int sx = std::min(std::max(xIndex[bx], 0), side - 2) * 3;
      const int32_t wx = xWeight[bx];
      const int32_t alpha = std::min(ay, static_cast<int32_t>(xAlpha[bx]));
      for (int c = 0; c < 3; c++) {
        const int32_t a = row0[sx + c], b = row0[sx + 3 + c], e = row1[sx + c], f = row1[sx + 3 + c];
        const int32_t top0 = a * 256 + (b - a) * wx;
        const int32_t bottom0 = e * 256 + (f - e) * wx;
        const int32_t value = (top0 * 256 + (bottom0 - top0) * wy) >> 16;
        d[c] = static_cast<uint8_t>(alpha >= 256 ? value : (d[c] * (256 - alpha) + value * alpha) >> 8);
      }
    }
  }
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("composePicture", Napi::Function::New(env, ComposePicture));
  exports.Set("resampleRgb", Napi::Function::New(env, ResampleRgb));
  exports.Set("planarToRgb", Napi::Function::New(env, PlanarToRgb));
  exports.Set("ddimStep", Napi::Function::New(env, DdimStep));
  exports.Set("rgbToNv12", Napi::Function::New(env, RgbToNv12));
  exports.Set("rgbToYuyv", Napi::Function::New(env, RgbToYuyv));
  exports.Set("quadToRgb", Napi::Function::New(env, QuadToRgb));
  exports.Set("rgbToQuad", Napi::Function::New(env, RgbToQuad));
  RegisterWarp(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(personalive_kernels, Init)
