// lower_recurrent: LSTM, GRU and RNN nodes unrolled into standard ops compute what a float64
// loop over ONNX's equations computes: every direction, both layouts, biases, initial states,
// peepholes, input_forget, linear_before_reset, the optional activations with their alpha /
// beta, and sequence_lens given at run time. Forms vitrt cannot unroll are errors naming the
// node.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ir/ops/recurrent.h"
#include "passes/pass.h"
#include "run_pass.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

double activate(const RecurrentActivation& a, double x) {
  const std::string& n = a.name;
  if (n == "Sigmoid") return 1.0 / (1.0 + std::exp(-x));
  if (n == "Tanh") return std::tanh(x);
  if (n == "Relu") return x > 0 ? x : 0.0;
  if (n == "HardSigmoid") return std::fmin(1.0, std::fmax(0.0, a.alpha * x + a.beta));
  if (n == "ScaledTanh") return a.alpha * std::tanh(a.beta * x);
  if (n == "Affine") return a.alpha * x + a.beta;
  if (n == "LeakyRelu") return x >= 0 ? x : a.alpha * x;
  if (n == "Elu") return x >= 0 ? x : a.alpha * (std::exp(x) - 1.0);
  if (n == "Softsign") return x / (1.0 + std::fabs(x));
  if (n == "Softplus") return std::log1p(std::exp(x));
  if (n == "ThresholdedRelu") return x > a.alpha ? x : 0.0;
  ADD_FAILURE() << "no reference for " << n;
  return 0.0;
}

struct Case {
  std::string op = "LSTM";
  std::string direction = "forward";
  int64_t layout = 0;
  int64_t seq = 5, batch = 3, input = 4, hidden = 6;
  bool bias = true, initial = false, peepholes = false, input_forget = false;
  bool linear_before_reset = false;
  std::vector<int64_t> lens;  // run-time sequence_lens, empty for none
  std::vector<std::string> activations;
  std::vector<float> alpha, beta;
  std::optional<float> clip;  // the clip attribute
};

// How many gate inputs the reference clipped (a clip test that clips nothing proves nothing).
int64_t g_clipped = 0;

struct Feeds {
  Tensor x, w, r, b, h0, c0, p;
};

