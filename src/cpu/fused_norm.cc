// vitrt.AddLayerNorm on the CPU: the residual sum and its LayerNorm in one pass over each row
// (layer_norm_rows.h), so the sum is read from memory once instead of three times (Add, then
// LayerNorm's statistics and normalisation). With output_scale, y leaves as E4M3 or int8 codes
// (output_format), encoded from the fp32 rows as the reading QuantLinear would. With
// quant_a / quant_b / quant_sum (a quantized model's Q/DQ pairs on the residual stream) the
// fake-quantized addends are formed first and, for quant_sum, the sum is written before its
// fake quantization is normalized: each step as the separate FakeQuant, Add and
// LayerNormalization kernels compute it, bit for bit.
#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <vector>

#include "core/float8.h"
#include "core/parallel.h"
#include "cpu/broadcast.h"
#include "cpu/cpu_kernel.h"
#include "cpu/fake_quant_cpu.h"
#include "cpu/layer_norm_rows.h"
#include "cpu/quant_linear.h"
#include "ir/ops/op_attributes.h"

namespace vitrt {
namespace {

// Rows of `b` as the kernel reads them: b repeats over a's rows when its shape is a suffix of
// a's (after leading 1s): [C], [N, C] against [B, N, C]. Other broadcasts are materialised.
Result<Tensor> addend_rows(const Tensor& a, const Tensor& b, int64_t* b_rows) {
  const int64_t c = a.dim(a.rank() - 1);
  std::vector<int64_t> bs = b.shape();
  while (!bs.empty() && bs.front() == 1 && bs.size() > 1) bs.erase(bs.begin());
  if (bs.size() > static_cast<size_t>(a.rank())) {
    return invalid_argument("b ", b.describe(), " does not broadcast to a ", a.describe());
  }
  const bool suffix = std::equal(bs.begin(), bs.end(), a.shape().end() - bs.size());
  if (suffix && !bs.empty() && bs.back() == c) {
    *b_rows = b.numel() / c;
    return b;
  }
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> out_shape,
                         cpu::broadcast_static_shapes({a.shape(), b.shape()}));
  if (out_shape != a.shape()) {
    return invalid_argument("b ", b.describe(), " does not broadcast to a ", a.describe());
  }
  Tensor full = Tensor::empty(DType::kFloat32, a.shape());
  const cpu::BroadcastPlan plan = cpu::make_broadcast_plan(a.shape(), {b.shape()});
  const float* src = b.data<float>();
  float* dst = full.data<float>();
  cpu::for_each_broadcast_row(plan, 1 << 14,
                              [&](int64_t out, const cpu::InputOffsets& in, int64_t count) {
                                for (int64_t i = 0; i < count; ++i) {
                                  dst[out + i] = src[in[0] + (plan.inner_advances[0] ? i : 0)];
                                }
                              });
  *b_rows = a.numel() / c;
  return full;
}

// A fake-quantized copy of `x`'s n values.
Tensor fake_quantized(const float* x, const std::vector<int64_t>& shape, const FakeQuant& f) {
  Tensor out = Tensor::empty(DType::kFloat32, shape);
  float* dst = out.data<float>();
  const float flush_below = fake_quant_flush_below(f);
  parallel_for(out.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = cpu_fake_quant(x[i], f, flush_below);
  });
  return out;
}

// The quant_a, quant_b and quant_sum attributes, in that order.
using NormQuant = std::array<std::optional<FakeQuant>, 3>;

