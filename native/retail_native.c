// Convolutions for the wasm backend done natively with OpenBLAS, reading and writing the wasm
// heap in place (zero copies): XNNPACK under wasm is limited to 128-bit SIMD on one thread
// (~27 GFLOP/s here), OpenBLAS uses AVX2/AVX-512 on every core (~85 GFLOP/s per core).
//
// Convolutions are im2col + GEMM, per group, on NHWC activations and HWIO filters (except thin
// groups, which run direct kernels, and stride-1 input gradients, which are convolutions of dy:
// both below):
//   col[p, g, kh, kw, ci]   = xpad[n, oy*sh + kh, ox*sw + kw, g*cg + ci]   p = (n, oy, ox)
//   y[p, g*og + o]          = sum_k col[p, g, k] W[k, g*og + o]            k = (kh, kw, ci)
//   dW[k, g*og + o]         = sum_p col[p, g, k] dy[p, g*og + o]
//   dcol[p, g, k]           = sum_o dy[p, g*og + o] W[k, g*og + o]  then dx = col2im(dcol)
// Group g's block of col is contiguous in k (leading dimension K = KH*KW*Ci), and its filter
// columns are a column block of W (leading dimension Co), so groups need no copies.
// Rows are processed in chunks so that the column buffer stays small and warm in cache.
#include <cblas.h>
#include <math.h>
#include <node_api.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  int64_t N, H, W, Ci, KH, KW, Co, G, sh, sw, top, left, Ho, Wo;
} Conv;

// Parameters arrive as a Float64Array: offsets into the heap first, then the shape.
static int read_args(napi_env env, napi_callback_info info, uint8_t **heap, double **p, size_t *np) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return 0;
  size_t heap_len;
  if (napi_get_arraybuffer_info(env, argv[0], (void **)heap, &heap_len) != napi_ok) return 0;
  napi_typedarray_type type;
  size_t len, off;
  napi_value ab;
  void *data;
  if (napi_get_typedarray_info(env, argv[1], &type, &len, &data, &ab, &off) != napi_ok || type != napi_float64_array) return 0;
  *p = (double *)data;
  *np = len;
  return 1;
}

static Conv read_conv(const double *p) {
  Conv c = {(int64_t)p[0], (int64_t)p[1], (int64_t)p[2], (int64_t)p[3], (int64_t)p[4], (int64_t)p[5], (int64_t)p[6],
            (int64_t)p[7], (int64_t)p[8], (int64_t)p[9], (int64_t)p[10], (int64_t)p[11], (int64_t)p[12], (int64_t)p[13]};
  return c;
}

// Every entry point starts the same way: heap and parameters, at least `count` of them.
#define ENTRY(name, count)                                                              \
  uint8_t *heap;                                                                        \
  double *p;                                                                            \
  size_t np;                                                                            \
  if (!read_args(env, info, &heap, &p, &np) || np < (count)) return fail(env, name "(heap, params): bad arguments")
// The float tensor at heap offset p[i].
#define F32(i) ((float *)(heap + (int64_t)p[i]))

static int is_pointwise(const Conv *c) {
  return c->KH == 1 && c->KW == 1 && c->sh == 1 && c->sw == 1 && c->top == 0 && c->left == 0 && c->G == 1;
}

