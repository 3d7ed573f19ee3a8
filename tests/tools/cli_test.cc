// The `vitrt` command, driven as a user would: exit codes and messages for bad input, the
// formats it writes, and a full build -> run -> compare against onnxruntime's output.
#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/npy.h"
#include "cpu/cpu_kernel.h"
#include "ir/op_schema.h"
#include "plan/plan_format.h"
#include "testing/compare.h"
#include "testing/vitrt_cli.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;

using testing::CliOutput;
using testing::contains;
using testing::run_vitrt;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The process id keeps concurrent runs (ctest -j, other checkouts) out of each other's way.
    dir_ = fs::path(::testing::TempDir()) /
           ("vitrt_cli_" + std::to_string(getpid()) + "_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `vitrt ARGS` (ARGS already shell-quoted where needed).
  CliOutput vitrt(const std::string& args) { return run_vitrt(args, dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A plan whose graph is just input -> output (no ops): exercises the run path without
  // depending on any kernel.
  std::string identity_plan(DType dtype = DType::kFloat32) {
    Graph g;
    g.name = "identity";
    g.opset_imports[""] = 17;
    Value x;
    x.name = "pixel/values:0";
    x.dtype = dtype;
    x.has_shape = true;
    x.shape = {Dim::symbol("batch"), Dim(3)};
    const ValueId id = g.add_value(x);
    g.inputs = {id};
    g.outputs = {id};
    PlanMetadata m;
    m.vitrt_version = "test";
    const std::string p = path(str_cat("identity_", dtype_name(dtype), ".plan"));
    EXPECT_TRUE(write_plan_file(p, g, m).ok());
    return p;
  }

  std::string write_npy(const std::string& name, const Tensor& t) {
    const std::string p = path(name);
    EXPECT_TRUE(write_npy_file(p, t).ok());
    return p;
  }

  fs::path dir_;
};

Tensor ramp(std::vector<int64_t> shape) {
  Tensor t = Tensor::empty(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 0.5f * static_cast<float>(i) - 2;
  return t;
}

TEST_F(CliTest, VersionHelpAndUsageErrors) {
  CliOutput r = vitrt("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(contains(r.out, "vitrt ")) << r.out;
  EXPECT_EQ(vitrt("").exit_code, 2);
  r = vitrt("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "unknown command 'frobnicate'")) << r.err;
  for (const char* cmd : {"build", "run", "inspect", "bench"}) {
    r = vitrt(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_TRUE(contains(r.out, std::string("usage: vitrt ") + cmd)) << r.out;
    r = vitrt(std::string(cmd) + " --no-such-flag");
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_TRUE(contains(r.err, "unknown flag '--no-such-flag'")) << r.err;
  }
  EXPECT_EQ(vitrt("build model.onnx").exit_code, 2);  // no -o
  EXPECT_EQ(vitrt("build model.onnx -o x.plan --precision fp12").exit_code, 2);
  EXPECT_EQ(vitrt("run model.plan").exit_code, 2);  // no --output-dir
  r = vitrt("run model.plan --input pixels --output-dir out");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "NAME=VALUE")) << r.err;
  EXPECT_EQ(vitrt("bench model.plan --iterations 0").exit_code, 2);
  EXPECT_EQ(vitrt("bench model.plan --batch two").exit_code, 2);
  EXPECT_EQ(vitrt("bench model.plan --shape x=1xAx3").exit_code, 2);
  EXPECT_EQ(vitrt("inspect").exit_code, 2);
}

// inspect on a model with If nodes lists it as `vitrt build` will see it (each If replaced by the
// branch its build-time condition takes), or warns with the reason the build will refuse it.
TEST_F(CliTest, InspectResolvesIfOrSaysWhyTheBuildWillRefuse) {
  const std::string root = std::string(VITRT_SOURCE_DIR) + "/tests/";
  CliOutput r = vitrt("inspect '" + root + "golden/hf_dinov3_sdpa_ts17/model.onnx' --nodes");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "If nodes: 2, resolved at build time")) << r.out;
  EXPECT_FALSE(contains(r.err, "warning")) << r.err;
  EXPECT_FALSE(contains(r.out, " If ")) << r.out;
  r = vitrt("inspect '" + root + "data/conformance_if/refuse_data_condition.onnx'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "vitrt build will refuse this model")) << r.err;
  EXPECT_TRUE(contains(r.err, "depends on the data")) << r.err;
}

TEST_F(CliTest, MissingFilesFailWithTheirName) {
  for (const char* args :
       {"run /nonexistent/m.plan --output-dir out", "inspect /nonexistent/m.plan",
        "bench /nonexistent/m.plan", "build /nonexistent/m.onnx -o x.plan"}) {
    CliOutput r = vitrt(args);
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_TRUE(contains(r.err, "/nonexistent/m.")) << args << ": " << r.err;
  }
}

TEST_F(CliTest, BuildRefusesUnsupportedPrecision) {
  CliOutput r = vitrt("build model.onnx -o x.plan --precision fp16");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "precision 'fp16' is not supported yet")) << r.err;
}

// NumPy has no bfloat16: a bfloat16 input arrives as float32 and is rounded (to nearest even),
// and a bfloat16 output leaves as float32. A float16 input takes float32 the same way.
TEST_F(CliTest, RunRoundsFloat32InputsOfHalfModelsAndWidensBfloat16Outputs) {
  // 1 + 2^-8 lies halfway between bfloat16's 1 and 1 + 2^-7: it rounds to 1. 1 + 3 * 2^-8
  // rounds up to 1 + 2^-6. float16 holds all three.
  const Tensor x = Tensor::from_float({1.0f, 1.00390625f, 1.01171875f, -2.5f, 0.0f, 3.0f});
  Result<Tensor> x2 = x.reshaped({2, 3});
  ASSERT_TRUE(x2.ok());
  const std::string in = write_npy("x.npy", *x2);
  const std::string out = path("out");
  CliOutput r = vitrt("run '" + identity_plan(DType::kBFloat16) +
                      "' --input 'pixel/values:0=" + in + "' --output-dir '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "float32 .npy rounded to the model's bfloat16")) << r.err;
  EXPECT_TRUE(contains(r.err, "bfloat16 written as float32")) << r.err;
  Result<Tensor> y = read_npy(out + "/pixel_values_0.npy");
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_EQ(y->dtype(), DType::kFloat32);
  const std::vector<float> want = {1.0f, 1.0f, 1.015625f, -2.5f, 0.0f, 3.0f};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y->data<float>()[i], want[i]) << i;

  r = vitrt("run '" + identity_plan(DType::kFloat16) + "' --input 'pixel/values:0=" + in +
            "' --output-dir '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  y = read_npy(out + "/pixel_values_0.npy");
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_EQ(y->dtype(), DType::kFloat16);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y->element_as_double(i), x2->element_as_double(i)) << i;
}

TEST_F(CliTest, RunWritesSanitisedOutputsAndRejectsBadInputs) {
  const std::string plan = identity_plan();
  const std::string good = write_npy("good.npy", ramp({4, 3}));
  const std::string out = path("out");

  CliOutput r =
      vitrt("run '" + plan + "' --input 'pixel/values:0=" + good + "' --output-dir '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Result<Tensor> written = read_npy(out + "/pixel_values_0.npy");
  ASSERT_TRUE(written.ok()) << written.status().to_string();
  EXPECT_TRUE(testing::tensors_close(*written, ramp({4, 3}), {0, 0}));

  // Wrong input name, missing input, wrong dim, wrong dtype, a bad .npy, a missing .npy.
  r = vitrt("run '" + plan + "' --input 'pixels=" + good + "' --output-dir '" + out + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "unknown input 'pixels'")) << r.err;
  r = vitrt("run '" + plan + "' --output-dir '" + out + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "missing input 'pixel/values:0'")) << r.err;
  const std::string wide = write_npy("wide.npy", ramp({4, 5}));
  r = vitrt("run '" + plan + "' --input 'pixel/values:0=" + wide + "' --output-dir '" + out + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "dim 1 is 5, the model expects 3")) << r.err;
  const std::string ints = write_npy("ints.npy", Tensor::zeros(DType::kInt64, {4, 3}));
  r = vitrt("run '" + plan + "' --input 'pixel/values:0=" + ints + "' --output-dir '" + out + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "has dtype int64, the model expects float32")) << r.err;
  {
    std::ofstream bad(path("bad.npy"));
    bad << "this is not numpy";
  }
  r = vitrt("run '" + plan + "' --input 'pixel/values:0=" + path("bad.npy") + "' --output-dir '" +
            out + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "bad.npy")) << r.err;
  r = vitrt("run '" + plan + "' --input 'pixel/values:0=" + path("none.npy") + "' --output-dir '" +
            out + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "none.npy")) << r.err;
}