// ONNX's equations in float64, written out per kind; one batch row at a time.
std::vector<Tensor> reference(const Case& c, const RecurrentSpec& spec, const Feeds& f) {
  const int64_t S = c.seq, B = c.batch, I = c.input, H = c.hidden, D = spec.num_directions;
  const int G = spec.gates;
  const auto X = [&](int64_t t, int64_t b, int64_t i) {
    return static_cast<double>(
        f.x.data<float>()[c.layout == 0 ? (t * B + b) * I + i : (b * S + t) * I + i]);
  };
  const auto state_index = [&](int64_t d, int64_t b, int64_t j) {
    return c.layout == 0 ? (d * B + b) * H + j : (b * D + d) * H + j;
  };
  std::vector<int64_t> y_shape =
      c.layout == 0 ? std::vector<int64_t>{S, D, B, H} : std::vector<int64_t>{B, S, D, H};
  std::vector<int64_t> s_shape =
      c.layout == 0 ? std::vector<int64_t>{D, B, H} : std::vector<int64_t>{B, D, H};
  Tensor y = Tensor::zeros(DType::kFloat32, y_shape);
  Tensor yh = Tensor::zeros(DType::kFloat32, s_shape);
  Tensor yc = Tensor::zeros(DType::kFloat32, s_shape);
  // ONNX Runtime's clip: each gate's input, before its activation; LSTM's h(C) reads C as is.
  const auto cl = [&](double v) {
    if (!c.clip) return v;
    const double bounded = std::fmin(std::fmax(v, -*c.clip), *c.clip);
    if (bounded != v) ++g_clipped;
    return bounded;
  };
  for (int64_t d = 0; d < D; ++d) {
    const float* w = f.w.data<float>() + d * G * H * I;
    const float* r = f.r.data<float>() + d * G * H * H;
    const float* wb = c.bias ? f.b.data<float>() + d * 2 * G * H : nullptr;
    const float* rb = c.bias ? wb + G * H : nullptr;
    const auto& act = spec.activations[d];
    for (int64_t b = 0; b < B; ++b) {
      std::vector<double> h(H, 0.0), cell(H, 0.0);
      if (c.initial) {
        for (int64_t j = 0; j < H; ++j) {
          h[j] = f.h0.data<float>()[state_index(d, b, j)];
          if (c.op == "LSTM") cell[j] = f.c0.data<float>()[state_index(d, b, j)];
        }
      }
      const int64_t len = c.lens.empty() ? S : c.lens[b];
      for (int64_t step = 0; step < len; ++step) {
        const int64_t t = (spec.reverse || d == 1) ? len - 1 - step : step;
        // xw[g*H + j] = x W^T + Wb;  hr[g*H + j] = h R^T + Rb
        std::vector<double> xw(G * H), hr(G * H);
        for (int64_t k = 0; k < G * H; ++k) {
          double sx = wb ? wb[k] : 0.0, sh = rb ? rb[k] : 0.0;
          for (int64_t i = 0; i < I; ++i) sx += X(t, b, i) * w[k * I + i];
          for (int64_t i = 0; i < H; ++i) sh += h[i] * r[k * H + i];
          xw[k] = sx;
          hr[k] = sh;
        }
        std::vector<double> hn(H);
        if (c.op == "LSTM") {
          const float* p = c.peepholes ? f.p.data<float>() + d * 3 * H : nullptr;
          for (int64_t j = 0; j < H; ++j) {
            const double gi = xw[j] + hr[j] + (p ? p[j] * cell[j] : 0.0);
            const double gf = xw[2 * H + j] + hr[2 * H + j] + (p ? p[2 * H + j] * cell[j] : 0.0);
            const double i_g = activate(act[0], cl(gi));
            const double f_g = c.input_forget ? 1.0 - i_g : activate(act[0], cl(gf));
            const double c_g = activate(act[1], cl(xw[3 * H + j] + hr[3 * H + j]));
            cell[j] = f_g * cell[j] + i_g * c_g;
            const double go = xw[H + j] + hr[H + j] + (p ? p[H + j] * cell[j] : 0.0);
            hn[j] = activate(act[0], cl(go)) * activate(act[2], cell[j]);
          }
        } else if (c.op == "GRU") {
          std::vector<double> z(H), rg(H);
          for (int64_t j = 0; j < H; ++j) {
            z[j] = activate(act[0], cl(xw[j] + hr[j]));
            rg[j] = activate(act[0], cl(xw[H + j] + hr[H + j]));
          }
          for (int64_t j = 0; j < H; ++j) {
            double in = xw[2 * H + j];
            if (c.linear_before_reset) {
              in += rg[j] * hr[2 * H + j];
            } else {
              double acc = rb ? rb[2 * H + j] : 0.0;
              for (int64_t i = 0; i < H; ++i) acc += rg[i] * h[i] * r[(2 * H + j) * H + i];
              in += acc;
            }
            const double cand = activate(act[1], cl(in));
            hn[j] = (1.0 - z[j]) * cand + z[j] * h[j];
          }
        } else {
          for (int64_t j = 0; j < H; ++j) hn[j] = activate(act[0], cl(xw[j] + hr[j]));
        }
        h = hn;
        for (int64_t j = 0; j < H; ++j) {
          const int64_t at =
              c.layout == 0 ? ((t * D + d) * B + b) * H + j : ((b * S + t) * D + d) * H + j;
          y.data<float>()[at] = static_cast<float>(h[j]);
        }
      }
      for (int64_t j = 0; j < H; ++j) {
        yh.data<float>()[state_index(d, b, j)] = static_cast<float>(h[j]);
        yc.data<float>()[state_index(d, b, j)] = static_cast<float>(cell[j]);
      }
    }
  }
  std::vector<Tensor> out = {y, yh};
  if (c.op == "LSTM") out.push_back(yc);
  return out;
}