// --- Direct grouped convolution for thin groups ----------------------------------------------
// With few channels per group (og = Co / G = cg = Ci / G of 4, 8 or 16: ResNeXt's first two
// stages), each group's GEMM is [rows x Kg] x [Kg x og], too thin for OpenBLAS. Here the sums
// run directly over the taps and the group's input channels:
//   y[p, g*og + o]        = sum_{tap, ci} x[pixel(p, tap), g*cg + ci] * w[tap, ci, g*og + o]
//   dw[tap, ci, g*og + o] = sum_p x[pixel(p, tap), g*cg + ci] * dy[p, g*og + o]
// register-blocked: the forward keeps PX output pixels' outputs in vector registers, so each
// weight load feeds PX independent multiply-add chains (the previous version kept one group's
// og outputs, one chain that waited on its own latency); the filter gradient keeps a CB x og
// block of dw in registers while it runs over PB pixels. og and cg are compile-time constants
// (parameters would not survive OpenMP outlining the loop into its own function), and VT is a
// vector of VW floats (GCC's vector extension: AVX2 registers here, plain code elsewhere).
// The input gradient of a stride-1 convolution is a forward convolution of dy (transposed_conv,
// below), so it runs these kernels too. Work is split across the OpenMP threads (worker_count(),
// below): by output pixel, and by pixel into per-thread dw copies.
// Measured forward, 2 threads, ResNeXt-101's grouped 3x3 at batch 4, best of 9 (GFLOP/s, direct
// against one GEMM per group): og 8 52 vs 20, og 16 72 vs 41; og 32 55 (2 x 16 outputs per
// block) vs 64, so og 32 and wider stay GEMMs.
typedef float v4 __attribute__((vector_size(16)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4u __attribute__((vector_size(16), aligned(4))); // unaligned loads and stores
typedef float v8u __attribute__((vector_size(32), aligned(4)));

static int worker_count(void);

// What follows the sums in a fused convolution, per output channel o and row r (each part
// optional): y[r, o] = act(y[r, o] * scale[o] + bias[o] + res[r, o]). Inference folds batch norm
// into scale and bias, and a residual block's shortcut into res.
typedef struct {
  const float *scale, *bias, *res;
  int relu;
} Epilogue;

static int has_epilogue(const Epilogue *e) { return e->scale || e->bias || e->res || e->relu; }

// The epilogue on rows [r0, r0 + rows) of y.
static void epilogue_rows(const Epilogue *e, float *y, int64_t r0, int64_t rows, int64_t Co) {
  for (int64_t i = r0; i < r0 + rows; i++) {
    float *r = y + i * Co;
    if (e->scale) for (int64_t o = 0; o < Co; o++) r[o] *= e->scale[o];
    if (e->bias) for (int64_t o = 0; o < Co; o++) r[o] += e->bias[o];
    if (e->res) for (int64_t o = 0; o < Co; o++) r[o] += e->res[i * Co + o];
    if (e->relu) for (int64_t o = 0; o < Co; o++) r[o] = r[o] > 0.f ? r[o] : 0.f;
  }
}

// Reductions across threads are deterministic: work is cut into `slots` fixed ranges, slot s
// taking items [lo, hi) of n (slot_range), each slot sums into its own copy of the result, and
// the copies are added in slot order. Which thread runs a slot does not matter, so the same
// inputs and thread count give the same bytes whatever the scheduler does (a thread taking
// chunks as it frees up, `schedule(dynamic)`, made the sums' order vary from run to run).
static inline void slot_range(int64_t n, int slots, int s, int64_t *lo, int64_t *hi) {
  *lo = n * s / slots;
  *hi = n * (s + 1) / slots;
}

// out[i] = sum over the T per-slot copies parts[t * size + i], in slot order, on T threads:
// the filter gradients sum into a copy of dw per slot.
static void sum_thread_copies(const float *parts, int T, int64_t size, float *out) {
#pragma omp parallel for num_threads(T) schedule(static)
  for (int64_t i = 0; i < size; i++) {
    float v = 0.f;
    for (int t = 0; t < T; t++) v += parts[(int64_t)t * size + i];
    out[i] = v;
  }
}


// For the PX output pixels from flat index p0: ptr[tap * PX + i] is the x pixel that pixel i reads
// at that tap, or `zero` (a row of Ci zeros) where the tap falls outside x or the pixel past P.
static void tap_pointers(const Conv *c, const float *x, const float *zero, int64_t p0, int PX, const float **ptr) {
  const int64_t HW = c->Ho * c->Wo, P = c->N * HW;
  for (int i = 0; i < PX; i++) {
    const int64_t p = p0 + i, n = p / HW, oy = (p % HW) / c->Wo, ox = p % c->Wo;
    for (int64_t kh = 0; kh < c->KH; kh++)
      for (int64_t kw = 0; kw < c->KW; kw++) {
        const int64_t iy = oy * c->sh + kh - c->top, ix = ox * c->sw + kw - c->left;
        const int inside = p < P && iy >= 0 && iy < c->H && ix >= 0 && ix < c->W;
        ptr[(kh * c->KW + kw) * PX + i] = inside ? x + ((n * c->H + iy) * c->W + ix) * c->Ci : zero;
      }
  }
}

// direct_fwd_OG: y = conv(x, w), PX pixels by NV vectors of outputs at a time (a group's og
// outputs in og / (NV*VW) such blocks), in tasks of NB pixel blocks, group by group: a group's
// filter block and the x rows its NB*PX pixels read stay in L1 while the blocks run (block by
// block, every group, they did not: 18 GFLOP/s at og = 8). The epilogue (optional) runs on each
// task's rows once every group has written them; -1 when out of memory.
#define DIRECT_FWD(OG, CG, VT, VW, NV, PX, NB)                                                             \
static int direct_fwd_##OG(const Conv *c, const float *x, const float *w, const Epilogue *e, float *y) {   \
  enum { cg = CG, OB = NV * VW };                                                                          \
  const int64_t taps = c->KH * c->KW, P = c->N * c->Ho * c->Wo;                                             \
  const int64_t tasks = (P + PX * NB - 1) / (PX * NB);                                                      \
  float *zero = calloc(c->Ci, sizeof(float));                                                              \
  if (!zero) return -1;                                                                                    \
_Pragma("omp parallel for num_threads(worker_count()) schedule(static)")                                  \
  for (int64_t task = 0; task < tasks; task++) {                                                           \
    const int64_t q0 = task * PX * NB;                                                                     \
    const int nb = P - q0 < PX * NB ? (int)((P - q0 + PX - 1) / PX) : NB;                                   \
    const float *ptr[NB * taps * PX];                                                                      \
    for (int b = 0; b < nb; b++) tap_pointers(c, x, zero, q0 + b * PX, PX, ptr + b * taps * PX);           \
    for (int64_t g = 0; g < c->G; g++)                                                                     \
      for (int o0 = 0; o0 < OG; o0 += OB)                                                                  \
        for (int b = 0; b < nb; b++) {                                                                     \
          const int64_t p0 = q0 + b * PX;                                                                  \
          VT acc[PX][NV];                                                                                  \
          for (int i = 0; i < PX; i++)                                                                     \
            for (int j = 0; j < NV; j++) acc[i][j] = (VT){0};                                              \
          for (int64_t t = 0; t < taps; t++) {                                                             \
            const float *wt = w + t * cg * c->Co + g * OG + o0;                                            \
            const float *const *pt = ptr + (b * taps + t) * PX;                                            \
            for (int ci = 0; ci < CG; ci++) {                                                              \
              VT wv[NV];                                                                                   \
              for (int j = 0; j < NV; j++) wv[j] = *(const VT##u *)(wt + ci * c->Co + j * VW);             \
              for (int i = 0; i < PX; i++) {                                                               \
                const float xs = pt[i][g * cg + ci];                                                       \
                for (int j = 0; j < NV; j++) acc[i][j] += wv[j] * xs;                                      \
              }                                                                                            \
            }                                                                                              \
          }                                                                                                \
          for (int i = 0; i < PX && p0 + i < P; i++)                                                       \
            for (int j = 0; j < NV; j++) *(VT##u *)(y + (p0 + i) * c->Co + g * OG + o0 + j * VW) = acc[i][j]; \
        }                                                                                                  \
    if (e && has_epilogue(e)) epilogue_rows(e, y, q0, P - q0 < PX * NB ? P - q0 : PX * NB, c->Co);         \
  }                                                                                                        \
  free(zero);                                                                                              \
  return 0;                                                                                                \
}

// direct_filter_grad_OG: dw = sum over pixels, CB input channels x og outputs at a time, PB
// pixels per task, into per-slot copies of dw that are added at the end; needs cg % CB == 0;
// -1 when out of memory.
#define DIRECT_FILTER_GRAD(OG, CG, VT, VW, CB, PB)                                                             \
static int direct_filter_grad_##OG(const Conv *c, const float *x, const float *dy, float *dw) {            \
  enum { NV = OG / VW, cg = CG };                                                                          \
  const int64_t taps = c->KH * c->KW, P = c->N * c->Ho * c->Wo, blocks = (P + PB - 1) / PB;                 \
  const int64_t size = taps * cg * c->Co;                                                                  \
  const int T = worker_count();                                                                            \
  float *zero = calloc(c->Ci, sizeof(float)), *part = calloc((size_t)T * size, sizeof(float));            \
  if (!zero || !part) {                                                                                    \
    free(zero);                                                                                            \
    free(part);                                                                                            \
    return -1;                                                                                             \
  }                                                                                                        \
_Pragma("omp parallel for num_threads(T) schedule(static, 1)")                                             \
  for (int s = 0; s < T; s++) {                                                                            \
    float *dwt = part + (int64_t)s * size;                                                                 \
    const float *ptr[taps * PB];                                                                           \
    int64_t b0, b1;                                                                                        \
    slot_range(blocks, T, s, &b0, &b1);                                                                    \
    for (int64_t b = b0; b < b1; b++) {                                                                    \
      const int64_t p0 = b * PB, rows = P - p0 < PB ? P - p0 : PB;                                         \
      tap_pointers(c, x, zero, p0, PB, ptr);                                                               \
      for (int64_t g = 0; g < c->G; g++)                                                                   \
        for (int64_t t = 0; t < taps; t++) {                                                               \
          const float *const *pt = ptr + t * PB;                                                           \
          const float *dyg = dy + p0 * c->Co + g * OG;                                                     \
          for (int c0 = 0; c0 < CG; c0 += CB) {                                                            \
            float *d = dwt + (t * cg + c0) * c->Co + g * OG;                                               \
            VT acc[CB][NV];                                                                                \
            for (int k = 0; k < CB; k++)                                                                   \
              for (int j = 0; j < NV; j++) acc[k][j] = *(const VT##u *)(d + k * c->Co + j * VW);           \
            for (int64_t i = 0; i < rows; i++) {                                                           \
              VT dv[NV];                                                                                   \
              for (int j = 0; j < NV; j++) dv[j] = *(const VT##u *)(dyg + i * c->Co + j * VW);             \
              const float *xr = pt[i] + g * cg + c0;                                                       \
              for (int k = 0; k < CB; k++) {                                                               \
                const float xs = xr[k];                                                                    \
                for (int j = 0; j < NV; j++) acc[k][j] += dv[j] * xs;                                      \
              }                                                                                            \
            }                                                                                              \
            for (int k = 0; k < CB; k++)                                                                   \
              for (int j = 0; j < NV; j++) *(VT##u *)(d + k * c->Co + j * VW) = acc[k][j];                 \
          }                                                                                                \
        }                                                                                                  \
    }                                                                                                      \
  }                                                                                                        \
  sum_thread_copies(part, T, size, dw);                                                                    \
  free(zero);                                                                                              \
  free(part);                                                                                              \
  return 0;                                                                                                \
}

DIRECT_FWD(4, 4, v4, 4, 1, 8, 8)
DIRECT_FWD(8, 8, v8, 8, 1, 8, 8)
DIRECT_FWD(16, 16, v8, 8, 2, 6, 10)
DIRECT_FILTER_GRAD(4, 4, v4, 4, 4, 32)
DIRECT_FILTER_GRAD(8, 8, v8, 8, 8, 32)
DIRECT_FILTER_GRAD(16, 16, v8, 8, 4, 32)

// The output channels per group of a grouped convolution the direct kernels take (4, 8, 16), else 0.
static int direct_og(const Conv *c) {
  const int64_t og = c->G > 1 ? c->Co / c->G : 0;
  return (og == 4 || og == 8 || og == 16) && c->Ci / c->G == og ? (int)og : 0;
}

// y = conv(x, w) (then the epilogue e, if any) through the direct kernel for og (one of
// direct_og's); -1 when out of memory.
static int direct_fwd(int og, const Conv *c, const float *x, const float *w, const Epilogue *e, float *y) {
  return og == 4 ? direct_fwd_4(c, x, w, e, y) : og == 8 ? direct_fwd_8(c, x, w, e, y) : direct_fwd_16(c, x, w, e, y);
}

static int direct_filter_grad(int og, const Conv *c, const float *x, const float *dy, float *dw) {
  return og == 4 ? direct_filter_grad_4(c, x, dy, dw) : og == 8 ? direct_filter_grad_8(c, x, dy, dw) : direct_filter_grad_16(c, x, dy, dw);
}

// Rows per chunk: about 4 MB of columns, at least 64 rows.
static int64_t chunk_rows(const Conv *c) {
  int64_t K = c->KH * c->KW * c->Ci;
  int64_t r = (4 << 20) / (4 * K);
  return r < 64 ? 64 : r;
}

// The filter columns [lo, hi) of a window starting at column ix0 that fall inside the image.
static void inside_run(const Conv *c, int64_t ix0, int64_t *lo, int64_t *hi) {
  int64_t l = -ix0, h = c->W - ix0;
  if (l < 0) l = 0;
  if (l > c->KW) l = c->KW;
  if (h > c->KW) h = c->KW;
  if (h < l) h = l;
  *lo = l;
  *hi = h;
}

// col rows [p0, p1) of the patch matrix, layout [p, g, kh, kw, cg].
static void im2col(const Conv *c, const float *x, float *col, int64_t p0, int64_t p1) {
  const int64_t cg = c->Ci / c->G, K = c->KH * c->KW * c->Ci;
  for (int64_t p = p0; p < p1; p++) {
    const int64_t n = p / (c->Ho * c->Wo), oy = (p / c->Wo) % c->Ho, ox = p % c->Wo;
    float *row = col + (p - p0) * K;
    for (int64_t kh = 0; kh < c->KH; kh++) {
      const int64_t iy = oy * c->sh + kh - c->top;
      const int64_t ix0 = ox * c->sw - c->left;
      if (c->G == 1) {
        // One group: a filter row's patch is one contiguous run of x (kw, ci), zero outside.
        float *dst = row + kh * c->KW * c->Ci;
        if (iy < 0 || iy >= c->H) {
          memset(dst, 0, c->KW * c->Ci * sizeof(float));
          continue;
        }
        int64_t lo, hi;
        inside_run(c, ix0, &lo, &hi);
        memset(dst, 0, lo * c->Ci * sizeof(float));
        memcpy(dst + lo * c->Ci, x + ((n * c->H + iy) * c->W + ix0 + lo) * c->Ci, (hi - lo) * c->Ci * sizeof(float));
        memset(dst + hi * c->Ci, 0, (c->KW - hi) * c->Ci * sizeof(float));
        continue;
      }
      for (int64_t kw = 0; kw < c->KW; kw++) {
        const int64_t ix = ix0 + kw;
        const int inside = iy >= 0 && iy < c->H && ix >= 0 && ix < c->W;
        const float *src = x + ((n * c->H + iy) * c->W + ix) * c->Ci;
        for (int64_t g = 0; g < c->G; g++) {
          float *dst = row + g * (K / c->G) + (kh * c->KW + kw) * cg;
          if (inside) memcpy(dst, src + g * cg, cg * sizeof(float));
          else memset(dst, 0, cg * sizeof(float));
        }
      }
    }
  }
}

// dx += col2im(dcol rows [p0, p1)).
static void col2im(const Conv *c, const float *col, float *dx, int64_t p0, int64_t p1) {
  const int64_t cg = c->Ci / c->G, K = c->KH * c->KW * c->Ci;
  for (int64_t p = p0; p < p1; p++) {
    const int64_t n = p / (c->Ho * c->Wo), oy = (p / c->Wo) % c->Ho, ox = p % c->Wo;
    const float *row = col + (p - p0) * K;
    for (int64_t kh = 0; kh < c->KH; kh++) {
      const int64_t iy = oy * c->sh + kh - c->top;
      if (iy < 0 || iy >= c->H) continue;
      if (c->G == 1) {
        // One group: the filter row's patch is one contiguous run of dx.
        const int64_t ix0 = ox * c->sw - c->left;
        int64_t lo, hi;
        inside_run(c, ix0, &lo, &hi);
        const float *src = row + (kh * c->KW + lo) * c->Ci;
        float *dst = dx + ((n * c->H + iy) * c->W + ix0 + lo) * c->Ci;
        for (int64_t i = 0; i < (hi - lo) * c->Ci; i++) dst[i] += src[i];
        continue;
      }
      for (int64_t kw = 0; kw < c->KW; kw++) {
        const int64_t ix = ox * c->sw + kw - c->left;
        if (ix < 0 || ix >= c->W) continue;
        float *dst = dx + ((n * c->H + iy) * c->W + ix) * c->Ci;
        for (int64_t g = 0; g < c->G; g++) {
          const float *src = row + g * (K / c->G) + (kh * c->KW + kw) * cg;
          float *d = dst + g * cg;
          for (int64_t i = 0; i < cg; i++) d[i] += src[i];
        }
      }
    }
  }
}

static napi_value undefined_value(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

// Row chunks for the threads: at most `cap` rows each, and a chunk for every thread.
typedef struct {
  int64_t rows, count;
  int threads;
} Chunks;
static Chunks plan_chunks(int64_t P, int64_t cap) {
  const int T = worker_count();
  Chunks k = {cap, 0, 1};
  if (T > 1 && (P + T - 1) / T < k.rows) k.rows = (P + T - 1) / T;
  k.count = (P + k.rows - 1) / k.rows;
  k.threads = k.count < T ? (int)k.count : T;
  return k;
}

// The patch-matrix path in chunks of rows that threads take whole: each does its chunk's im2col,
// the GEMMs (one per group) and the epilogue while the rows are in cache. Threading inside each
// GEMM instead left im2col and the epilogue on one core, and the grouped GEMMs
// ([rows x Kg] x [Kg x og], og = 16-64) are too small to split well. A 1x1 convolution's patch
// rows are x's own rows: one chunk per thread, no buffer. Threads take chunks as they free up:
// every chunk writes its own rows of y, so the order does not change a value. Returns -1 when
// out of memory.
static int conv2d_chunks(const Conv *c, const float *x, const float *w, const Epilogue *e, float *y) {
  const int64_t P = c->N * c->Ho * c->Wo, K = c->KH * c->KW * c->Ci, og = c->Co / c->G, Kg = K / c->G;
  const int pointwise = is_pointwise(c);
  const Chunks k = plan_chunks(P, pointwise ? P : chunk_rows(c));
  const int64_t R = k.rows, chunks = k.count;
  const int threads = k.threads;
  float *cols = pointwise ? NULL : malloc(sizeof(float) * R * K * threads);
  if (!pointwise && !cols) return -1;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t ch = 0; ch < chunks; ch++) {
    const int64_t p0 = ch * R, rows = P - p0 < R ? P - p0 : R;
    const float *col = x + p0 * K;
    if (!pointwise) {
      float *buf = cols + (int64_t)omp_get_thread_num() * R * K;
      im2col(c, x, buf, p0, p0 + rows);
      col = buf;
    }
    for (int64_t g = 0; g < c->G; g++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, og, Kg, 1.f, col + g * Kg, K, w + g * og, c->Co, 0.f,
                  y + p0 * c->Co + g * og, c->Co);
    if (e && has_epilogue(e)) epilogue_rows(e, y, p0, rows, c->Co);
  }
  free(cols);
  return 0;
}

// The filter gradient in the same chunks: slot t (one per thread) sums its fixed range of chunks'
// col^T dy into its own copy of dw (Kg x Co), and the copies are added in slot order.
static int filter_grad_chunks(const Conv *c, const float *x, const float *dy, float *dw) {
  const int64_t P = c->N * c->Ho * c->Wo, K = c->KH * c->KW * c->Ci, og = c->Co / c->G, Kg = K / c->G, size = Kg * c->Co;
  const int pointwise = is_pointwise(c);
  const Chunks k = plan_chunks(P, pointwise ? P : chunk_rows(c)); // as in conv2d_chunks
  const int64_t R = k.rows, chunks = k.count;
  const int threads = k.threads;
  float *cols = pointwise ? NULL : malloc(sizeof(float) * R * K * threads);
  float *parts = threads > 1 ? calloc((size_t)size * threads, sizeof(float)) : NULL;
  if ((!pointwise && !cols) || (threads > 1 && !parts)) {
    free(cols);
    free(parts);
    return -1;
  }
  if (threads == 1) memset(dw, 0, sizeof(float) * size);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; t++) {
    float *part = threads > 1 ? parts + (int64_t)t * size : dw;
    int64_t ch0, ch1;
    slot_range(chunks, threads, t, &ch0, &ch1);
    for (int64_t ch = ch0; ch < ch1; ch++) {
      const int64_t p0 = ch * R, rows = P - p0 < R ? P - p0 : R;
      const float *col = x + p0 * K;
      if (!pointwise) {
        float *buf = cols + (int64_t)t * R * K;
        im2col(c, x, buf, p0, p0 + rows);
        col = buf;
      }
      for (int64_t g = 0; g < c->G; g++)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Kg, og, rows, 1.f, col + g * Kg, K, dy + p0 * c->Co + g * og, c->Co, 1.f,
                    part + g * og, c->Co);
    }
  }
  if (threads > 1) sum_thread_copies(parts, threads, size, dw);
  free(cols);
  free(parts);
  return 0;
}

// The input gradient: col = dy W^T per group, then col2im adds each patch back into dx. Patches
// of neighbouring output rows share input pixels, so threads take whole images (their dx rows
// are disjoint); a batch of one image runs in row chunks on one thread. A 1x1 convolution's
// patch rows are dx's own rows: written in place, one chunk per thread.
static int input_grad_chunks(const Conv *c, const float *dy, const float *w, float *dx) {
  const int64_t HW = c->Ho * c->Wo, P = c->N * HW, K = c->KH * c->KW * c->Ci, og = c->Co / c->G, Kg = K / c->G;
  const int pointwise = is_pointwise(c);
  Chunks k;
  if (pointwise) {
    k = plan_chunks(P, P);
  } else if (c->N > 1) {
    const int64_t images = chunk_rows(c) / HW;
    k = plan_chunks(c->N, images < 1 ? 1 : images);
    k.rows *= HW;
  } else {
    const int64_t R = chunk_rows(c);
    k = (Chunks){R, (P + R - 1) / R, 1};
  }
  const int64_t R = k.rows, chunks = k.count;
  const int threads = k.threads;
  float *cols = pointwise ? NULL : malloc(sizeof(float) * R * K * threads);
  if (!pointwise && !cols) return -1;
  if (!pointwise) memset(dx, 0, sizeof(float) * c->N * c->H * c->W * c->Ci);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t ch = 0; ch < chunks; ch++) {
    const int64_t p0 = ch * R, rows = P - p0 < R ? P - p0 : R;
    float *col = pointwise ? dx + p0 * K : cols + (int64_t)omp_get_thread_num() * R * K;
    for (int64_t g = 0; g < c->G; g++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, Kg, og, 1.f, dy + p0 * c->Co + g * og, c->Co, w + g * og, c->Co, 0.f,
                  col + g * Kg, K);
    if (!pointwise) col2im(c, col, dx, p0, p0 + rows);
  }
  free(cols);
  return 0;
}

// The input gradient of a stride-1 convolution as a convolution of dy: dx[q] sums dy over the
// output pixels whose windows cover q, which is dy's own window around q with the taps flipped:
//   dx[n, iy, ix, g*cg + ci] = sum_{kh, kw, o} dy[n, iy + top - kh, ix + left - kw, g*og + o] w[kh, kw, ci, g*og + o]
// i.e. a convolution of dy (Co channels in G groups of og) with padding KH-1-top, KW-1-left and the
// filter wt[KH-1-kh, KW-1-kw, o, g*cg + ci] = w[kh, kw, ci, g*og + o] (og in, cg out per group).
// It runs the forward kernels (direct or GEMM), gathering where the patch-matrix path scatters
// (col2im) after a GEMM whose inner dimension is only og. Returns 1 when done, 0 when the
// convolution is not of this kind (strided, a 1x1, or padded wider than the filter), -1 when out
// of memory.
static int transposed_conv(const Conv *c, const float *dy, const float *w, float *dx) {
  if (c->sh != 1 || c->sw != 1 || is_pointwise(c) || c->top >= c->KH || c->left >= c->KW) return 0;
  const int64_t cg = c->Ci / c->G, og = c->Co / c->G, taps = c->KH * c->KW;
  const Conv t = {c->N, c->Ho, c->Wo, c->Co, c->KH, c->KW, c->Ci, c->G, 1, 1, c->KH - 1 - c->top, c->KW - 1 - c->left, c->H, c->W};
  float *wt = malloc(sizeof(float) * taps * cg * c->Co);
  if (!wt) return -1;
  for (int64_t kh = 0; kh < c->KH; kh++)
    for (int64_t kw = 0; kw < c->KW; kw++) {
      const float *src = w + (kh * c->KW + kw) * cg * c->Co;
      float *dst = wt + ((c->KH - 1 - kh) * c->KW + (c->KW - 1 - kw)) * og * c->Ci;
      for (int64_t g = 0; g < c->G; g++)
        for (int64_t ci = 0; ci < cg; ci++)
          for (int64_t o = 0; o < og; o++) dst[o * c->Ci + g * cg + ci] = src[ci * c->Co + g * og + o];
    }
  const int og_t = direct_og(&t);
  const int failed = og_t ? direct_fwd(og_t, &t, dy, wt, NULL, dx) : conv2d_chunks(&t, dy, wt, NULL, dx);
  free(wt);
  return failed ? -1 : 1;
}

// conv2d(heap, [x, w, bias|-1, y, scale|-1, res|-1, relu, ...shape]):
// y = act(conv(x, w) * scale + bias + res), each of scale, bias, res optional.
static napi_value conv2d(napi_env env, napi_callback_info info) {
  ENTRY("conv2d", 21);
  const float *x = F32(0), *w = F32(1);
  float *y = F32(3);
  const Conv c = read_conv(p + 7);
  const Epilogue e = {p[4] < 0 ? NULL : F32(4), p[2] < 0 ? NULL : F32(2), p[5] < 0 ? NULL : F32(5), p[6] != 0};
  const int og = direct_og(&c);
  if (og ? direct_fwd(og, &c, x, w, &e, y) : conv2d_chunks(&c, x, w, &e, y)) return fail(env, "conv2d: out of memory for its buffers");
  return undefined_value(env);
}

// conv2dFilterGrad(heap, [x, dy, dw, ...shape]): dw = col^T dy per group.
static napi_value conv2d_filter_grad(napi_env env, napi_callback_info info) {
  ENTRY("conv2dFilterGrad", 17);
  const float *x = F32(0), *dy = F32(1);
  float *dw = F32(2);
  const Conv c = read_conv(p + 3);
  const int64_t P = c.N * c.Ho * c.Wo;
  if (is_pointwise(&c) && P < 4 * (c.Ci + c.Co)) {
    // dw = x^T dy over few rows (a late stage): each thread its share of dw's columns
    // (16-wide blocks). Over many rows the rows are split instead (filter_grad_chunks: each
    // thread reads only its rows of x and dy, and the per-thread dw copies are small beside
    // them); here the copies would outweigh the rows (7x7x2048 -> 2048 at batch 4: 87 ms
    // split by rows, 19 by columns).
    const int T = worker_count();
    const int64_t W = ((c.Co + T - 1) / T + 15) / 16 * 16;
#pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t c0 = 0; c0 < c.Co; c0 += W) {
      const int64_t cols = c.Co - c0 < W ? c.Co - c0 : W;
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c.Ci, cols, P, 1.f, x, c.Ci, dy + c0, c.Co, 0.f, dw + c0, c.Co);
    }
    return undefined_value(env);
  }
  const int og = direct_og(&c);
  if (og) {
    if (direct_filter_grad(og, &c, x, dy, dw)) return fail(env, "conv2dFilterGrad: out of memory for the per-thread sums");
    return undefined_value(env);
  }
  if (filter_grad_chunks(&c, x, dy, dw)) return fail(env, "conv2dFilterGrad: out of memory for the column buffers or per-thread sums");
  return undefined_value(env);
}

