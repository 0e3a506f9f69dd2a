// The tfjs `torch` backend's engine: tensors held in libtorch's memory (CPU or one CUDA device)
// and tfjs kernels computed by ATen's own ops (oneDNN / MKL on CPU, cuDNN and cuBLAS on CUDA).
//
// The JS side (src/engine/torch-backend.ts) keeps tfjs's bookkeeping (data ids, reference
// counts, shapes) and calls four things here: write (copy in), read (copy out), free, and
// run(op, inputs, attrs). A tensor lives in `store` under an integer id, always contiguous, so
// that any tfjs shape with the same element count is a free view of it: tfjs reshapes share a
// data id, and each run views its inputs at the shapes tfjs gives.
//
// Layouts follow tfjs: activations NHWC, filters HWIO. For ATen's convolution and pooling an
// NHWC tensor permuted to NCHW *is* PyTorch's channels_last layout, so no copy is made on the
// way in; the result is permuted back (a copy only when ATen chose another layout).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <cstring>
#include <node_api.h>

#include <cmath>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

// The build passes the libtorch version it links (its headers do not all carry it).
#ifndef RETAIL_TORCH_VERSION
#define RETAIL_TORCH_VERSION "unknown"
#endif

#include "napi_util.hpp"

namespace {

using namespace napi_util;
using at::Tensor;
using Ins = std::vector<Tensor>;  // inputs; an absent optional input is an undefined Tensor
using Attrs = std::vector<double>;
using Op = std::function<std::vector<Tensor>(const Ins&, const Attrs&)>;

std::unordered_map<int64_t, Tensor> store;
int64_t next_id = 1;
at::Device device = at::kCPU;

// tfjs dtypes by code: 0 float32, 1 int32, 2 bool.
at::ScalarType scalar_type(int code) {
  switch (code) {
    case 0: return at::kFloat;
    case 1: return at::kInt;
    case 2: return at::kBool;
  }
  throw std::runtime_error("unknown dtype code " + std::to_string(code));
}

int dtype_code(at::ScalarType t) {
  if (t == at::kFloat) return 0;
  if (t == at::kInt) return 1;
  if (t == at::kBool) return 2;
  return -1;
}

// ATen widens where tfjs does not (sums of int32 are int64, some ops give double): narrow back.
Tensor to_tfjs_type(const Tensor& t) {
  if (t.scalar_type() == at::kLong) return t.to(at::kInt);
  if (t.scalar_type() == at::kDouble) return t.to(at::kFloat);
  return t;
}

std::vector<int64_t> ints(const Attrs& a, size_t from, size_t n) {
  std::vector<int64_t> v;
  for (size_t i = from; i < from + n; i++) v.push_back(static_cast<int64_t>(a.at(i)));
  return v;
}

Tensor nchw(const Tensor& nhwc) { return nhwc.permute({0, 3, 1, 2}); }
Tensor nhwc(const Tensor& nchw_) { return nchw_.permute({0, 2, 3, 1}); }
// HWIO -> PyTorch's [out, in/groups, kh, kw], in channels-last memory ([O][KH][KW][I]): one 2-D
// transpose of the [KH*KW*I, O] matrix, which ATen copies blocked. (Handing ATen the permuted view
// makes it gather element by element: 4x slower, and it runs for every filter in every pass.)
Tensor oihw(const Tensor& hwio) {
  auto s = hwio.sizes();
  return hwio.reshape({-1, s[3]}).t().contiguous().view({s[3], s[0], s[1], s[2]}).permute({0, 3, 1, 2});
}

// Filters in PyTorch's layout, by the id of the stored HWIO tensor they were made from (with its
// shape). A stored tensor never changes and ids are not reused, so a copy stays true until its
// source is freed (free_ drops it): a step's forward pass and input gradient share one, and
// every inference batch reuses them all. `run_ids` are the ids of the op being run (-1: absent).
std::unordered_map<int64_t, std::pair<std::vector<int64_t>, Tensor>> oihw_cache;
std::vector<int64_t> run_ids;

Tensor filter_oihw(const Ins& in, size_t i) {
  int64_t id = i < run_ids.size() ? run_ids[i] : -1;
  std::vector<int64_t> dims = in[i].sizes().vec();
  auto it = oihw_cache.find(id);
  if (it != oihw_cache.end() && it->second.first == dims) return it->second.second;
  Tensor w = oihw(in[i]);
  if (id >= 0) oihw_cache[id] = {dims, w};
  return w;
}

// And back: a filter gradient in PyTorch's layout -> HWIO, by the same transpose.
Tensor hwio(const Tensor& oihw_) {
  Tensor t = oihw_.contiguous(at::MemoryFormat::ChannelsLast).permute({0, 2, 3, 1});  // [O, KH, KW, I], contiguous
  auto s = t.sizes();
  return t.reshape({s[0], -1}).t().contiguous().view({s[1], s[2], s[3], s[0]});
}

// Convolution geometry from attrs [sh, sw, top, bottom, left, right, dh, dw, groups].
struct Geometry {
  std::vector<int64_t> stride, dilation;
  int64_t top, bottom, left, right, groups;
  bool symmetric() const { return top == bottom && left == right; }
  std::vector<int64_t> padding() const { return symmetric() ? std::vector<int64_t>{top, left} : std::vector<int64_t>{0, 0}; }
};

Geometry geometry(const Attrs& a, size_t at) {
  return {{(int64_t)a.at(at), (int64_t)a.at(at + 1)},
          {(int64_t)a.at(at + 6), (int64_t)a.at(at + 7)},
          (int64_t)a.at(at + 2),
          (int64_t)a.at(at + 3),
          (int64_t)a.at(at + 4),
          (int64_t)a.at(at + 5),
          (int64_t)a.at(at + 8)};
}

// ATen pads symmetrically only: an asymmetric padding (tfjs's 'same' at stride 2) pads first.
Tensor pre_pad(const Tensor& x_nchw, const Geometry& g, double value = 0) {
  if (g.symmetric()) return x_nchw;
  return at::constant_pad_nd(x_nchw, {g.left, g.right, g.top, g.bottom}, value);
}

// y = act(conv(x, w) * scale + bias + residual); ins: x, filter, bias?, scale?, residual?;
// attrs: geometry, relu.
std::vector<Tensor> conv2d(const Ins& in, const Attrs& a) {
  Geometry g = geometry(a, 0);
  bool relu = a.at(9) != 0;
  Tensor x = pre_pad(nchw(in[0]), g);
  Tensor w = filter_oihw(in, 1);
  Tensor bias = in.size() > 2 ? in[2] : Tensor(), scale = in.size() > 3 ? in[3] : Tensor(), residual = in.size() > 4 ? in[4] : Tensor();
  // Without a scale a per-channel bias is the convolution's own (oneDNN and cuDNN add it as they write).
  bool conv_bias = bias.defined() && !scale.defined() && bias.dim() == 1 && bias.size(0) == w.size(0);
  Tensor y = nhwc(at::convolution(x, w, conv_bias ? bias : Tensor(), g.stride, g.padding(), g.dilation, false, {0, 0}, g.groups));
  // The epilogue in place on the convolution's fresh output, in at most two passes:
  // y = y * scale + bias, then y = relu(y + residual) (ATen's fused add-ReLU is CPU-only).
  if (scale.defined() && bias.defined())
    at::addcmul_out(y, bias, y, scale);
  else if (scale.defined())
    y.mul_(scale);
  else if (bias.defined() && !conv_bias)
    y.add_(bias);
  if (residual.defined() && relu && y.is_cpu())
    at::_add_relu_(y, residual);
  else {
    if (residual.defined()) y.add_(residual);
    if (relu) y.relu_();
  }
  return {y};
}

// dx of a convolution; ins: dy, filter; attrs: N, H, W, Ci, geometry.
std::vector<Tensor> conv2d_input_grad(const Ins& in, const Attrs& a) {
  auto shape = ints(a, 0, 4);
  Geometry g = geometry(a, 4);
  int64_t H = shape[1] + g.top + g.bottom - 2 * g.padding()[0], W = shape[2] + g.left + g.right - 2 * g.padding()[1];
  Tensor w = filter_oihw(in, 1);
  // For dx ATen's backward reads only the input's shape, options and layout: an uninitialised
  // channels-last tensor (an expanded one would send it down a slow generic path).
  Tensor x_like = at::empty({shape[0], shape[3], H, W}, w.options().memory_format(at::MemoryFormat::ChannelsLast));
  auto grads = at::convolution_backward(nchw(in[0]), x_like, w, at::OptionalIntArrayRef(), g.stride, g.padding(), g.dilation, false,
                                        {0, 0}, g.groups, {true, false, false});
  Tensor dx = std::get<0>(grads);
  if (!g.symmetric()) dx = dx.slice(2, g.top, g.top + shape[1]).slice(3, g.left, g.left + shape[2]);
  return {nhwc(dx)};
}

// dW of a convolution; ins: x, dy; attrs: KH, KW, Ci/groups, Co, geometry.
std::vector<Tensor> conv2d_filter_grad(const Ins& in, const Attrs& a) {
  auto fshape = ints(a, 0, 4);
  Geometry g = geometry(a, 4);
  Tensor x = pre_pad(nchw(in[0]), g);
  Tensor w_like = at::empty({fshape[3], fshape[2], fshape[0], fshape[1]}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  auto grads = at::convolution_backward(nchw(in[1]), x, w_like, at::OptionalIntArrayRef(), g.stride, g.padding(), g.dilation, false,
                                        {0, 0}, g.groups, {false, true, false});
  return {hwio(std::get<1>(grads))};
}

// Pooling attrs: kh, kw, sh, sw, top, bottom, left, right.
struct Pool {
  std::vector<int64_t> kernel, stride;
  Geometry g;
};
Pool pool_attrs(const Attrs& a) {
  Geometry g{{(int64_t)a.at(2), (int64_t)a.at(3)}, {1, 1}, (int64_t)a.at(4), (int64_t)a.at(5), (int64_t)a.at(6), (int64_t)a.at(7), 1};
  return {{(int64_t)a.at(0), (int64_t)a.at(1)}, {(int64_t)a.at(2), (int64_t)a.at(3)}, g};
}

// tfjs pools skip padded cells: max pads with -inf, average divides by the cells inside.
std::vector<Tensor> max_pool(const Ins& in, const Attrs& a) {
  Pool p = pool_attrs(a);
  Tensor x = pre_pad(nchw(in[0]), p.g, -INFINITY);
  return {nhwc(at::max_pool2d(x, p.kernel, p.stride, p.g.padding()))};
}

std::vector<Tensor> max_pool_grad(const Ins& in, const Attrs& a) {  // ins: dy, input
  Pool p = pool_attrs(a);
  Tensor x = pre_pad(nchw(in[1]), p.g, -INFINITY);
  auto fwd = at::max_pool2d_with_indices(x, p.kernel, p.stride, p.g.padding());
  Tensor dx = at::max_pool2d_with_indices_backward(nchw(in[0]), x, p.kernel, p.stride, p.g.padding(), {1, 1}, false, std::get<1>(fwd));
  if (!p.g.symmetric()) dx = dx.slice(2, p.g.top, p.g.top + in[1].size(1)).slice(3, p.g.left, p.g.left + in[1].size(2));
  return {nhwc(dx)};
}

std::vector<Tensor> avg_pool(const Ins& in, const Attrs& a) {
  Pool p = pool_attrs(a);
  if (!p.g.symmetric()) throw std::runtime_error("AvgPool: asymmetric padding is not supported on the torch backend");
  return {nhwc(at::avg_pool2d(nchw(in[0]), p.kernel, p.stride, p.g.padding(), false, false))};
}

std::vector<Tensor> avg_pool_grad(const Ins& in, const Attrs& a) {  // ins: dy, input
  Pool p = pool_attrs(a);
  if (!p.g.symmetric()) throw std::runtime_error("AvgPoolGrad: asymmetric padding is not supported on the torch backend");
  return {nhwc(at::avg_pool2d_backward(nchw(in[0]), nchw(in[1]), p.kernel, p.stride, p.g.padding(), false, false, c10::nullopt))};
}

// Reductions: attrs [keepDims, axes...]. tfjs reduces nothing for no axes; ATen would reduce all.
template <typename F>
Op reduce(F f) {
  return [f](const Ins& in, const Attrs& a) -> std::vector<Tensor> {
    auto axes = ints(a, 1, a.size() - 1);
    if (axes.empty()) return {in[0].clone()};
    return {f(in[0], at::IntArrayRef(axes), a.at(0) != 0)};
  };
}

// The project's per-channel kernels (src/engine/native-kernels.ts has the same contracts):
// an NHWC tensor viewed as [P, C].
Tensor rows(const Tensor& t) { return t.reshape({-1, t.size(-1)}); }

// Two passes of plain sums: measured 5x faster here than ATen's var/var_mean over the outer axis.
std::vector<Tensor> channel_moments(const Ins& in, const Attrs&) {
  Tensor x = rows(in[0]);
  double P = (double)std::max<int64_t>(1, x.size(0));
  Tensor mean = x.sum(0).div_(P);
  return {at::stack({mean, (x - mean).square_().sum(0).div_(P)})};
}

// a where mask > 0, else 0: ReLU's own backward kernel (a compare-and-fill is 14x slower here).
Tensor masked(const Tensor& a, const Tensor& mask) { return mask.defined() ? at::threshold_backward(a, mask, 0) : a; }

// ins: a, sa, b?, sb?, c, mask?; attrs: relu. y = a' * sa + b * sb + c, a' = a where mask > 0.
// In place after the first pass: these run on whole activations, twice per batch norm.
std::vector<Tensor> channel_affine(const Ins& in, const Attrs& a) {
  Tensor y = at::addcmul(in[4], masked(in[0], in[5]), in[1]);
  if (in[2].defined()) y.addcmul_(in[2], in[3]);
  if (a.at(0) != 0) y.relu_();
  return {y};
}

// ins: dy, x, mean, mask? -> [2, C]: sum(dy'), sum(dy' * (x - mean)).
std::vector<Tensor> bn_grad_sums(const Ins& in, const Attrs&) {
  Tensor d = rows(masked(in[0], in[3]));
  // Centred before the product (not sum(dy' x) - mean sum(dy'), which cancels when |mean| >> std);
  // one temporary, multiplied in place.
  Tensor xc = rows(in[1]) - in[2];
  return {at::stack({d.sum(0), xc.mul_(d).sum(0)})};
}

// Batch norm in training on ATen's own kernel (vectorised channels-last loops on the CPU, cuDNN
// on CUDA), with the residual block's shortcut and ReLU after it:
// ins: x, gamma, beta, residual?; attrs: eps, relu -> y, mean, invstd (batch statistics).
std::vector<Tensor> batch_norm_train(const Ins& in, const Attrs& a) {
  auto r = at::native_batch_norm(nchw(in[0]), in[1], in[2], Tensor(), Tensor(), true, 0.0, a.at(0));
  Tensor y = nhwc(std::get<0>(r));
  if (in[3].defined()) y.add_(in[3]);
  if (a.at(1) != 0) y.relu_();
  return {y, std::get<1>(r), std::get<2>(r)};
}

// Its gradient: ins dy, x, gamma, mean, invstd, y? (given when a ReLU followed); attrs: eps,
// residual -> dx, dgamma, dbeta (and the shortcut's gradient, dy where y > 0, when asked).
std::vector<Tensor> batch_norm_train_grad(const Ins& in, const Attrs& a) {
  Tensor g = masked(in[0], in[5]);
  auto r = at::native_batch_norm_backward(nchw(g), nchw(in[1]), in[2], Tensor(), Tensor(), in[3], in[4], true, a.at(0), {true, true, true});
  std::vector<Tensor> out{nhwc(std::get<0>(r)), std::get<1>(r), std::get<2>(r)};
  if (a.at(1) != 0) out.push_back(g);
  return out;
}

// tfjs's StridedSlice after slice_util has resolved it: attrs [rank, begin..., strides..., count...]
// on the input's own axes (count: how many elements the axis keeps).
std::vector<Tensor> strided_slice(const Ins& in, const Attrs& a) {
  int64_t r = (int64_t)a.at(0);
  Tensor x = in[0];
  for (int64_t d = 0; d < r; d++) {
    int64_t b = (int64_t)a.at(1 + d), s = (int64_t)a.at(1 + r + d), n = (int64_t)a.at(1 + 2 * r + d);
    if (n <= 0)
      x = x.slice(d, 0, 0);
    else if (s > 0)
      x = x.slice(d, b, b + (n - 1) * s + 1, s);
    else
      x = x.slice(d, b + (n - 1) * s, b + 1, -s).flip({d});
  }
  return {x};
}

std::vector<Tensor> one_hot(const Ins& in, const Attrs& a) {  // attrs: depth, on, off, dtype
  auto depth = (int64_t)a.at(0);
  Tensor hit = in[0].unsqueeze(-1).to(at::kLong) == at::arange(depth, in[0].options().dtype(at::kLong));
  auto opts = in[0].options().dtype(scalar_type((int)a.at(3)));
  return {at::where(hit, at::full({}, a.at(1), opts), at::full({}, a.at(2), opts))};
}

std::vector<Tensor> gather(const Ins& in, const Attrs& a) {  // attrs: axis, batchDims
  if (a.at(1) != 0) throw std::runtime_error("GatherV2: batchDims > 0 is not supported on the torch backend");
  int64_t axis = (int64_t)a.at(0);
  Tensor idx = in[1].to(at::kLong);
  Tensor flat = at::index_select(in[0], axis, idx.reshape({-1}));
  std::vector<int64_t> shape(in[0].sizes().begin(), in[0].sizes().begin() + axis);
  for (auto s : idx.sizes()) shape.push_back(s);
  for (int64_t d = axis + 1; d < in[0].dim(); d++) shape.push_back(in[0].size(d));
  return {flat.reshape(shape)};
}

std::vector<Tensor> select_(const Ins& in, const Attrs&) {  // ins: condition, t, e
  Tensor c = in[0].to(at::kBool);
  // tfjs: a rank-1 condition with higher-rank branches selects whole rows.
  while (c.dim() < in[1].dim() && c.dim() == 1) c = c.unsqueeze(-1);
  while (c.dim() > 1 && c.dim() < in[1].dim()) c = c.unsqueeze(-1);
  return {at::where(c, in[1], in[2])};
}

std::vector<Tensor> batch_matmul(const Ins& in, const Attrs& a) {  // attrs: transposeA, transposeB, relu?
  Tensor x = a.at(0) != 0 ? in[0].transpose(-2, -1) : in[0];
  Tensor y = a.at(1) != 0 ? in[1].transpose(-2, -1) : in[1];
  Tensor out = at::matmul(x, y);
  if (in.size() > 2 && in[2].defined()) out = out + in[2];
  if (a.size() > 2 && a.at(2) != 0) out = at::relu(out);
  return {out};
}

std::unordered_map<std::string, Op> make_ops() {
  std::unordered_map<std::string, Op> ops;
#define UNARY(name, expr) \
  ops[name] = [](const Ins& in, const Attrs&) -> std::vector<Tensor> { \
    const Tensor& x = in[0];                                         \
    return {expr};                                                   \
  }
#define BINARY(name, expr) \
  ops[name] = [](const Ins& in, const Attrs&) -> std::vector<Tensor> { \
    const Tensor &x = in[0], &y = in[1];                             \
    return {expr};                                                   \
  }
  UNARY("Neg", at::neg(x));
  UNARY("Abs", at::abs(x));
  UNARY("Exp", at::exp(x));
  UNARY("Log", at::log(x));
  UNARY("Log1p", at::log1p(x));
  UNARY("Expm1", at::expm1(x));
  UNARY("Sqrt", at::sqrt(x));
  UNARY("Rsqrt", at::rsqrt(x));
  UNARY("Square", at::square(x));
  UNARY("Relu", at::relu(x));
  UNARY("Sigmoid", at::sigmoid(x));
  UNARY("Tanh", at::tanh(x));
  UNARY("Floor", at::floor(x));
  UNARY("Ceil", at::ceil(x));
  UNARY("Round", at::round(x));
  UNARY("Sign", at::sign(x));
  UNARY("Reciprocal", at::reciprocal(x));
  UNARY("Erf", at::erf(x));
  UNARY("Sin", at::sin(x));
  UNARY("Cos", at::cos(x));
  UNARY("LogicalNot", at::logical_not(x));
  UNARY("IsNan", at::isnan(x));
  UNARY("ZerosLike", at::zeros_like(x));
  UNARY("OnesLike", at::ones_like(x));
  UNARY("Softplus", at::softplus(x));
  ops["Step"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> {
    Tensor x = in[0];
    Tensor y = at::where(x > 0, at::ones({}, x.options()), at::full({}, a.at(0), x.options()));
    return {at::where(at::isnan(x), x, y)};
  };
  ops["LeakyRelu"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> { return {at::leaky_relu(in[0], a.at(0))}; };
  ops["ClipByValue"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> { return {at::clamp(in[0], a.at(0), a.at(1))}; };
  BINARY("Add", at::add(x, y));
  BINARY("Sub", at::sub(x, y));
  BINARY("Multiply", at::mul(x, y));
  BINARY("RealDiv", at::div(x, y));
  BINARY("Pow", at::pow(x, y));
  BINARY("Maximum", at::maximum(x, y));
  BINARY("Minimum", at::minimum(x, y));
  BINARY("Equal", at::eq(x, y));
  BINARY("NotEqual", at::ne(x, y));
  BINARY("Greater", at::gt(x, y));
  BINARY("GreaterEqual", at::ge(x, y));
  BINARY("Less", at::lt(x, y));
  BINARY("LessEqual", at::le(x, y));
  BINARY("LogicalAnd", at::logical_and(x, y));
  BINARY("LogicalOr", at::logical_or(x, y));
  BINARY("Mod", at::remainder(x, y));
  BINARY("Atan2", at::atan2(x, y));
  BINARY("FloorDiv", at::div(x, y, "floor"));
  BINARY("SquaredDifference", at::square(x - y));
#undef UNARY
#undef BINARY
  ops["AddN"] = [](const Ins& in, const Attrs&) -> std::vector<Tensor> {
    Tensor y = in[0].clone();
    for (size_t i = 1; i < in.size(); i++) y.add_(in[i]);
    return {y};
  };
  ops["Cast"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> { return {in[0].to(scalar_type((int)a.at(0)))}; };
  ops["Sum"] = reduce([](const Tensor& x, at::IntArrayRef d, bool k) { return at::sum(x, d, k); });
  ops["Mean"] = reduce([](const Tensor& x, at::IntArrayRef d, bool k) { return at::mean(x.is_floating_point() ? x : x.to(at::kFloat), d, k); });
  ops["Max"] = reduce([](const Tensor& x, at::IntArrayRef d, bool k) { return at::amax(x, d, k); });
  ops["Min"] = reduce([](const Tensor& x, at::IntArrayRef d, bool k) { return at::amin(x, d, k); });
  ops["Prod"] = reduce([](const Tensor& x, at::IntArrayRef d, bool k) {
    Tensor y = x;
    for (auto it = d.rbegin(); it != d.rend(); ++it) y = at::prod(y, *it, k);
    return y;
  });
  ops["Any"] = reduce([](const Tensor& x, at::IntArrayRef d, bool k) { return at::sum(x.to(at::kInt), d, k) > 0; });
  ops["All"] = reduce([](const Tensor& x, at::IntArrayRef d, bool k) {
    return at::sum(x.to(at::kInt), d, k) == [&] {
      int64_t n = 1;
      for (auto i : d) n *= x.size(i);
      return n;
    }();
  });
  ops["ArgMax"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> { return {at::argmax(in[0], (int64_t)a.at(0))}; };
  ops["ArgMin"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> { return {at::argmin(in[0], (int64_t)a.at(0))}; };
  ops["Softmax"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> { return {at::softmax(in[0], (int64_t)a.at(0))}; };
  ops["Transpose"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> { return {in[0].permute(ints(a, 0, a.size()))}; };
  ops["Slice"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> {  // attrs: begin..., size...
    size_t r = a.size() / 2;
    Tensor x = in[0];
    for (size_t d = 0; d < r; d++) x = x.narrow(d, (int64_t)a[d], (int64_t)a[r + d]);
    return {x};
  };
  ops["StridedSlice"] = strided_slice;
  ops["Concat"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> { return {at::cat(in, (int64_t)a.at(0))}; };
  ops["Pack"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> { return {at::stack(in, (int64_t)a.at(0))}; };
  ops["Unpack"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> { return at::unbind(in[0], (int64_t)a.at(0)); };
  ops["SplitV"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> {
    return at::split_with_sizes(in[0], ints(a, 1, a.size() - 1), (int64_t)a.at(0));
  };
  ops["Tile"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> { return {in[0].repeat(ints(a, 0, a.size()))}; };
  ops["PadV2"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> {  // attrs: value, (before, after) per axis
    std::vector<int64_t> pad;
    for (int64_t d = in[0].dim() - 1; d >= 0; d--) {
      pad.push_back((int64_t)a.at(1 + 2 * d));
      pad.push_back((int64_t)a.at(2 + 2 * d));
    }
    return {at::constant_pad_nd(in[0], pad, a.at(0))};
  };
  ops["GatherV2"] = gather;
  ops["OneHot"] = one_hot;
  ops["Select"] = select_;
  ops["Fill"] = [](const Ins&, const Attrs& a) -> std::vector<Tensor> {  // attrs: value, dtype, shape...
    return {at::full(ints(a, 2, a.size() - 2), a.at(0), at::TensorOptions().device(device).dtype(scalar_type((int)a.at(1))))};
  };
  ops["Range"] = [](const Ins&, const Attrs& a) -> std::vector<Tensor> {  // attrs: start, step, count, dtype
    auto opts = at::TensorOptions().device(device).dtype(at::kDouble);
    return {(at::arange((int64_t)a.at(2), opts) * a.at(1) + a.at(0)).to(scalar_type((int)a.at(3)))};
  };
  ops["TopK"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> {  // attrs: k, sorted
    auto r = at::topk(in[0], (int64_t)a.at(0), -1, true, a.at(1) != 0);
    return {std::get<0>(r), std::get<1>(r)};
  };
  ops["BatchMatMul"] = batch_matmul;
  ops["Conv2D"] = conv2d;
  ops["Conv2DBackpropInput"] = conv2d_input_grad;
  ops["Conv2DBackpropFilter"] = conv2d_filter_grad;
  ops["MaxPool"] = max_pool;
  ops["MaxPoolGrad"] = max_pool_grad;
  ops["AvgPool"] = avg_pool;
  ops["AvgPoolGrad"] = avg_pool_grad;
  ops["RetailChannelMoments"] = channel_moments;
  ops["RetailChannelAffine"] = channel_affine;
  ops["RetailBatchNormGradSums"] = bn_grad_sums;
  ops["RetailBatchNormTrain"] = batch_norm_train;
  ops["RetailBatchNormTrainGrad"] = batch_norm_train_grad;
  // The optimiser's update, a + s * b, as one op.
  ops["RetailScaledAdd"] = [](const Ins& in, const Attrs& a) -> std::vector<Tensor> { return {at::add(in[0], in[1], a.at(0))}; };
  return ops;
}

const std::unordered_map<std::string, Op>& OPS = *new std::unordered_map<std::string, Op>(make_ops());

int64_t keep(Tensor t) {
  int64_t id = next_id++;
  store.emplace(id, t.contiguous());
  return id;
}

const Tensor& lookup(int64_t id) {
  auto it = store.find(id);
  if (it == store.end()) throw std::runtime_error("tensor " + std::to_string(id) + " was freed or never written");
  return it->second;
}

// write(typedArray, shape: Float64Array, dtype) -> id
napi_value write(napi_env env, napi_callback_info info) {
  GUARD({
    auto a = args(env, info, 3);
    napi_typedarray_type type;
    size_t len, off;
    void* data;
    napi_value ab;
    if (napi_get_typedarray_info(env, a[0], &type, &len, &data, &ab, &off) != napi_ok) throw std::runtime_error("write: values must be a typed array");
    auto shape = f64s(env, a[1]);
    std::vector<int64_t> dims(shape.begin(), shape.end());
    at::ScalarType st = scalar_type((int)number(env, a[2]));
    at::ScalarType src = type == napi_float32_array ? at::kFloat : type == napi_int32_array ? at::kInt : at::kByte;
    Tensor host = at::from_blob(data, dims, at::TensorOptions().dtype(src));
    return num(env, (double)keep(host.to(device, st, false, true)));
  })
}

// read(id) -> Float32Array | Int32Array | Uint8Array (bool)
napi_value read(napi_env env, napi_callback_info info) {
  GUARD({
    auto a = args(env, info, 1);
    Tensor t = lookup((int64_t)number(env, a[0]));
    if (t.scalar_type() == at::kBool) t = t.to(at::kByte);
    t = t.to(at::kCPU).contiguous();
    size_t bytes = t.numel() * t.element_size();
    void* out;
    napi_value buf, arr;
    napi_create_arraybuffer(env, bytes, &out, &buf);
    if (bytes) std::memcpy(out, t.data_ptr(), bytes);
    napi_typedarray_type type = t.scalar_type() == at::kFloat ? napi_float32_array : t.scalar_type() == at::kInt ? napi_int32_array : napi_uint8_array;
    napi_create_typedarray(env, type, t.numel(), buf, 0, &arr);
    return arr;
  })
}

napi_value free_(napi_env env, napi_callback_info info) {
  GUARD({
    auto a = args(env, info, 1);
    auto id = (int64_t)number(env, a[0]);
    store.erase(id);
    oihw_cache.erase(id);
    return num(env, (double)store.size());
  })
}

// run(op, ids: Float64Array (-1 absent), shapes: Float64Array [rank, dims...]*, attrs: Float64Array, outDtype (-1: as computed))
// -> Float64Array [id, dtype, rank, dims...]*
napi_value run(napi_env env, napi_callback_info info) {
  GUARD({
    auto a = args(env, info, 5);
    std::string name = text(env, a[0]);
    auto it = OPS.find(name);
    if (it == OPS.end()) throw std::runtime_error("the torch addon has no op '" + name + "'");
    auto ids = f64s(env, a[1]);
    auto shapes = f64s(env, a[2]);
    auto attrs = f64s(env, a[3]);
    int out_dtype = (int)number(env, a[4]);
    Ins in;
    size_t k = 0;
    run_ids.assign(ids.begin(), ids.end());
    for (double id : ids) {
      size_t rank = (size_t)shapes.at(k++);
      std::vector<int64_t> dims;
      for (size_t d = 0; d < rank; d++) dims.push_back((int64_t)shapes.at(k++));
      in.push_back(id < 0 ? Tensor() : lookup((int64_t)id).view(dims));
    }
    std::vector<Tensor> outs = it->second(in, attrs);
    std::vector<double> meta;
    for (Tensor t : outs) {
      t = out_dtype >= 0 ? t.to(scalar_type(out_dtype)) : to_tfjs_type(t);
      if (dtype_code(t.scalar_type()) < 0) throw std::runtime_error(name + ": produced an unsupported dtype");
      meta.push_back((double)keep(t));
      meta.push_back(dtype_code(t.scalar_type()));
      meta.push_back((double)t.dim());
      for (auto s : t.sizes()) meta.push_back((double)s);
    }
    void* out;
    napi_value buf, arr;
    napi_create_arraybuffer(env, meta.size() * sizeof(double), &out, &buf);
    std::memcpy(out, meta.data(), meta.size() * sizeof(double));
    napi_create_typedarray(env, napi_float64_array, meta.size(), buf, 0, &arr);
    return arr;
  })
}

// setDevice("cpu" | "cuda:N")
napi_value set_device(napi_env env, napi_callback_info info) {
  GUARD({
    auto a = args(env, info, 1);
    at::Device d(text(env, a[0]));
    if (d.is_cuda()) {
      int n = at::detail::getCUDAHooks().getNumGPUs();
      if (!at::hasCUDA() || n == 0) throw std::runtime_error("this libtorch sees no CUDA device");
      if (d.has_index() && d.index() >= n) throw std::runtime_error("cuda:" + std::to_string(d.index()) + " does not exist (" + std::to_string(n) + " visible)");
      if (!d.has_index()) d = at::Device(at::kCUDA, 0);
    }
    device = d;
    return str(env, device.str());
  })
}

napi_value set_threads(napi_env env, napi_callback_info info) {
  GUARD({
    auto a = args(env, info, 1);
    int prior = at::get_num_threads();
    at::set_num_threads((int)number(env, a[0]));
    return num(env, prior);
  })
}

// Blocks until the device's queued work is done (timing on CUDA).
napi_value synchronize(napi_env env, napi_callback_info) {
  GUARD({
    if (device.is_cuda()) at::detail::getCUDAHooks().deviceSynchronize(device.index());
    return num(env, 0);
  })
}

// "torch <version>; cuda <runtime> (<n> devices), cudnn <version>" or "...; no cuda".
napi_value describe(napi_env env, napi_callback_info) {
  GUARD({
    auto& hooks = at::detail::getCUDAHooks();
    std::string s = std::string("torch ") + RETAIL_TORCH_VERSION + "; threads " + std::to_string(at::get_num_threads());
    if (at::hasCUDA() && hooks.getNumGPUs() > 0) {
      s += "; cuda " + std::to_string(hooks.versionCUDART()) + " (" + std::to_string(hooks.getNumGPUs()) + " devices)";
      s += hooks.compiledWithCuDNN() ? "; cudnn " + std::to_string(hooks.versionCuDNN()) : "; no cudnn";
    } else {
      s += "; no cuda";
    }
    return str(env, s);
  })
}

napi_value live(napi_env env, napi_callback_info) { return num(env, (double)store.size()); }
napi_value filter_copies(napi_env env, napi_callback_info) { return num(env, (double)oihw_cache.size()); }

napi_value init(napi_env env, napi_value exports) {
  define_functions(env, exports,
                   {{"write", write},
                    {"read", read},
                    {"free", free_},
                    {"run", run},
                    {"setDevice", set_device},
                    {"setThreads", set_threads},
                    {"synchronize", synchronize},
                    {"describe", describe},
                    {"live", live},
                    {"filterCopies", filter_copies}});
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