// ONNX's list-of-strings attribute (activations).
Attribute string_list(std::vector<std::string> values) {
  Attribute a;
  a.kind = Attribute::Kind::kStrings;
  a.strings = std::move(values);
  return a;
}

// A refused model: the error names the node and says `expected`.
void expect_refused(const Status& s, const char* node, const char* expected) {
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(node), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find(expected), std::string::npos) << s.to_string();
}

// X [4, 2, 3] read by a forward LSTM of hidden size 5: X, W, R.
std::vector<ValueId> small_lstm_inputs(TestGraph& g, ValueId x) {
  return {x, g.constant("W", testing::random_tensor(DType::kFloat32, {1, 20, 3}, 1)),
          g.constant("R", testing::random_tensor(DType::kFloat32, {1, 20, 5}, 2))};
}

Case make(const std::string& op, const std::function<void(Case&)>& set = {}) {
  Case c;
  c.op = op;
  if (set) set(c);
  return c;
}

// Builds the node, lowers it, runs the graph and compares every output with the reference.
void check(const Case& c) {
  SCOPED_TRACE(::testing::Message()
               << c.op << " " << c.direction << " layout " << c.layout << " lens " << c.lens.size()
               << " initial " << c.initial << " peepholes " << c.peepholes << " lbr "
               << c.linear_before_reset);
  const int64_t D = c.direction == "bidirectional" ? 2 : 1;
  const int G = c.op == "LSTM" ? 4 : c.op == "GRU" ? 3 : 1;
  const int64_t H = c.hidden;
  TestGraph g;
  const Dim batch = Dim::symbol("batch");
  const ValueId x = g.input("x", DType::kFloat32,
                            c.layout == 0 ? SymShape{Dim(c.seq), batch, Dim(c.input)}
                                          : SymShape{batch, Dim(c.seq), Dim(c.input)});
  Feeds f;
  f.x = testing::random_tensor(DType::kFloat32,
                               c.layout == 0 ? std::vector<int64_t>{c.seq, c.batch, c.input}
                                             : std::vector<int64_t>{c.batch, c.seq, c.input},
                               11);
  f.w = testing::random_tensor(DType::kFloat32, {D, G * H, c.input}, 12, -0.6, 0.6);
  f.r = testing::random_tensor(DType::kFloat32, {D, G * H, H}, 13, -0.6, 0.6);
  f.b = testing::random_tensor(DType::kFloat32, {D, 2 * G * H}, 14, -0.5, 0.5);
  f.p = testing::random_tensor(DType::kFloat32, {D, 3 * H}, 15, -0.5, 0.5);
  const std::vector<int64_t> state_shape =
      c.layout == 0 ? std::vector<int64_t>{D, c.batch, H} : std::vector<int64_t>{c.batch, D, H};
  f.h0 = testing::random_tensor(DType::kFloat32, state_shape, 16);
  f.c0 = testing::random_tensor(DType::kFloat32, state_shape, 17);
  std::vector<Tensor> feeds = {f.x};
  std::vector<ValueId> in = {x,
                             g.constant("W", f.w),
                             g.constant("R", f.r),
                             c.bias ? g.constant("B", f.b) : kNoValue,
                             kNoValue,
                             kNoValue};
  if (!c.lens.empty()) {
    in[kRecSeqLens] = g.input("lens", DType::kInt32, {batch});
    Tensor lens = Tensor::empty(DType::kInt32, {c.batch});
    for (int64_t b = 0; b < c.batch; ++b) lens.data<int32_t>()[b] = static_cast<int32_t>(c.lens[b]);
    feeds.push_back(lens);
  }
  const SymShape sym_state =
      c.layout == 0 ? SymShape{Dim(D), batch, Dim(H)} : SymShape{batch, Dim(D), Dim(H)};
  if (c.initial) {
    in[kRecInitialH] = g.input("h0", DType::kFloat32, sym_state);
    feeds.push_back(f.h0);
  }
  if (c.op == "LSTM") {
    in.push_back(kNoValue);
    in.push_back(c.peepholes ? g.constant("P", f.p) : kNoValue);
    if (c.initial) {
      in[kRecInitialC] = g.input("c0", DType::kFloat32, sym_state);
      feeds.push_back(f.c0);
    }
  }
  while (!in.empty() && in.back() == kNoValue) in.pop_back();
  Attributes a;
  a.set_string("direction", c.direction);
  a.set_int("hidden_size", H);
  if (c.layout != 0) a.set_int("layout", c.layout);
  if (c.input_forget) a.set_int("input_forget", 1);
  if (c.linear_before_reset) a.set_int("linear_before_reset", 1);
  if (!c.activations.empty()) a.set("activations", string_list(c.activations));
  if (!c.alpha.empty()) a.set_floats("activation_alpha", c.alpha);
  if (!c.beta.empty()) a.set_floats("activation_beta", c.beta);
  if (c.clip) a.set_float("clip", *c.clip);
  const int outputs = c.op == "LSTM" ? 3 : 2;
  const std::vector<ValueId> outs = g.op_multi(c.op, in, outputs, a, "", "/encoder/rnn");
  for (ValueId o : outs) g.output(o);
  ASSERT_TRUE(g.infer().ok());
  auto spec = parse_recurrent(g.graph().nodes[0], nullptr, nullptr);
  ASSERT_TRUE(spec.ok()) << spec.status().to_string();
  testing::PassResult r = testing::run_pass(lower_recurrent, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  EXPECT_EQ(testing::count_ops(g.graph(), c.op), 0);
  auto got = testing::run_graph(g.graph(), feeds);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  const std::vector<Tensor> want = reference(c, *spec, f);
  ASSERT_EQ(got->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_TRUE(testing::tensors_close((*got)[i], want[i], {1e-5, 1e-5})) << "output " << i;
  }
}

TEST(LowerRecurrent, LstmMatchesTheEquations) {
  check(make("LSTM"));
  check(make("LSTM", [](Case& c) {
    c.direction = "reverse";
    c.initial = true;
  }));
  check(make("LSTM", [](Case& c) {
    c.direction = "bidirectional";
    c.layout = 1;
    c.initial = true;
    c.peepholes = true;
  }));
  check(make("LSTM", [](Case& c) {
    c.seq = 1;
    c.batch = 2;
    c.bias = false;
  }));
  check(make("LSTM", [](Case& c) {
    c.direction = "bidirectional";
    c.peepholes = true;
    c.input_forget = true;
  }));
}

// The clip attribute bounds each gate's input before its activation (what ONNX Runtime
// computes; LSTM's h(C) reads the cell unclipped), peephole terms included.
TEST(LowerRecurrent, ClipBoundsEachGateInput) {
  g_clipped = 0;
  check(make("LSTM", [](Case& c) {
    c.clip = 0.4f;
    c.initial = true;
    c.peepholes = true;
  }));
  check(make("LSTM", [](Case& c) {
    c.clip = 0.7f;
    c.direction = "bidirectional";
    c.activations = {"Sigmoid", "Relu", "Tanh", "HardSigmoid", "Tanh", "Relu"};
  }));
  check(make("GRU", [](Case& c) {
    c.clip = 0.5f;
    c.initial = true;
  }));
  check(make("GRU", [](Case& c) {
    c.clip = 0.5f;
    c.linear_before_reset = true;
  }));
  check(make("RNN", [](Case& c) {
    c.clip = 0.3f;
    c.direction = "reverse";
    c.lens = {5, 2, 0};
  }));
  EXPECT_GT(g_clipped, 100);
}

TEST(LowerRecurrent, GruMatchesTheEquations) {
  check(make("GRU"));
  check(make("GRU", [](Case& c) {
    c.initial = true;
    c.linear_before_reset = true;
  }));
  check(make("GRU", [](Case& c) {
    c.direction = "bidirectional";
    c.layout = 1;
    c.linear_before_reset = true;
  }));
  check(make("GRU", [](Case& c) {
    c.direction = "reverse";
    c.bias = false;
    c.initial = true;
  }));
}

TEST(LowerRecurrent, RnnMatchesTheEquations) {
  check(make("RNN"));
  check(make("RNN", [](Case& c) {
    c.direction = "bidirectional";
    c.initial = true;
    c.activations = {"Relu", "Tanh"};
  }));
}

// sequence_lens at run time: rows past their length are zero, their states stay, the reverse
// direction starts at each row's own last element.
TEST(LowerRecurrent, SequenceLengthsMaskEachRow) {
  check(make("LSTM", [](Case& c) {
    c.direction = "bidirectional";
    c.initial = true;
    c.lens = {5, 2, 0};
  }));
  check(make("GRU", [](Case& c) {
    c.direction = "bidirectional";
    c.layout = 1;
    c.lens = {1, 5, 3};
  }));
  check(make("RNN", [](Case& c) {
    c.direction = "reverse";
    c.lens = {4, 5, 1};
  }));
}

// PyTorch passes a zero initial state when none is given (TorchScript: ConstantOfShape of the
// run-time batch, sliced per layer): the first step then has no recurrent GEMM, and the numbers
// are those of a zero state. A ConstantOfShape of another value is a real initial state.
TEST(LowerRecurrent, ZeroInitialStatesSkipTheFirstRecurrentGemm) {
  for (float fill : {0.0f, 0.5f}) {
    SCOPED_TRACE(::testing::Message() << "initial state filled with " << fill);
    TestGraph g;
    const ValueId x = g.input("x", DType::kFloat32, {Dim(5), Dim::symbol("batch"), Dim(4)});
    Attributes axis0;
    axis0.set_int("axis", 0);
    const ValueId batch =
        g.op("Gather", {g.op("Shape", {x}), g.constant("one", Tensor::from_int64({1}))}, axis0);
    const ValueId shape = g.op("Concat",
                               {g.constant("dirs", Tensor::from_int64({2})), batch,
                                g.constant("hidden", Tensor::from_int64({6}))},
                               axis0);
    Attributes value;
    if (fill != 0.0f) value.set_tensor("value", Tensor::from_float({fill}));
    const ValueId filled = g.op("ConstantOfShape", {shape}, value);
    const ValueId h0 = g.op("Slice", {filled, g.constant("s0", Tensor::from_int64({0})),
                                      g.constant("s1", Tensor::from_int64({2})),
                                      g.constant("ax", Tensor::from_int64({0}))});
    const Tensor w = testing::random_tensor(DType::kFloat32, {2, 24, 4}, 12, -0.6, 0.6);
    const Tensor r = testing::random_tensor(DType::kFloat32, {2, 24, 6}, 13, -0.6, 0.6);
    Attributes a;
    a.set_string("direction", "bidirectional");
    a.set_int("hidden_size", 6);
    const auto outs =
        g.op_multi("LSTM", {x, g.constant("W", w), g.constant("R", r), kNoValue, kNoValue, h0, h0},
                   3, a, "", "/mix/rnn_h/LSTM");
    for (ValueId o : outs) g.output(o);
    ASSERT_TRUE(g.infer().ok());
    auto spec = parse_recurrent(g.graph().nodes.back(), nullptr, nullptr);
    ASSERT_TRUE(spec.ok());
    testing::PassResult res = testing::run_pass(lower_recurrent, g.graph());
    ASSERT_TRUE(res.status.ok()) << res.status.to_string();
    // Per direction: the input projection and a recurrent GEMM per step, but for the first step
    // from a zero state.
    EXPECT_EQ(testing::count_ops(g.graph(), "MatMul"), 2 * (1 + (fill == 0.0f ? 4 : 5)));
    Case c = make("LSTM", [fill](Case& k) {
      k.direction = "bidirectional";
      k.bias = false;
      k.initial = fill != 0.0f;
    });
    Feeds f;
    f.x = testing::random_tensor(DType::kFloat32, {5, 3, 4}, 11);
    f.w = w;
    f.r = r;
    f.h0 = Tensor::empty(DType::kFloat32, {2, 3, 6});
    std::fill(f.h0.data<float>(), f.h0.data<float>() + f.h0.numel(), fill);
    f.c0 = f.h0;
    auto got = testing::run_graph(g.graph(), {f.x});
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    const std::vector<Tensor> want = reference(c, *spec, f);
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_TRUE(testing::tensors_close((*got)[i], want[i], {1e-5, 1e-5})) << "output " << i;
    }
  }
}

