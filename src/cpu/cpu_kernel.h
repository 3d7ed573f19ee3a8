// The CPU backend's kernel interface. The CPU kernel of an op is its reference: every other
// backend and every fusion is tested against it.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

// What a kernel factory sees when an engine is loaded: the node and the graph around it.
struct KernelInit {
  const Graph& graph;
  const Node& node;
  int64_t opset;  // ai.onnx opset of the model
  // The constant value of input i, or nullptr (weights: a factory may pre-pack them).
  const Tensor* constant_input(int i) const {
    if (!node.has_input(i)) return nullptr;
    const Value& v = graph.values[node.inputs[i]];
    return v.is_constant() ? &v.constant : nullptr;
  }
};

class CpuKernel {
 public:
  virtual ~CpuKernel() = default;
  // `inputs` has one entry per node input (nullptr for an omitted optional one); `outputs` is
  // sized to the node's outputs and the kernel assigns each. Inputs are never written. An error
  // message need not name the node: the executor adds it.
  virtual Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) = 0;
};

// Validates attributes once at load time and builds the kernel.
using CpuKernelFactory = Result<std::unique_ptr<CpuKernel>> (*)(const KernelInit& init);

class CpuKernelRegistry {
 public:
  static const CpuKernelRegistry& global();
  void add(const std::string& domain, const std::string& op_type, CpuKernelFactory factory);
  CpuKernelFactory find(const std::string& domain, const std::string& op_type) const;

 private:
  std::map<std::pair<std::string, std::string>, CpuKernelFactory> factories_;
};

// kernel.run(inputs, outputs), with an output too large to allocate (TensorTooLarge,
// std::bad_alloc) returned as an error instead of thrown; the caller names the node.
Status run_cpu_kernel(CpuKernel& kernel, const std::vector<const Tensor*>& inputs,
                      std::vector<Tensor>& outputs);

// Runs one node once on the CPU kernels (the reference): the build-time evaluation that
// constant folding and ValueEvaluator share. `inputs` follow node.inputs (nullptr for an
// absent optional input). Fails with kNotFound when no CPU kernel implements the op, with the
// kernel's error when it refuses or fails, and with an internal error when it leaves a present
// output unset.
Result<std::vector<Tensor>> run_cpu_node(const Graph& graph, const Node& node,
                                         const std::vector<const Tensor*>& inputs);

// Registration functions, one per kernel family file in src/cpu/ (see cpu_kernel_registry.cc).
void register_cpu_elementwise_kernels(CpuKernelRegistry& registry);
void register_cpu_reduce_kernels(CpuKernelRegistry& registry);
void register_cpu_normalization_kernels(CpuKernelRegistry& registry);
void register_cpu_shape_op_kernels(CpuKernelRegistry& registry);
void register_cpu_indexing_kernels(CpuKernelRegistry& registry);
void register_cpu_linear_kernels(CpuKernelRegistry& registry);
void register_cpu_col2im_kernel(CpuKernelRegistry& registry);
void register_cpu_resize_kernels(CpuKernelRegistry& registry);
void register_cpu_grid_sample_kernels(CpuKernelRegistry& registry);
void register_cpu_pooling_kernels(CpuKernelRegistry& registry);
void register_cpu_attention_kernels(CpuKernelRegistry& registry);
void register_cpu_fused_linear_kernels(CpuKernelRegistry& registry);
void register_cpu_fused_norm_kernels(CpuKernelRegistry& registry);
void register_cpu_scale_shift_kernels(CpuKernelRegistry& registry);  // vitrt.ScaleShift
void register_cpu_patchify_kernels(CpuKernelRegistry& registry);
void register_cpu_rotary_embedding_kernels(CpuKernelRegistry& registry);
void register_cpu_quant_linear_kernels(CpuKernelRegistry& registry);
void register_cpu_qdq_kernels(CpuKernelRegistry& registry);  // QuantizeLinear, DequantizeLinear
// DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv
void register_cpu_integer_kernels(CpuKernelRegistry& registry);

// Adapts a plain function (for stateless kernels whose attributes are cheap to read per run).
template <typename Fn>
class FunctionKernel final : public CpuKernel {
 public:
  FunctionKernel(const Node& node, int64_t opset, Fn fn) : node_(node), opset_(opset), fn_(fn) {}
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    return fn_(node_, opset_, inputs, outputs);
  }

 private:
  const Node& node_;
  int64_t opset_;
  Fn fn_;
};

}  // namespace vitrt
