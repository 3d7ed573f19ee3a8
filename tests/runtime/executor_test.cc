// The CPU executor: input validation messages, execution order, intermediate release, kernel
// error wrapping and missing kernels. The kernels here live in a test-local registry (domain
// "test") so that these tests do not depend on the op families.
#include "runtime/executor.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <thread>

#include "runtime/cpu_engine.h"

namespace vitrt {
namespace {

// test.AddScalar(x) = x + attribute "value" (float32, any shape).
class AddScalarKernel final : public CpuKernel {
 public:
  explicit AddScalarKernel(float value) : value_(value) {}
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    Tensor y = Tensor::empty(DType::kFloat32, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = x.data<float>()[i] + value_;
    outputs[0] = std::move(y);
    return Status::ok_status();
  }

 private:
  float value_;
};

Result<std::unique_ptr<CpuKernel>> make_add_scalar(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(float v, init.node.attrs.get_float("value", 0.0f));
  if (v < 0) return invalid_model("attribute 'value' must be >= 0, got ", v);
  return std::unique_ptr<CpuKernel>(new AddScalarKernel(v));
}

// test.Sum(a, b) = a + b (same shapes) -- makes a value with two readers.
class SumKernel final : public CpuKernel {
 public:
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    if (a.shape() != b.shape()) return invalid_argument("shapes differ");
    Tensor y = Tensor::empty(DType::kFloat32, a.shape());
    for (int64_t i = 0; i < a.numel(); ++i) {
      y.data<float>()[i] = a.data<float>()[i] + b.data<float>()[i];
    }
    outputs[0] = std::move(y);
    return Status::ok_status();
  }
};

class FailKernel final : public CpuKernel {
 public:
  Status run(const std::vector<const Tensor*>&, std::vector<Tensor>&) override {
    return invalid_argument("the kernel failed on purpose");
  }
};
class NoOutputKernel final : public CpuKernel {
 public:
  Status run(const std::vector<const Tensor*>&, std::vector<Tensor>&) override {
    return Status::ok_status();
  }
};

const CpuKernelRegistry& test_registry() {
  static const CpuKernelRegistry registry = [] {
    CpuKernelRegistry r;
    r.add("test", "AddScalar", make_add_scalar);
    r.add("test", "Sum", [](const KernelInit&) -> Result<std::unique_ptr<CpuKernel>> {
      return std::unique_ptr<CpuKernel>(new SumKernel());
    });
    r.add("test", "Fail", [](const KernelInit&) -> Result<std::unique_ptr<CpuKernel>> {
      return std::unique_ptr<CpuKernel>(new FailKernel());
    });
    r.add("test", "NoOutput", [](const KernelInit&) -> Result<std::unique_ptr<CpuKernel>> {
      return std::unique_ptr<CpuKernel>(new NoOutputKernel());
    });
    return r;
  }();
  return registry;
}

ValueId add_f32(Graph& g, const std::string& name, SymShape shape) {
  Value v;
  v.name = name;
  v.dtype = DType::kFloat32;
  v.has_shape = true;
  v.shape = std::move(shape);
  return g.add_value(v);
}

NodeId add_node(Graph& g, const std::string& name, const std::string& op,
                std::vector<ValueId> inputs, std::vector<ValueId> outputs, float value = 1.0f) {
  Node n;
  n.name = name;
  n.op_type = op;
  n.domain = "test";
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  if (op == "AddScalar") n.attrs.set_float("value", value);
  return g.add_node(n);
}

// pixel_values[batch, 3, 2*seq] -> a = +1 -> b = +2 -> out = a + b
// mask[batch, seq] -> mask_out = +0.5
Graph two_input_graph() {
  Graph g;
  const Dim batch = Dim::symbol("batch");
  const Dim seq = Dim::symbol("seq");
  const ValueId x = add_f32(g, "pixel_values", {batch, Dim(3), Dim(2) * seq});
  const ValueId m = add_f32(g, "mask", {batch, seq});
  const ValueId a = add_f32(g, "a", {batch, Dim(3), Dim(2) * seq});
  const ValueId b = add_f32(g, "b", {batch, Dim(3), Dim(2) * seq});
  const ValueId out = add_f32(g, "out", {batch, Dim(3), Dim(2) * seq});
  const ValueId mo = add_f32(g, "mask_out", {batch, seq});
  add_node(g, "sum", "Sum", {a, b}, {out});  // first in the list, last in topological order
  add_node(g, "plus1", "AddScalar", {x}, {a}, 1.0f);
  add_node(g, "plus2", "AddScalar", {a}, {b}, 2.0f);
  add_node(g, "mask_plus", "AddScalar", {m}, {mo}, 0.5f);
  g.inputs = {x, m};
  g.outputs = {out, mo};
  return g;
}

Tensor filled(std::vector<int64_t> shape, float start) {
  Tensor t = Tensor::empty(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + 0.25f * i;
  return t;
}

std::shared_ptr<Engine> make_engine(Graph g) {
  Result<std::shared_ptr<Engine>> e = create_cpu_engine(std::move(g), test_registry());
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? *e : nullptr;
}

TEST(ExecutorTest, RunsInTopologicalOrderAndComputesOutputs) {
  auto engine = make_engine(two_input_graph());
  ASSERT_NE(engine, nullptr);
  auto ctx = engine->create_context();
  const Tensor x = filled({2, 3, 6}, -1.0f);
  const Tensor m = filled({2, 3}, 4.0f);
  Result<std::vector<NamedTensor>> r = ctx->run({{"mask", m}, {"pixel_values", x}});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "out");
  EXPECT_EQ((*r)[1].name, "mask_out");
  const Tensor& out = (*r)[0].tensor;
  ASSERT_EQ(out.shape(), x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double xi = x.data<float>()[i];
    EXPECT_FLOAT_EQ(out.data<float>()[i], static_cast<float>((xi + 1) + (xi + 3))) << i;
  }
  for (int64_t i = 0; i < m.numel(); ++i) {
    EXPECT_FLOAT_EQ((*r)[1].tensor.data<float>()[i], m.data<float>()[i] + 0.5f);
  }
  // A context is reusable and gives the same answer.
  Result<std::vector<NamedTensor>> again = ctx->run({{"mask", m}, {"pixel_values", x}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(std::memcmp(again->at(0).tensor.raw_data(), out.raw_data(), out.nbytes()), 0);
}

TEST(ExecutorTest, ScheduleReleasesEachIntermediateAfterItsLastReader) {
  const Graph g = two_input_graph();
  Result<ExecutionSchedule> s = make_execution_schedule(g);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->order.size(), 4u);
  std::map<std::string, size_t> step_of;
  for (size_t i = 0; i < s->order.size(); ++i) step_of[g.nodes[s->order[i]].name] = i;
  EXPECT_LT(step_of["plus1"], step_of["plus2"]);
  EXPECT_LT(step_of["plus2"], step_of["sum"]);
  std::map<std::string, size_t> released_at;
  for (size_t i = 0; i < s->release_after.size(); ++i) {
    for (ValueId id : s->release_after[i]) released_at[g.values[id].name] = i;
  }
  // 'a' has two readers: it must live until the later one (sum), not die after plus2.
  EXPECT_EQ(released_at.at("a"), step_of["sum"]);
  EXPECT_EQ(released_at.at("b"), step_of["sum"]);
  EXPECT_EQ(released_at.at("pixel_values"), step_of["plus1"]);
  EXPECT_EQ(released_at.at("mask"), step_of["mask_plus"]);
  EXPECT_EQ(released_at.count("out"), 0u);  // graph outputs are kept
  EXPECT_EQ(released_at.count("mask_out"), 0u);
}

Status run_status(Engine& engine, const std::vector<NamedTensor>& inputs) {
  return engine.create_context()->run(inputs).status();
}

void expect_message(const Status& s, const std::string& needle) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

TEST(ExecutorTest, InputValidationNamesTheInput) {
  auto engine = make_engine(two_input_graph());
  ASSERT_NE(engine, nullptr);
  const Tensor x = filled({2, 3, 6}, 0.0f);
  const Tensor m = filled({2, 3}, 0.0f);

  expect_message(run_status(*engine, {{"pixel_values", x}}), "missing input 'mask'");
  expect_message(run_status(*engine, {{"pixel_values", x}, {"mask", m}, {"extra", m}}),
                 "unknown input 'extra'; the model's inputs are: 'pixel_values', 'mask'");
  expect_message(run_status(*engine, {{"pixel_values", x}, {"mask", m}, {"mask", m}}),
                 "input 'mask' is given more than once");
  expect_message(
      run_status(*engine, {{"pixel_values", x}, {"mask", Tensor::zeros(DType::kInt64, {2, 3})}}),
      "input 'mask' has dtype int64, the model expects float32");
  expect_message(run_status(*engine, {{"pixel_values", filled({2, 3}, 0)}, {"mask", m}}),
                 "input 'pixel_values' has rank 2");
  expect_message(run_status(*engine, {{"pixel_values", filled({2, 4, 6}, 0)}, {"mask", m}}),
                 "input 'pixel_values' dim 1 is 4, the model expects 3");
  expect_message(run_status(*engine, {{"pixel_values", filled({4, 3, 6}, 0)}, {"mask", m}}),
                 "input 'pixel_values' dim 0 (batch) is 4 but input 'mask' dim 0 (batch) is 2");
  // pixel_values dim 2 is 2*seq: with seq = 3 from the mask it must be 6.
  expect_message(run_status(*engine, {{"pixel_values", filled({2, 3, 8}, 0)}, {"mask", m}}),
                 "input 'pixel_values' dim 2 (2*seq) is 8 but must be 6");
  expect_message(run_status(*engine, {{"pixel_values", x}, {"mask", Tensor()}}),
                 "input 'mask' holds no tensor");
  // Each error is an invalid argument, and a good run still works afterwards.
  EXPECT_EQ(run_status(*engine, {{"pixel_values", x}}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(run_status(*engine, {{"pixel_values", x}, {"mask", m}}).ok());
}

TEST(ExecutorTest, CompositeDimBindsAnUnboundSymbol) {
  Graph g;
  const Dim n = Dim::symbol("n");
  const ValueId x = add_f32(g, "x", {Dim(3) * n});
  const ValueId y = add_f32(g, "y", {Dim(3) * n});
  add_node(g, "p", "AddScalar", {x}, {y});
  g.inputs = {x};
  g.outputs = {y};
  auto engine = make_engine(std::move(g));
  ASSERT_NE(engine, nullptr);
  EXPECT_TRUE(run_status(*engine, {{"x", filled({9}, 0)}}).ok());
  expect_message(run_status(*engine, {{"x", filled({7}, 0)}}),
                 "input 'x' dim 0 (3*n) is 7, not a multiple of 3");
}

// Polynomial input dims: a symbol the dim is linear in is solved for (t from 2*t+1), a dim
// whose symbols are all bound is checked against their values, also when its input comes
// first (y is checked after x binds t).
TEST(ExecutorTest, PolynomialDimsBindAndCheck) {
  Graph g;
  const Dim t = Dim::symbol("t");
  const ValueId x = add_f32(g, "x", {Dim(2) * t + Dim(1)});
  const ValueId y = add_f32(g, "y", {t * t + Dim(5)});
  const ValueId xo = add_f32(g, "xo", {Dim(2) * t + Dim(1)});
  const ValueId yo = add_f32(g, "yo", {t * t + Dim(5)});
  add_node(g, "p", "AddScalar", {x}, {xo});
  add_node(g, "q", "AddScalar", {y}, {yo});
  g.inputs = {y, x};
  g.outputs = {xo, yo};
  auto engine = make_engine(std::move(g));
  ASSERT_NE(engine, nullptr);
  EXPECT_TRUE(run_status(*engine, {{"x", filled({9}, 0)}, {"y", filled({21}, 0)}}).ok());
  expect_message(run_status(*engine, {{"x", filled({9}, 0)}, {"y", filled({20}, 0)}}),
                 "input 'y' dim 0 (t*t+5) is 20 but must be 21 (t = 4 from input 'x' dim 0)");
  expect_message(run_status(*engine, {{"x", filled({8}, 0)}, {"y", filled({21}, 0)}}),
                 "input 'x' dim 0 (2*t+1) is 8, which no t >= 0 gives (2*t+1)");
}

TEST(ExecutorTest, KernelErrorsNameTheNode) {
  Graph g;
  const ValueId x = add_f32(g, "x", {Dim(2)});
  const ValueId y = add_f32(g, "y", {Dim(2)});
  add_node(g, "/blocks.0/bad", "Fail", {x}, {y});
  g.inputs = {x};
  g.outputs = {y};
  auto engine = make_engine(std::move(g));
  ASSERT_NE(engine, nullptr);
  const Status s = run_status(*engine, {{"x", filled({2}, 0)}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  expect_message(s, "node '/blocks.0/bad' (Fail): the kernel failed on purpose");
}

TEST(ExecutorTest, MissingKernelOutputIsAnInternalError) {
  Graph g;
  const ValueId x = add_f32(g, "x", {Dim(2)});
  const ValueId y = add_f32(g, "y", {Dim(2)});
  add_node(g, "lazy", "NoOutput", {x}, {y});
  g.inputs = {x};
  g.outputs = {y};
  auto engine = make_engine(std::move(g));
  ASSERT_NE(engine, nullptr);
  const Status s = run_status(*engine, {{"x", filled({2}, 0)}});
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  expect_message(s, "node 'lazy' (NoOutput): the kernel did not produce output 0 ('y')");
}

TEST(ExecutorTest, KernelDisagreeingWithShapeInferenceIsCaught) {
  Graph g;
  const ValueId x = add_f32(g, "x", {Dim(2)});
  const ValueId y = add_f32(g, "y", {Dim(5)});  // wrong on purpose
  add_node(g, "p", "AddScalar", {x}, {y});
  g.inputs = {x};
  g.outputs = {y};
  auto engine = make_engine(std::move(g));
  ASSERT_NE(engine, nullptr);
  const Status s = run_status(*engine, {{"x", filled({2}, 0)}});
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  expect_message(s, "output 0 ('y') is float32[2] but shape inference says float32[5]");
}

TEST(ExecutorTest, OpWithoutKernelAndBadAttributesFailAtLoad) {
  Graph g;
  const ValueId x = add_f32(g, "x", {Dim(2)});
  const ValueId y = add_f32(g, "y", {Dim(2)});
  add_node(g, "mystery", "Frobnicate", {x}, {y});
  g.inputs = {x};
  g.outputs = {y};
  Result<std::shared_ptr<Engine>> e = create_cpu_engine(g, test_registry());
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kUnsupported);
  expect_message(e.status(),
                 "node 'mystery' (Frobnicate): op 'Frobnicate' (domain 'test') has no CPU kernel");

  g.nodes[0].op_type = "AddScalar";
  g.nodes[0].attrs.set_float("value", -1.0f);
  e = create_cpu_engine(g, test_registry());
  ASSERT_FALSE(e.ok());
  expect_message(e.status(), "node 'mystery' (AddScalar): attribute 'value' must be >= 0");
}

TEST(ExecutorTest, EngineReportsSymbolicTensorInfo) {
  auto engine = make_engine(two_input_graph());
  ASSERT_NE(engine, nullptr);
  ASSERT_EQ(engine->inputs().size(), 2u);
  EXPECT_EQ(engine->inputs()[0].name, "pixel_values");
  EXPECT_EQ(engine->inputs()[0].dtype, DType::kFloat32);
  EXPECT_EQ(engine->inputs()[0].dims, (std::vector<std::string>{"batch", "3", "2*seq"}));
  EXPECT_EQ(engine->outputs()[1].dims, (std::vector<std::string>{"batch", "seq"}));
  EXPECT_EQ(engine->device(), "cpu");
}

TEST(ExecutorTest, ContextsRunConcurrently) {
  auto engine = make_engine(two_input_graph());
  ASSERT_NE(engine, nullptr);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto ctx = engine->create_context();
      for (int i = 0; i < 20; ++i) {
        const Tensor x = filled({t + 1, 3, 4}, static_cast<float>(t));
        const Tensor m = filled({t + 1, 2}, 0.0f);
        Result<std::vector<NamedTensor>> r = ctx->run({{"pixel_values", x}, {"mask", m}});
        if (!r.ok()) return;
        const float expect0 = 2 * static_cast<float>(t) + 4;
        if (r->at(0).tensor.data<float>()[0] != expect0) return;
      }
      ok[t] = 1;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, std::vector<int>(4, 1));
}

// The executor's buffer pool: a value is never overwritten while a later node still reads it,
// graph outputs survive later runs, the second run with the same shapes allocates nothing, and
// contexts do not share buffers.

// x -> a = x+1 -> b = a+2 -> c = b+3 -> out = a + c: `a` stays live across b and c, which have
// its size; reusing its buffer for either would change `out`.
Graph long_lived_value_graph() {
  Graph g;
  const Dim batch = Dim::symbol("batch");
  const ValueId x = add_f32(g, "x", {batch, Dim(5)});
  const ValueId a = add_f32(g, "a", {batch, Dim(5)});
  const ValueId b = add_f32(g, "b", {batch, Dim(5)});
  const ValueId c = add_f32(g, "c", {batch, Dim(5)});
  const ValueId out = add_f32(g, "out", {batch, Dim(5)});
  add_node(g, "plus1", "AddScalar", {x}, {a}, 1.0f);
  add_node(g, "plus2", "AddScalar", {a}, {b}, 2.0f);
  add_node(g, "plus3", "AddScalar", {b}, {c}, 3.0f);
  add_node(g, "sum", "Sum", {a, c}, {out});
  g.inputs = {x};
  g.outputs = {out};
  return g;
}

CpuExecutionContext& cpu_context(ExecutionContext& ctx) {
  return dynamic_cast<CpuExecutionContext&>(ctx);
}

TEST(ExecutorBufferPool, LiveValueIsNotReusedAndSecondRunAllocatesNothing) {
  auto engine = make_engine(long_lived_value_graph());
  ASSERT_NE(engine, nullptr);
  auto ctx = engine->create_context();
  const Tensor x = filled({3, 5}, -2.0f);
  std::vector<float> expect;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float xi = x.data<float>()[i];
    expect.push_back((xi + 1) + (xi + 6));
  }
  for (int run = 0; run < 3; ++run) {
    Result<std::vector<NamedTensor>> r = ctx->run({{"x", x}});
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    const Tensor& out = r->at(0).tensor;
    for (int64_t i = 0; i < out.numel(); ++i) ASSERT_EQ(out.data<float>()[i], expect[i]) << run;
  }
  // Four buffers a run; a, b and c are live together while plus3 runs, then `out` takes b's.
  // Run 1 allocates three; runs 2 and 3 reuse all four (the previous output was dropped).
  const BufferPoolStats s = cpu_context(*ctx).buffer_pool_stats();
  EXPECT_EQ(s.misses, 3);
  EXPECT_EQ(s.hits, 1 + 4 + 4);
  EXPECT_EQ(s.outstanding_bytes, 0u);
}

TEST(ExecutorBufferPool, OutputsHeldByTheCallerSurviveLaterRuns) {
  auto engine = make_engine(long_lived_value_graph());
  ASSERT_NE(engine, nullptr);
  auto ctx = engine->create_context();
  Result<std::vector<NamedTensor>> first = ctx->run({{"x", filled({2, 5}, 0.0f)}});
  ASSERT_TRUE(first.ok());
  const Tensor kept = first->at(0).tensor;
  const Tensor snapshot = kept.clone();
  for (int run = 0; run < 3; ++run) {
    Result<std::vector<NamedTensor>> next = ctx->run({{"x", filled({2, 5}, 100.0f + run)}});
    ASSERT_TRUE(next.ok());
    EXPECT_NE(next->at(0).tensor.raw_data(), kept.raw_data());
  }
  EXPECT_EQ(std::memcmp(kept.raw_data(), snapshot.raw_data(), kept.nbytes()), 0);
}

TEST(ExecutorBufferPool, ContextsDoNotShareBuffers) {
  auto engine = make_engine(long_lived_value_graph());
  ASSERT_NE(engine, nullptr);
  auto ctx1 = engine->create_context();
  auto ctx2 = engine->create_context();
  Result<std::vector<NamedTensor>> r1 = ctx1->run({{"x", filled({2, 5}, 0.0f)}});
  ASSERT_TRUE(r1.ok());
  const Tensor snapshot = r1->at(0).tensor.clone();
  for (int run = 0; run < 2; ++run) {
    Result<std::vector<NamedTensor>> r2 = ctx2->run({{"x", filled({2, 5}, 50.0f)}});
    ASSERT_TRUE(r2.ok());
  }
  // ctx2 allocated its own three buffers and ctx1's pool saw nothing of its runs.
  EXPECT_EQ(
      cpu_context(*ctx1).buffer_pool_stats().hits + cpu_context(*ctx1).buffer_pool_stats().misses,
      4);
  EXPECT_EQ(cpu_context(*ctx2).buffer_pool_stats().misses, 3);
  EXPECT_EQ(std::memcmp(r1->at(0).tensor.raw_data(), snapshot.raw_data(), snapshot.nbytes()), 0);
}

TEST(ExecutorBufferPool, BuffersOfShapesNoLongerRunAreFreed) {
  auto engine = make_engine(long_lived_value_graph());
  ASSERT_NE(engine, nullptr);
  auto ctx = engine->create_context();
  ASSERT_TRUE(ctx->run({{"x", filled({64, 5}, 0.0f)}}).ok());
  const size_t big = cpu_context(*ctx).buffer_pool_stats().cached_bytes;
  ASSERT_TRUE(ctx->run({{"x", filled({1, 5}, 0.0f)}}).ok());
  const size_t small = cpu_context(*ctx).buffer_pool_stats().cached_bytes;
  EXPECT_LT(small, big / 8);
}

}  // namespace
}  // namespace vitrt