// The optional activations, alpha and beta consumed in order by the functions that take them.
TEST(LowerRecurrent, OptionalActivationsTakeTheirAlphaAndBeta) {
  check(make("LSTM", [](Case& c) {
    c.activations = {"HardSigmoid", "ScaledTanh", "Affine"};
    c.alpha = {0.3f, 1.5f, 0.7f};
    c.beta = {0.4f, 0.8f, -0.2f};
  }));
  check(make("GRU", [](Case& c) {
    c.activations = {"Sigmoid", "LeakyRelu"};
    c.alpha = {0.2f};
  }));
  check(make("RNN", [](Case& c) {
    c.direction = "bidirectional";
    c.activations = {"Elu", "Softsign"};
  }));
  check(make("RNN", [](Case& c) { c.activations = {"Softplus"}; }));
  check(make("RNN", [](Case& c) {
    c.activations = {"ThresholdedRelu"};
    c.alpha = {0.1f};
  }));
}

// ONNX: "consumed in the order of activation functions", by those that take them; a function
// whose value the list no longer holds keeps its default.
TEST(LowerRecurrent, AlphaAndBetaAreConsumedInOrder) {
  Node n;
  n.name = "lstm";
  n.op_type = "LSTM";
  n.attrs.set("activations", string_list({"LeakyRelu", "tanh", "HardSigmoid", "Sigmoid", "Affine",
                                          "HardSigmoid"}));
  n.attrs.set_string("direction", "bidirectional");
  n.attrs.set_int("hidden_size", 2);
  n.attrs.set_floats("activation_alpha", {0.3f, 0.25f, 2.0f});
  n.attrs.set_floats("activation_beta", {0.6f});
  auto spec = parse_recurrent(n, nullptr, nullptr);
  ASSERT_TRUE(spec.ok()) << spec.status().to_string();
  ASSERT_EQ(spec->activations.size(), 2u);
  const auto& f = spec->activations[0];
  const auto& b = spec->activations[1];
  EXPECT_EQ(f[0].name, "LeakyRelu");
  EXPECT_FLOAT_EQ(f[0].alpha, 0.3f);
  EXPECT_EQ(f[1].name, "Tanh");  // names match case-insensitively, as ONNX Runtime's
  EXPECT_FLOAT_EQ(f[2].alpha, 0.25f);
  EXPECT_FLOAT_EQ(f[2].beta, 0.6f);
  EXPECT_FLOAT_EQ(b[1].alpha, 2.0f);
  EXPECT_FLOAT_EQ(b[1].beta, 0.0f);   // Affine's default: the beta list is used up
  EXPECT_FLOAT_EQ(b[2].alpha, 0.2f);  // HardSigmoid's defaults
  EXPECT_FLOAT_EQ(b[2].beta, 0.5f);
}