TEST_F(CliTest, OutputNamesThatCollideAfterSanitisingGetSuffixes) {
  // Two pass-through inputs whose names both sanitise to "a_b", and one that starts with '.'.
  Graph g;
  g.opset_imports[""] = 17;
  for (const char* name : {"a/b", "a:b", ".hidden"}) {
    Value v;
    v.name = name;
    v.dtype = DType::kFloat32;
    v.has_shape = true;
    v.shape = {Dim(2)};
    const ValueId id = g.add_value(v);
    g.inputs.push_back(id);
    g.outputs.push_back(id);
  }
  ASSERT_TRUE(write_plan_file(path("collide.plan"), g, PlanMetadata()).ok());
  const std::string x = write_npy("x.npy", ramp({2}));
  const std::string out = path("out");
  CliOutput r =
      vitrt("run '" + path("collide.plan") + "' --input 'a/b=" + x + "' --input 'a:b=" + x +
            "' --input '.hidden=" + x + "' --output-dir '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out + "/a_b.npy"));
  EXPECT_TRUE(fs::exists(out + "/a_b_2.npy"));
  EXPECT_TRUE(fs::exists(out + "/_.hidden.npy"));
}

TEST_F(CliTest, CorruptAndForeignPlans) {
  const std::string plan = identity_plan();
  std::string bytes = testing::read_file_text(plan);
  bytes[bytes.size() / 2] ^= 0x40;
  {
    std::ofstream out(path("corrupt.plan"), std::ios::binary);
    out << bytes;
  }
  for (const char* cmd : {"inspect", "bench"}) {
    CliOutput r = vitrt(std::string(cmd) + " '" + path("corrupt.plan") + "'");
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_TRUE(contains(r.err, "corrupt plan")) << r.err;
    EXPECT_TRUE(contains(r.err, "corrupt.plan")) << r.err;
  }
  // A plan with an op no backend knows: the message names op, domain and node.
  Graph g;
  g.opset_imports[""] = 17;
  Value x;
  x.name = "x";
  x.dtype = DType::kFloat32;
  x.has_shape = true;
  x.shape = {Dim(2)};
  const ValueId xi = g.add_value(x);
  x.name = "y";
  const ValueId yi = g.add_value(x);
  Node n;
  n.name = "/blocks.0/mystery";
  n.op_type = "NoSuchOp";
  n.domain = "test.unknown";
  n.inputs = {xi};
  n.outputs = {yi};
  g.add_node(n);
  g.inputs = {xi};
  g.outputs = {yi};
  ASSERT_TRUE(write_plan_file(path("unknown_op.plan"), g, PlanMetadata()).ok());
  CliOutput r = vitrt("bench '" + path("unknown_op.plan") + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err,
                       "node '/blocks.0/mystery' (NoSuchOp): op 'NoSuchOp' (domain "
                       "'test.unknown') has no CPU kernel"))
      << r.err;
}