// conv2dInputGrad(heap, [dy, w, dx, ...shape]): dx = col2im(dy W^T) per group.
static napi_value conv2d_input_grad(napi_env env, napi_callback_info info) {
  ENTRY("conv2dInputGrad", 17);
  const float *dy = F32(0), *w = F32(1);
  float *dx = F32(2);
  const Conv c = read_conv(p + 3);
  const int t = transposed_conv(&c, dy, w, dx);
  if (t < 0) return fail(env, "conv2dInputGrad: out of memory");
  if (t) return undefined_value(env);
  if (input_grad_chunks(&c, dy, w, dx)) return fail(env, "conv2dInputGrad: out of memory for the column buffers");
  return undefined_value(env);
}

// --- Batch norm over the rows of an NHWC tensor seen as [P, C] (P = N*H*W) -------------------
// Sums run in double per channel: a channel of a large batch has ~10^5-10^6 cells. Slots (one
// per thread) take fixed row ranges, each summing into its own copy of the accumulators, added
// in slot order (so the result does not depend on timing).

// Per-slot sums: acc[s * width + j]; `width` doubles per slot.
static double *thread_sums(int T, int64_t width) { return calloc((size_t)T * width, sizeof(double)); }
static void add_thread_sums(double *acc, int T, int64_t width) {
  for (int t = 1; t < T; t++)
    for (int64_t j = 0; j < width; j++) acc[j] += acc[t * width + j];
}