TEST(LowerRecurrent, FormsItCannotUnrollNameTheNode) {
  struct Bad {
    bool dynamic_seq = false;
    bool clip = false;
    std::vector<std::string> activations;
    const char* expected;
    int64_t steps = 4;
  };
  for (const Bad& bad : {Bad{true, false, {}, "sequence length"},
                         Bad{false, true, {}, "clip must be a finite threshold > 0, got -1"},
                         Bad{false, false, {"Sigmoid", "Tanh"}, "activations has 2 entries"},
                         Bad{false, false, {"Sigmoid", "Tanh", "Gelu"}, "activation 'Gelu'"},
                         Bad{false, false, {}, "a sequence of 2049 steps", 2049}}) {
    SCOPED_TRACE(bad.expected);
    TestGraph g;
    const ValueId x =
        g.input("x", DType::kFloat32,
                {bad.dynamic_seq ? Dim::symbol("seq") : Dim(bad.steps), Dim(2), Dim(3)});
    Attributes a;
    a.set_int("hidden_size", 5);
    if (bad.clip) a.set_float("clip", -1.0f);
    if (!bad.activations.empty()) a.set("activations", string_list(bad.activations));
    const auto outs = g.op_multi("LSTM", small_lstm_inputs(g, x), 3, a, "", "/sequencer/lstm");
    g.output(outs[0]);
    Status s = g.infer();
    if (s.ok()) s = testing::run_pass(lower_recurrent, g.graph()).status;
    expect_refused(s, "/sequencer/lstm", bad.expected);
  }
}