TEST_F(CliTest, InspectPlan) {
  const std::string plan = identity_plan();
  CliOutput r = vitrt("inspect '" + plan + "' --nodes");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "format version: 3")) << r.out;
  EXPECT_TRUE(contains(r.out, "checksum: ok")) << r.out;
  EXPECT_TRUE(contains(r.out, "device: cpu")) << r.out;
  EXPECT_TRUE(contains(r.out, "pixel/values:0: float32[batch, 3]")) << r.out;
}

TEST_F(CliTest, BenchJsonIsTheLastLine) {
  const std::string plan = identity_plan();
  CliOutput r = vitrt("bench '" + plan + "' --batch 4 --iterations 5 --warmup 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string last = r.out;
  while (!last.empty() && last.back() == '\n') last.pop_back();
  last = last.substr(last.rfind('\n') + 1);
  ASSERT_FALSE(last.empty());
  EXPECT_EQ(last.front(), '{');
  EXPECT_EQ(last.back(), '}');
  for (const char* key : {"\"median_ms\": ", "\"p90_ms\": ", "\"p99_ms\": ", "\"throughput\": ",
                          "\"batch\": 4", "\"iterations\": 5", "\"device\": \"cpu\""}) {
    EXPECT_TRUE(contains(last, key)) << key << " in " << last;
  }
  EXPECT_TRUE(contains(r.out, "input pixel/values:0: float32[4, 3]")) << r.out;
  r = vitrt("bench '" + plan + "' --shape 'pixel/values:0=2x3' --iterations 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\"batch\": 2")) << r.out;
  r = vitrt("bench '" + plan + "' --shape nope=2x3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "unknown input 'nope'")) << r.err;
  r = vitrt("bench '" + plan + "' --device cuda");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "cuda")) << r.err;
}