// channelMoments(heap, [x, out, P, C]): out[0, c] = mean, out[1, c] = biased variance (two passes).
static napi_value channel_moments(napi_env env, napi_callback_info info) {
  ENTRY("channelMoments", 4);
  const float *x = F32(0);
  float *out = F32(1);
  const int64_t P = (int64_t)p[2], C = (int64_t)p[3];
  const int T = worker_count();
  double *acc = thread_sums(T, C), *mean = malloc(C * sizeof(double));
  if (!acc || !mean) {
    free(acc);
    free(mean);
    return fail(env, "channelMoments: out of memory");
  }
#pragma omp parallel for num_threads(T) schedule(static, 1)
  for (int s = 0; s < T; s++) {
    double *a = acc + s * C;
    int64_t i0, i1;
    slot_range(P, T, s, &i0, &i1);
    for (int64_t i = i0; i < i1; i++)
      for (int64_t c = 0; c < C; c++) a[c] += x[i * C + c];
  }
  add_thread_sums(acc, T, C);
  for (int64_t c = 0; c < C; c++) mean[c] = acc[c] / (double)P;
  memset(acc, 0, (size_t)T * C * sizeof(double));
#pragma omp parallel for num_threads(T) schedule(static, 1)
  for (int s = 0; s < T; s++) {
    double *a = acc + s * C;
    int64_t i0, i1;
    slot_range(P, T, s, &i0, &i1);
    for (int64_t i = i0; i < i1; i++)
      for (int64_t c = 0; c < C; c++) {
        const double d = x[i * C + c] - mean[c];
        a[c] += d * d;
      }
  }
  add_thread_sums(acc, T, C);
  for (int64_t c = 0; c < C; c++) {
    out[c] = (float)mean[c];
    out[C + c] = (float)(acc[c] / (double)P);
  }
  free(acc);
  free(mean);
  return undefined_value(env);
}

