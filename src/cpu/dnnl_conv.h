// 2-D convolutions of NHWC fp32 tensors through oneDNN's convolution primitive (its direct JIT
// kernels work on channel blocks in registers, with no im2col copy): vitrt.ChannelsLastConv's
// dense layers on the CPU. Like DnnlMatmul, a DnnlConv belongs to one kernel object, creates a
// primitive the first time it sees a shape and reuses it, and reorders its constant weights
// once into the layout each primitive prefers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "cpu/dnnl_matmul.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

// Y [n, oh, ow, k] = act(conv(X [n, h, w, c], W [k, r, s, c / g]) + bias[k]) in g groups, act
// ReLU, SiLU, HardSwish, ReLU6 or none
// (output channels [i * k / g, (i + 1) * k / g) read input channels [i * c / g, (i + 1) * c / g));
// pads taken off the begin (top, left) and the end (bottom, right).
struct ConvShape {
  int64_t n = 0, h = 0, w = 0, c = 0, k = 0, r = 1, s = 1, oh = 0, ow = 0, g = 1;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool has_bias = false;
  MatmulActivation activation = MatmulActivation::kNone;  // none, ReLU, SiLU, HardSwish or ReLU6

  auto key() const {
    return std::make_tuple(std::vector<int64_t>{n, h, w, c, k, r, s, oh, ow, g, sh, sw, dh, dw,
                                                pad_top, pad_left, pad_bottom, pad_right},
                           has_bias, activation);
  }
};

class DnnlConv {
 public:
  // `weights`: fp32 [k, r, s, c / g] (OHWI per group), kept alive by this object.
  explicit DnnlConv(Tensor weights);
  ~DnnlConv();
  DnnlConv(const DnnlConv&) = delete;
  DnnlConv& operator=(const DnnlConv&) = delete;

  // Runs the convolution, creating its primitive the first time `shape` is seen. kUnsupported
  // (kept, so a shape is tried once) where oneDNN has no optimized kernel for it: the caller
  // then computes the convolution another way.
  Status run(const ConvShape& shape, const float* src, const float* bias, float* dst);

 private:
  struct Entry;
  Result<std::shared_ptr<const Entry>> entry_for(const ConvShape& shape);

  std::mutex mutex_;  // guards cache_ and packed_; kernels may run from several contexts
  std::map<decltype(ConvShape().key()), std::shared_ptr<const Entry>> cache_;
  std::map<decltype(ConvShape().key()), Status> failed_;
  Tensor weights_;
  struct Packed;
  std::unique_ptr<Packed> packed_;
};

}  // namespace vitrt
