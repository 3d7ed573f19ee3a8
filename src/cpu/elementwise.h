// What the elementwise family's kernel files share: typed loops over tensors (unary maps and
// broadcasting binary maps) and the registration function of each file.
//
// A loop takes a functor on compute types (float for float16/bfloat16, the type itself
// otherwise); the contiguous cases are plain indexed loops so that the compiler vectorises them
// for float32.
#pragma once

#include <algorithm>
#include <functional>
#include <type_traits>
#include <vector>

#include "cpu/broadcast.h"
#include "cpu/cpu_kernel.h"
#include "cpu/element_types.h"

namespace vitrt::cpu {

// Fewest elements worth a thread: cheap arithmetic vs transcendental functions.
constexpr int64_t kArithmeticGrain = 1 << 15;
constexpr int64_t kTranscendentalGrain = 1 << 12;

// Integer arithmetic that wraps instead of overflowing (signed overflow is UB in C++; integer
// promotion makes even uint16 * uint16 overflow int).
template <typename C>
using wrap_t =
    std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;

template <typename C, typename Fn>
C wrapping(C a, C b, Fn fn) {
  if constexpr (std::is_integral_v<C> && !std::is_same_v<C, bool>) {
    return static_cast<C>(fn(static_cast<wrap_t<C>>(a), static_cast<wrap_t<C>>(b)));
  } else {
    return fn(a, b);
  }
}

template <typename C>
C wrapping_neg(C a) {
  return wrapping(C(0), a, std::minus<>());
}

// out[i] = f(in[i]) over a tensor of TI, into a new tensor of TO with in's shape.
template <typename TI, typename TO, typename F>
Tensor unary_map(const Tensor& in, const F& f, int64_t grain) {
  Tensor out = Tensor::empty(dtype_of<TO>(), in.shape());
  const TI* x = in.data<TI>();
  TO* y = out.data<TO>();
  parallel_for(in.numel(), grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = store<TO>(f(load(x[i])));
  });
  return out;
}

// One inner row of a binary broadcast: the four stride patterns as separate loops.
template <typename TA, typename TB, typename TO, typename F>
void binary_row(const TA* a, bool a_adv, const TB* b, bool b_adv, TO* o, int64_t n, const F& f) {
  if (a_adv && b_adv) {
    for (int64_t i = 0; i < n; ++i) o[i] = store<TO>(f(load(a[i]), load(b[i])));
  } else if (a_adv) {
    const auto bv = load(b[0]);
    for (int64_t i = 0; i < n; ++i) o[i] = store<TO>(f(load(a[i]), bv));
  } else if (b_adv) {
    const auto av = load(a[0]);
    for (int64_t i = 0; i < n; ++i) o[i] = store<TO>(f(av, load(b[i])));
  } else {
    std::fill_n(o, n, store<TO>(f(load(a[0]), load(b[0]))));
  }
}

// out = f(a, b) with NumPy broadcasting into a new tensor of TO; an error naming both shapes
// when they do not broadcast.
template <typename TA, typename TB, typename TO, typename F>
Result<Tensor> binary_broadcast(const Tensor& a, const Tensor& b, const F& f, int64_t grain) {
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> shape,
                         broadcast_static_shapes({a.shape(), b.shape()}));
  Tensor out = Tensor::empty(dtype_of<TO>(), shape);
  const BroadcastPlan plan = make_broadcast_plan(shape, {a.shape(), b.shape()});
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  TO* po = out.data<TO>();
  for_each_broadcast_row(plan, grain, [&](int64_t o, const InputOffsets& in, int64_t n) {
    binary_row(pa + in[0], plan.inner_advances[0], pb + in[1], plan.inner_advances[1], po + o, n,
               f);
  });
  return out;
}

// Registration of each kernel file of the family (called by register_cpu_elementwise_kernels).
void register_cpu_unary_kernels(CpuKernelRegistry& registry);
void register_cpu_binary_kernels(CpuKernelRegistry& registry);
void register_cpu_cast_kernels(CpuKernelRegistry& registry);

}  // namespace vitrt::cpu