// v where m > 0, else 0, without a branch: a float compare may trap (-ftrapping-math), which
// keeps the compiler from vectorising a select on it; the sign and magnitude bits do not.
static inline float keep_where_positive(float v, float m) {
  int32_t mb, vb;
  memcpy(&mb, &m, 4);
  memcpy(&vb, &v, 4);
  vb &= -(int32_t)(mb > 0); // m > 0 (and not -0, not negative) as an int compare
  float r;
  memcpy(&r, &vb, 4);
  return r;
}

// channelAffine(heap, [y, a, sa, b, sb, c, mask, P, C, relu]): y = a'*sa + b*sb + c per channel,
// with b and mask optional (offset -1), a' = a where mask > 0 and 0 elsewhere, and y = max(y, 0)
// when relu. Batch norm's forward is (x, scale, shift), with relu when a ReLU follows; its input
// gradient is (dy, k, x, B, C) from dx = k*dy + B*x + C, with the ReLU's output as the mask
// (the gradient through the ReLU is dy where its output is positive, 0 elsewhere).
static napi_value channel_affine(napi_env env, napi_callback_info info) {
  ENTRY("channelAffine", 10);
  float *y = F32(0);
  const float *a = F32(1), *sa = F32(2);
  const float *b = p[3] < 0 ? NULL : F32(3);
  const float *sb = p[3] < 0 ? NULL : F32(4);
  const float *cc = F32(5);
  const float *mask = p[6] < 0 ? NULL : F32(6);
  const int64_t P = (int64_t)p[7], C = (int64_t)p[8];
  const int relu = p[9] != 0;
  // One loop per case, each branch-free so that the compiler vectorises it.
#pragma omp parallel for num_threads(worker_count()) schedule(static)
  for (int64_t i = 0; i < P; i++) {
    const float *ar = a + i * C;
    float *yr = y + i * C;
    if (b && mask) {
      const float *br = b + i * C, *mr = mask + i * C;
      for (int64_t c = 0; c < C; c++) yr[c] = keep_where_positive(ar[c] * sa[c], mr[c]) + br[c] * sb[c] + cc[c];
    } else if (b) {
      const float *br = b + i * C;
      for (int64_t c = 0; c < C; c++) yr[c] = ar[c] * sa[c] + br[c] * sb[c] + cc[c];
    } else if (mask) {
      const float *mr = mask + i * C;
      for (int64_t c = 0; c < C; c++) yr[c] = keep_where_positive(ar[c] * sa[c], mr[c]) + cc[c];
    } else {
      for (int64_t c = 0; c < C; c++) yr[c] = ar[c] * sa[c] + cc[c];
    }
    if (relu)
      for (int64_t c = 0; c < C; c++) yr[c] = yr[c] > 0.f ? yr[c] : 0.f;
  }
  return undefined_value(env);
}