// --profile lists the 10 slowest nodes; --profile-nodes N that many, 0 every node.
TEST_F(CliTest, BenchProfileNodes) {
  const std::string model = std::string(VITRT_SOURCE_DIR) + "/tests/data/digits_vit/model.onnx";
  const std::string plan = path("digits.plan");
  CliOutput r = vitrt("build '" + model + "' -o '" + plan + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto node_lines = [](const std::string& out) {
    const size_t at = out.find("slowest nodes:");
    int n = 0;
    for (size_t p = out.find(" ms  ", at); at != std::string::npos && p != std::string::npos;
         p = out.find(" ms  ", p + 1)) {
      ++n;
    }
    return n;
  };
  r = vitrt("bench '" + plan + "' --iterations 2 --warmup 0 --profile");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(node_lines(r.out), 10) << r.out;
  r = vitrt("bench '" + plan + "' --iterations 2 --warmup 0 --profile --profile-nodes 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(node_lines(r.out), 3) << r.out;
  r = vitrt("inspect '" + plan + "'");
  const size_t at = r.out.find("nodes: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const int nodes = std::stoi(r.out.substr(at + 7));
  EXPECT_GT(nodes, 10);
  r = vitrt("bench '" + plan + "' --iterations 2 --warmup 0 --profile --profile-nodes 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(node_lines(r.out), nodes) << r.out;
  r = vitrt("bench '" + plan + "' --profile-nodes 3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--profile-nodes needs --profile")) << r.err;
  r = vitrt("bench '" + plan + "' --profile --profile-nodes -1");
  EXPECT_EQ(r.exit_code, 2);
}

// build -> run -> compare, on the model that needs only MatMul and Transpose.
TEST_F(CliTest, BuildRunTwoOutputsMatchesOnnxRuntime) {
  for (const char* op : {"MatMul", "Transpose"}) {
    if (OpRegistry::global().find("", op) == nullptr ||
        CpuKernelRegistry::global().find("", op) == nullptr) {
      GTEST_SKIP() << "op " << op << " is not registered yet";
    }
  }
  const std::string data = std::string(VITRT_SOURCE_DIR) + "/tests/data/cli/";
  const std::string plan = path("tiny_matmul.plan");
  CliOutput r = vitrt("build '" + data + "tiny_matmul.onnx' -o '" + plan + "' --verbose");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string out = path("out");
  r = vitrt("run '" + plan + "' --input 'x=" + data + "x.npy' --output-dir '" + out + "' --print");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "min ")) << r.out;
  for (const auto& [file, expected] :
       {std::pair<std::string, std::string>{"out_y_0.npy", "expected_out_y_0.npy"},
        {"yt.npy", "expected_yt.npy"}}) {
    Result<Tensor> actual = read_npy(out + "/" + file);
    ASSERT_TRUE(actual.ok()) << actual.status().to_string();
    EXPECT_TRUE(testing::tensors_close(*actual, *read_npy(data + expected), {1e-5, 1e-6})) << file;
  }
  // An array of the wrong shape is refused with the input and dim named.
  r = vitrt("run '" + plan + "' --input 'x=" + data + "expected_yt.npy' --output-dir '" + out +
            "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "input 'x' dim 1 is 3, the model expects 5")) << r.err;
}

// build -> inspect -> run -> compare with onnxruntime (tests/data/cli/make_cli_fixture.py).
TEST_F(CliTest, BuildProfilesAreStoredAndBoundRuns) {
  const std::string data = std::string(VITRT_SOURCE_DIR) + "/tests/data/cli/";
  const std::string plan = path("profiled.plan");
  CliOutput r = vitrt("build '" + data + "tiny_head.onnx' -o '" + plan +
                      "' --profile pixel_values:min=1x5,opt=2x5,max=4x5"
                      " --profile pixel_values:min=8x5,opt=8x5,max=8x5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "profile 1: pixel_values:min=8x5,opt=8x5,max=8x5")) << r.out;
  r = vitrt("inspect '" + plan + "'");
  EXPECT_TRUE(contains(r.out, "pixel_values:min=1x5,opt=2x5,max=4x5|pixel_values:min=8x5"))
      << r.out;
  const std::string out = path("out");
  r = vitrt("run '" + plan + "' --input 'pixel_values=" + write_npy("b8.npy", ramp({8, 5})) +
            "' --output-dir '" + out + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = vitrt("run '" + plan + "' --input 'pixel_values=" + write_npy("b6.npy", ramp({6, 5})) +
            "' --output-dir '" + out + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err,
                       "input 'pixel_values' has shape [6, 5], outside every"
                       " optimization profile"))
      << r.err;
  // A malformed range and a range for an input the model lacks.
  r = vitrt("build '" + data + "tiny_head.onnx' -o '" + plan + "' --profile pixel_values:min=1x5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "needs min=, opt= and max=")) << r.err;
  r = vitrt("build '" + data + "tiny_head.onnx' -o '" + plan +
            "' --profile x:min=1x5,opt=1x5,max=1x5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "names input 'x', which the model does not have")) << r.err;
}

TEST_F(CliTest, BuildRunMatchesOnnxRuntime) {
  for (const char* op : {"MatMul", "Add", "Relu"}) {
    if (OpRegistry::global().find("", op) == nullptr ||
        CpuKernelRegistry::global().find("", op) == nullptr) {
      GTEST_SKIP() << "op " << op << " is not registered yet";
    }
  }
  const std::string data = std::string(VITRT_SOURCE_DIR) + "/tests/data/cli/";
  const std::string plan = path("tiny_head.plan");
  CliOutput r = vitrt("build '" + data + "tiny_head.onnx' -o '" + plan + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "MatMul x1")) << r.out;

  r = vitrt("inspect '" + plan + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "pixel_values: float32[batch, 5]")) << r.out;
  EXPECT_TRUE(contains(r.out, "head/logits: float32[batch, 3]")) << r.out;
  EXPECT_TRUE(contains(r.out, "parameters: 18")) << r.out;

  const Result<Tensor> expected = read_npy(data + "expected_head_logits.npy");
  ASSERT_TRUE(expected.ok());
  // The plan and the ONNX model directly must both give onnxruntime's answer.
  for (const std::string& model : {plan, data + "tiny_head.onnx"}) {
    const std::string out = path("out");
    r = vitrt("run '" + model + "' --input 'pixel_values=" + data +
              "pixel_values.npy' --output-dir '" + out + "'");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Result<Tensor> actual = read_npy(out + "/head_logits.npy");
    ASSERT_TRUE(actual.ok()) << actual.status().to_string();
    EXPECT_TRUE(testing::tensors_close(*actual, *expected, {1e-5, 1e-6})) << model;
    fs::remove_all(out);
  }
}

}  // namespace
}  // namespace vitrt