// The optional inputs' shapes and types are checked where the node is, before the lowering
// turns them into ops of other names.
TEST(LowerRecurrent, MisshapenOptionalInputsNameTheNodeAndTheInput) {
  struct Bad {
    int input;
    DType dtype;
    std::vector<int64_t> shape;
    const char* expected;
  };
  for (const Bad& bad : {Bad{kRecB, DType::kFloat32, {1, 7}, "B must be [1, 40]"},
                         Bad{kRecSeqLens, DType::kFloat32, {2}, "sequence_lens must be int32"},
                         Bad{kRecInitialH, DType::kFloat32, {2, 2, 5}, "initial_h must be"},
                         Bad{kRecInitialC, DType::kFloat32, {1, 3, 5}, "initial_c must be"},
                         Bad{kRecPeepholes, DType::kFloat32, {1, 20}, "P must be [1, 15]"},
                         Bad{kRecB, DType::kInt64, {1, 40}, "one float type"}}) {
    SCOPED_TRACE(bad.expected);
    TestGraph g;
    const ValueId x = g.input("x", DType::kFloat32, {Dim(4), Dim(2), Dim(3)});
    Attributes a;
    a.set_int("hidden_size", 5);
    std::vector<ValueId> in = small_lstm_inputs(g, x);
    in.resize(8, kNoValue);  // up to P
    in[bad.input] = g.input("bad", bad.dtype, sym_shape_from_static(bad.shape));
    const auto outs = g.op_multi("LSTM", in, 3, a, "", "/sequencer/lstm");
    g.output(outs[0]);
    expect_refused(g.infer(), "/sequencer/lstm", bad.expected);
  }
}

// W's shape must agree with hidden_size and the direction count: a clear error, not a wrong
// slice.
TEST(LowerRecurrent, InconsistentWeightsAreRefusedAtShapeInference) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim(4), Dim(2), Dim(3)});
  Attributes a;
  a.set_int("hidden_size", 5);
  a.set_string("direction", "bidirectional");
  const auto outs =
      g.op_multi("GRU",
                 {x, g.constant("W", testing::random_tensor(DType::kFloat32, {1, 15, 3}, 1)),
                  g.constant("R", testing::random_tensor(DType::kFloat32, {1, 15, 5}, 2))},
                 2, a, "", "/head/gru");
  g.output(outs[0]);
  expect_refused(g.infer(), "/head/gru", "num_directions 2");
}

}  // namespace
}  // namespace vitrt