// scaledAdd(heap, [y, a, b, s, n]): y = a + s * b over n floats (an optimiser's update, in one
// pass on every thread instead of a multiply and an add on one).
static napi_value scaled_add(napi_env env, napi_callback_info info) {
  ENTRY("scaledAdd", 5);
  float *y = F32(0);
  const float *a = F32(1), *b = F32(2);
  const float s = (float)p[3];
  const int64_t n = (int64_t)p[4];
#pragma omp parallel for num_threads(worker_count()) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = a[i] + s * b[i];
  return undefined_value(env);
}

// bnGradSums(heap, [dy, x, mean, out, mask, P, C]): out[0, c] = sum dy', out[1, c] =
// sum dy'*(x - mean), where dy' = dy where mask > 0 and 0 elsewhere (mask optional, offset -1).
static napi_value bn_grad_sums(napi_env env, napi_callback_info info) {
  ENTRY("bnGradSums", 7);
  const float *dy = F32(0), *x = F32(1);
  const float *mean = F32(2);
  float *out = F32(3);
  const float *mask = p[4] < 0 ? NULL : F32(4);
  const int64_t P = (int64_t)p[5], C = (int64_t)p[6];
  const int T = worker_count();
  double *acc = thread_sums(T, 2 * C);
  if (!acc) return fail(env, "bnGradSums: out of memory");
#pragma omp parallel for num_threads(T) schedule(static, 1)
  for (int s = 0; s < T; s++) {
    double *s0 = acc + s * 2 * C, *s1 = s0 + C;
    int64_t i0, i1;
    slot_range(P, T, s, &i0, &i1);
    if (mask) {
      for (int64_t i = i0; i < i1; i++)
        for (int64_t c = 0; c < C; c++) {
          const double d = keep_where_positive(dy[i * C + c], mask[i * C + c]);
          s0[c] += d;
          s1[c] += d * (x[i * C + c] - mean[c]);
        }
    } else {
      for (int64_t i = i0; i < i1; i++)
        for (int64_t c = 0; c < C; c++) {
          const double d = dy[i * C + c];
          s0[c] += d;
          s1[c] += d * (x[i * C + c] - mean[c]);
        }
    }
  }
  add_thread_sums(acc, T, 2 * C);
  for (int64_t c = 0; c < 2 * C; c++) out[c] = (float)acc[c];
  free(acc);
  return undefined_value(env);
}