class AddLayerNormKernel final : public CpuKernel {
 public:
  // codes.any(): y as E4M3 or int8 codes of y / codes.scale.
  AddLayerNormKernel(float eps, bool want_sum, OutputCodes codes, NormQuant quant)
      : eps_(eps), want_sum_(want_sum), codes_(codes), quant_(quant) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    const Tensor& gamma = *inputs[2];
    const Tensor* beta = inputs.size() > 3 ? inputs[3] : nullptr;
    for (const Tensor* t : {&a, &b, &gamma, beta}) {
      if (t != nullptr && t->dtype() != DType::kFloat32) {
        return invalid_argument("inputs must be float32, got ", t->describe());
      }
    }
    if (a.rank() < 1) return invalid_argument("a must have rank >= 1, got ", a.describe());
    const int64_t c = a.dim(a.rank() - 1);
    if (gamma.numel() != c || (beta != nullptr && beta->numel() != c)) {
      return invalid_argument("gamma ", gamma.describe(),
                              beta != nullptr ? " and beta " + beta->describe() : "",
                              " must have C = ", c, " elements");
    }
    int64_t b_rows = 0;
    VITRT_ASSIGN_OR_RETURN(Tensor b_full, addend_rows(a, b, &b_rows));
    const bool codes = codes_.any();
    // With codes out the fp32 rows stay in a per-thread scratch row (layer_norm_rows' encode).
    Tensor y = codes ? Tensor() : Tensor::empty(DType::kFloat32, a.shape());
    Tensor codes_y =
        codes ? Tensor::empty(codes_.int8 ? DType::kInt8 : DType::kUInt8, a.shape()) : Tensor();
    const auto& [quant_a, quant_b, quant_sum] = quant_;
    // quant_sum needs the sum whether or not the graph reads it.
    Tensor sum = want_sum_ || quant_sum ? Tensor::empty(DType::kFloat32, a.shape()) : Tensor();
    if (c > 0 && a.numel() > 0) {
      const float* pa = a.data<float>();
      const float* pb = b_full.data<float>();
      Tensor a_q, b_q, normalized;
      if (quant_a) {
        a_q = fake_quantized(pa, a.shape(), *quant_a);
        pa = a_q.data<float>();
      }
      if (quant_b) {
        b_q = fake_quantized(pb, b_full.shape(), *quant_b);
        pb = b_q.data<float>();
      }
      if (quant_sum) {
        // The sum as the Add writes it, then the LayerNorm of its fake quantization.
        float* s = sum.data<float>();
        const int64_t rows = a.numel() / c;
        parallel_for(rows, std::max<int64_t>(1, (1 << 14) / c), [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const float* __restrict ar = pa + r * c;
            const float* __restrict br = pb + (r % b_rows) * c;
            float* __restrict sr = s + r * c;
            for (int64_t j = 0; j < c; ++j) sr[j] = ar[j] + br[j];
          }
        });
        normalized = fake_quantized(s, a.shape(), *quant_sum);
        pa = normalized.data<float>();
        pb = nullptr;
      }
      LayerNormRowsArgs args;
      args.a = pa;
      args.b = pb;
      args.b_rows = b_rows;
      args.gamma = gamma.data<float>();
      args.beta = beta != nullptr ? beta->data<float>() : nullptr;
      args.y = codes ? nullptr : y.data<float>();
      args.sum = want_sum_ && !quant_sum ? sum.data<float>() : nullptr;
      args.rows = a.numel() / c;
      args.n = c;
      args.epsilon = eps_;
      // The reader's own quantize step on each fp32 row: int8 (zero point 0, qmax 127) or E4M3.
      const float scale = codes_.scale;
      if (codes && codes_.int8) {
        int8_t* dst = codes_y.data<int8_t>();
        const int32_t qmin = codes_.qmin;
        args.encode = [scale, qmin, dst](const float* row, int64_t n, int64_t r) {
          encode_int8_rows(row, n, scale, qmin, dst + r * n);
        };
      } else if (codes) {
        uint8_t* dst = codes_y.data<uint8_t>();
        args.encode = [scale, dst](const float* row, int64_t n, int64_t r) {
          for (int64_t i = 0; i < n; ++i) dst[r * n + i] = encode_fp8_output(row[i], scale);
        };
      }
      layer_norm_rows(args);
    }
    outputs[0] = codes ? std::move(codes_y) : std::move(y);
    if (want_sum_) outputs[1] = std::move(sum);
    return Status();
  }

 private:
  float eps_;
  bool want_sum_;
  OutputCodes codes_;
  NormQuant quant_;
};

Result<std::unique_ptr<CpuKernel>> make_add_layer_norm(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(float eps, init.node.attrs.get_float("epsilon", 1e-5f));
  const bool want_sum = init.node.outputs.size() > 1 && init.node.outputs[1] != kNoValue;
  VITRT_ASSIGN_OR_RETURN(OutputCodes codes, OutputCodes::parse(init.node.attrs));
  VITRT_ASSIGN_OR_RETURN(NormQuant quant, parse_add_layer_norm_quant(init.node.attrs));
  return std::unique_ptr<CpuKernel>(
      std::make_unique<AddLayerNormKernel>(eps, want_sum, codes, quant));
}

}  // namespace

void register_cpu_fused_norm_kernels(CpuKernelRegistry& registry) {
  registry.add("vitrt", "AddLayerNorm", make_add_layer_norm);
}

}  // namespace vitrt