// maxPoolGrad(heap, [dy, x, dx, N, H, W, C, KH, KW, sh, sw, top, left, Ho, Wo]): each window's
// gradient goes to its first maximum in row-major order (strict >), as tfjs's cpu kernel does.
static napi_value max_pool_grad(napi_env env, napi_callback_info info) {
  ENTRY("maxPoolGrad", 15);
  const float *dy = F32(0), *x = F32(1);
  float *dx = F32(2);
  const int64_t N = p[3], H = p[4], W = p[5], C = p[6], KH = p[7], KW = p[8], sh = p[9], sw = p[10], top = p[11], left = p[12], Ho = p[13], Wo = p[14];
  float *best = malloc(sizeof(float) * C);
  int64_t *at = malloc(sizeof(int64_t) * C);
  if (!best || !at) {
    free(best);
    free(at);
    return fail(env, "maxPoolGrad: out of memory");
  }
  memset(dx, 0, sizeof(float) * N * H * W * C);
  for (int64_t n = 0; n < N; n++)
    for (int64_t oy = 0; oy < Ho; oy++)
      for (int64_t ox = 0; ox < Wo; ox++) {
        for (int64_t c = 0; c < C; c++) {
          best[c] = -INFINITY;
          at[c] = -1;
        }
        for (int64_t kh = 0; kh < KH; kh++) {
          const int64_t iy = oy * sh - top + kh;
          if (iy < 0 || iy >= H) continue;
          for (int64_t kw = 0; kw < KW; kw++) {
            const int64_t ix = ox * sw - left + kw;
            if (ix < 0 || ix >= W) continue;
            const int64_t base = ((n * H + iy) * W + ix) * C;
            for (int64_t c = 0; c < C; c++)
              if (x[base + c] > best[c]) {
                best[c] = x[base + c];
                at[c] = base + c;
              }
          }
        }
        const float *g = dy + ((n * Ho + oy) * Wo + ox) * C;
        for (int64_t c = 0; c < C; c++)
          if (at[c] >= 0) dx[at[c]] += g[c];
      }
  free(best);
  free(at);
  return undefined_value(env);
}

// One thread pool: OpenMP's. Every kernel splits its work across `pool_threads` OpenMP threads and
// calls OpenBLAS single-threaded inside them. With OpenBLAS's own threads as well, two pools took
// turns on the same cores, each spinning while the other worked (a 1x1 convolution followed by
// an OpenMP epilogue went from 14.6 to 22.8 ms). The count starts at OpenBLAS's
// (OPENBLAS_NUM_THREADS, else the cores).
static int pool_threads = 0;
static int worker_count(void) { return pool_threads; }

// setThreads(n) -> the previous count (data-parallel replicas want 1 each).
static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t n = 1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 1) return fail(env, "setThreads(n): n must be a positive integer");
  const int prior = pool_threads;
  pool_threads = n;
  napi_value out;
  napi_create_int32(env, prior, &out);
  return out;
}

// describe(): "OpenBLAS <config> (<core>), <threads> threads".
static napi_value describe(napi_env env, napi_callback_info info) {
  (void)info;
  char buf[512];
  snprintf(buf, sizeof buf, "%s; core %s; %d threads", openblas_get_config(), openblas_get_corename(), pool_threads);
  napi_value s;
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &s);
  return s;
}

static napi_value init(napi_env env, napi_value exports) {
  if (!pool_threads) {
    pool_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
  }
  napi_property_descriptor props[] = {
      {"conv2d", NULL, conv2d, NULL, NULL, NULL, napi_default, NULL},
      {"conv2dFilterGrad", NULL, conv2d_filter_grad, NULL, NULL, NULL, napi_default, NULL},
      {"conv2dInputGrad", NULL, conv2d_input_grad, NULL, NULL, NULL, napi_default, NULL},
      {"channelMoments", NULL, channel_moments, NULL, NULL, NULL, napi_default, NULL},
      {"channelAffine", NULL, channel_affine, NULL, NULL, NULL, napi_default, NULL},
      {"bnGradSums", NULL, bn_grad_sums, NULL, NULL, NULL, napi_default, NULL},
      {"scaledAdd", NULL, scaled_add, NULL, NULL, NULL, napi_default, NULL},
      {"maxPoolGrad", NULL, max_pool_grad, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"describe", NULL, describe, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(retail_native, init)
