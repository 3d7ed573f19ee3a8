// lower_recurrent: ONNX RNN / GRU / LSTM -> the sequence unrolled into GEMMs and elementwise ops.
//
// Vision models bring recurrent layers rarely but really: Sequencer2D's bidirectional LSTMs
// over the rows and columns of its feature map, the CRNN-style heads of text recognisers. No
// backend has a kernel for them; at a sequence length known at build time (a feature map's width
// or height) the recurrence is S steps of the same cell, which every backend runs as ops it
// already has:
//
//   X (seq-major; layout 1 transposed) -> MatMul W_d^T + (Wb_d + Rb_d)    all steps at once
//   step t (forward 0..S-1, reverse S-1..0), direction d:
//     gates = Gather(XW, t) + H_{t-1} R_d^T                               [batch, gates*hidden]
//     LSTM: i, o, f, c = Split(gates) (+ peepholes P . C);  C = f C' + i g(c);  H = o h(C)
//     GRU:  z, r = f(...);  h = g(x_h + (r H') R_h^T)  or  g(x_h + r (H' R_h^T + Rb_h));
//           H = (1 - z) h + z H'
//     RNN:  H = f(gates)
//   Y = the H_t stacked [seq, dirs, batch, hidden], Y_h / Y_c the last states.
//
// The first step without initial_h / initial_c, or with zeros there (PyTorch exports a
// ConstantOfShape or an Expand of zero when none is given), skips the recurrent terms rather
// than multiplying a zero state. sequence_lens that are not all the full
// length become per-step masks: past a batch entry's length its state stays as it was and its Y
// rows are zero (the reverse direction then starts at its own last element), as ONNX Runtime
// computes. W, R, B and P are sliced per direction by ops that fold_constants folds into
// constant weights, so each step's GEMM becomes a vitrt.Linear.
//
// The clip attribute bounds each gate's input before its activation (not LSTM's h(C)), as ONNX
// Runtime computes.
//
// Refused, the node named: a sequence length unknown at build time, X not
// float32 (after widen_half_floats), more than kMaxSteps steps. Runs after the first shape
// inference, optimizer or not, on every device.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "ir/ops/recurrent.h"
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "lower_recurrent";
// Each step is 10-20 nodes per direction. Vision models recur over a feature map's rows or
// columns (Sequencer2D: 32 at 224 pixels). 2048 steps of a bidirectional two-layer LSTM and a
// GRU make a 120,000-node graph that builds in about 8 s and 470 MB (the passes keep their
// consumer lists current through each rewrite, so the build grows about linearly); longer
// sequences are refused rather than left to fill the memory.
constexpr int64_t kMaxSteps = 2048;

// The shared lowering emitter, and the few ops the cells need by name.
struct Emitter : LoweringEmitter {
  using LoweringEmitter::LoweringEmitter;

  ValueId add(ValueId a, ValueId b, const std::string& s) { return op("Add", s, {a, b}); }
  ValueId sub(ValueId a, ValueId b, const std::string& s) { return op("Sub", s, {a, b}); }
  ValueId mul(ValueId a, ValueId b, const std::string& s) { return op("Mul", s, {a, b}); }
  ValueId matmul(ValueId a, ValueId b, const std::string& s) { return op("MatMul", s, {a, b}); }

  // x[..., index, ...] along `axis`, the axis dropped.
  ValueId gather(ValueId x, int64_t index, int64_t axis, const std::string& s) {
    Attributes a;
    a.set_int("axis", axis);
    return op("Gather", s, {x, int64s(s + "_index", {index}, true)}, std::move(a));
  }
  ValueId concat(std::vector<ValueId> parts, int64_t axis, const std::string& s) {
    if (parts.size() == 1) return parts[0];
    Attributes a;
    a.set_int("axis", axis);
    return op("Concat", s, std::move(parts), std::move(a));
  }
  ValueId unsqueeze(ValueId x, const std::vector<int64_t>& axes, const std::string& s) {
    return with_axes("Unsqueeze", s, x, axes);
  }

  ValueId activation(ValueId x, const RecurrentActivation& act, const std::string& s) {
    const std::string& n = act.name;
    if (n == "Relu" || n == "Tanh" || n == "Sigmoid" || n == "Softsign" || n == "Softplus") {
      return op(n.c_str(), s, {x});
    }
    if (n == "Affine") {
      return add(mul(x, scalar(s + "_alpha", act.alpha), s + "_scaled"),
                 scalar(s + "_beta", act.beta), s);
    }
    if (n == "ScaledTanh") {
      const ValueId t = op("Tanh", s + "_tanh", {mul(x, scalar(s + "_beta", act.beta), s + "_in")});
      return mul(t, scalar(s + "_alpha", act.alpha), s);
    }
    Attributes a;
    a.set_float("alpha", act.alpha);
    if (n == "HardSigmoid") a.set_float("beta", act.beta);
    return op(n.c_str(), s, {x}, std::move(a));  // LeakyRelu, ThresholdedRelu, Elu, HardSigmoid
  }
};

// Whether `v` is all zeros whatever its run-time shape: a zero constant, or ConstantOfShape of
// zero (its default), through the data-movement ops exporters put between it and the node
// (TorchScript: ConstantOfShape -> Slice per layer; dynamo: Expand of a zero -> Slice).
bool is_zero_fill(const Graph& graph, ValueId v, int depth = 0) {
  const auto all_zero = [](const Tensor& t) {
    if (t.dtype() != DType::kFloat32) return false;
    return std::all_of(t.data<float>(), t.data<float>() + t.numel(),
                       [](float x) { return x == 0.0f; });
  };
  if (v == kNoValue || depth > 8) return false;
  if (std::optional<Tensor> t = constant_before_folding(graph, v)) return all_zero(*t);
  const Node* p = producer_of(graph, v);
  if (p == nullptr) return false;
  if (is_onnx_op(*p, "ConstantOfShape")) {
    const Attribute* value = p->attrs.find("value");
    if (value == nullptr) return true;  // ONNX's default: float32 zero
    return value->kind == Attribute::Kind::kTensor && all_zero(value->t);
  }
  if (!p->has_input(0)) return false;
  for (const char* op : {"Slice", "Expand", "Reshape", "Squeeze", "Unsqueeze", "Transpose",
                         "Identity", "Tile", "Gather"}) {
    if (is_onnx_op(*p, op)) return is_zero_fill(graph, p->inputs[0], depth + 1);
  }
  return false;
}

// One direction's state between steps; kNoValue before the first step without initial state.
struct State {
  ValueId h = kNoValue;
  ValueId c = kNoValue;
};

// One direction's weights as the steps read them (each sliced from W, R, B, P once).
struct DirectionWeights {
  const std::vector<RecurrentActivation>* act = nullptr;  // f, g, h
  ValueId r_t = kNoValue;                                 // R^T [hidden, gates*hidden]
  ValueId r_zr_t = kNoValue;  // GRU without linear_before_reset: R_zr^T and R_h^T apart
  ValueId r_h_t = kNoValue;
  ValueId rb_h = kNoValue;    // GRU with linear_before_reset: Rb_h, inside the reset product
  std::vector<ValueId> peep;  // LSTM's P_i, P_o, P_f
  ValueId one = kNoValue;     // 1.0 (LSTM's input_forget: f = 1 - i)
  // The clip attribute's bounds, -clip and clip (kNoValue without): each gate's input is
  // clipped before its activation, the peepholes' terms included; LSTM's h(C) reads C
  // unclipped (ONNX Runtime's reading of "applied to the input of activations").
  ValueId clip_min = kNoValue;
  ValueId clip_max = kNoValue;
};

// A gate's activation of `x`, clipped first when the node has a clip threshold.
ValueId gate(Emitter& e, const DirectionWeights& w, ValueId x, const RecurrentActivation& act,
             const std::string& s) {
  if (w.clip_min != kNoValue) {
    if (e.opset >= 11) {
      x = e.op("Clip", s + "_clip", {x, w.clip_min, w.clip_max});
    } else {
      x = e.op("Max", s + "_clip_low",
               {e.op("Min", s + "_clip_high", {x, w.clip_max}), w.clip_min});
    }
  }
  return e.activation(x, act, s);
}

// LSTM: i, o, f, c = split(x W^T + H' R^T + b) (+ peepholes P . C);  C = f C' + i g(c);
// H = o h(C).
State lstm_step(Emitter& e, int64_t hidden, const DirectionWeights& w, ValueId xt,
                const State& prev, const std::string& s) {
  const std::vector<RecurrentActivation>& act = *w.act;
  ValueId gates = xt;
  if (prev.h != kNoValue) gates = e.add(xt, e.matmul(prev.h, w.r_t, s + "_rec"), s + "_gates");
  std::vector<ValueId> p = e.split(gates, 1, {hidden, hidden, hidden, hidden}, s + "_iofc");
  if (!w.peep.empty() && prev.c != kNoValue) {
    p[0] = e.add(p[0], e.mul(prev.c, w.peep[0], s + "_peep_i"), s + "_i_in");
    p[2] = e.add(p[2], e.mul(prev.c, w.peep[2], s + "_peep_f"), s + "_f_in");
  }
  const ValueId i = gate(e, w, p[0], act[0], s + "_i");
  const ValueId ic = e.mul(i, gate(e, w, p[3], act[1], s + "_c"), s + "_ic");
  State next;
  if (prev.c == kNoValue) {
    next.c = ic;
  } else {
    const ValueId f =
        w.one != kNoValue ? e.sub(w.one, i, s + "_f") : gate(e, w, p[2], act[0], s + "_f");
    next.c = e.add(e.mul(f, prev.c, s + "_fc"), ic, s + "_C");
  }
  ValueId o_in = p[1];
  if (!w.peep.empty()) o_in = e.add(o_in, e.mul(next.c, w.peep[1], s + "_peep_o"), s + "_o_in");
  const ValueId o = gate(e, w, o_in, act[0], s + "_o");
  next.h = e.mul(o, e.activation(next.c, act[2], s + "_hC"), s + "_H");
  return next;
}

// GRU: z, r = f(x W_zr^T + H' R_zr^T + b);  h = g(x W_h^T + (r H') R_h^T + b_h), or under
// linear_before_reset g(x W_h^T + Wb_h + r (H' R_h^T + Rb_h));  H = (1 - z) h + z H'.
State gru_step(Emitter& e, int64_t hidden, bool linear_before_reset, const DirectionWeights& w,
               ValueId xt, const State& prev, const std::string& s) {
  const std::vector<RecurrentActivation>& act = *w.act;
  const std::vector<ValueId> xp = e.split(xt, 1, {2 * hidden, hidden}, s + "_x_parts");
  ValueId zr_in = xp[0], hh = kNoValue;
  if (prev.h != kNoValue) {
    if (linear_before_reset) {
      const std::vector<ValueId> hp =
          e.split(e.matmul(prev.h, w.r_t, s + "_rec"), 1, {2 * hidden, hidden}, s + "_rec_parts");
      zr_in = e.add(zr_in, hp[0], s + "_zr_in");
      hh = hp[1];
    } else {
      zr_in = e.add(zr_in, e.matmul(prev.h, w.r_zr_t, s + "_rec_zr"), s + "_zr_in");
    }
  }
  const std::vector<ValueId> zr =
      e.split(gate(e, w, zr_in, act[0], s + "_zr"), 1, {hidden, hidden}, s + "_zr_parts");
  ValueId h_in = xp[1];
  if (linear_before_reset) {
    ValueId reset_term = hh;
    if (w.rb_h != kNoValue) {
      reset_term = hh == kNoValue ? w.rb_h : e.add(hh, w.rb_h, s + "_rec_h_b");
    }
    if (reset_term != kNoValue) {
      h_in = e.add(h_in, e.mul(zr[1], reset_term, s + "_reset"), s + "_h_in");
    }
  } else if (prev.h != kNoValue) {
    const ValueId reset = e.mul(zr[1], prev.h, s + "_reset");
    h_in = e.add(h_in, e.matmul(reset, w.r_h_t, s + "_rec_h"), s + "_h_in");
  }
  const ValueId h = gate(e, w, h_in, act[1], s + "_h");
  const ValueId keep_new = e.sub(h, e.mul(zr[0], h, s + "_zh"), s + "_new_part");
  State next;
  next.h = prev.h == kNoValue ? keep_new
                              : e.add(keep_new, e.mul(zr[0], prev.h, s + "_old_part"), s + "_H");
  return next;
}

// RNN: H = f(x W^T + H' R^T + b).
State rnn_step(Emitter& e, const DirectionWeights& w, ValueId xt, const State& prev,
               const std::string& s) {
  ValueId in = xt;
  if (prev.h != kNoValue) in = e.add(xt, e.matmul(prev.h, w.r_t, s + "_rec"), s + "_in");
  State next;
  next.h = gate(e, w, in, (*w.act)[0], s + "_H");
  return next;
}

Status lower_one(Graph& graph, NodeId id, PassContext& ctx) {
  const Node node = graph.nodes[id];
  VITRT_ASSIGN_OR_RETURN(RecurrentSpec spec, parse_recurrent(graph, node));
  const Value& x = graph.values[node.inputs[kRecX]];
  if (x.dtype != DType::kFloat32) {
    return unsupported(node.describe(), ": X is ", dtype_name(x.dtype),
                       "; recurrent ops compute in float32 (float16 / bfloat16 models are widened "
                       "first)");
  }
  if (!x.has_shape || x.shape.size() != 3) {
    return unsupported(node.describe(), ": X's shape is unknown at build time (",
                       x.has_shape ? sym_shape_to_string(x.shape) : std::string("no shape"),
                       "); vitrt unrolls recurrent ops over the sequence and needs its rank-3 "
                       "shape");
  }
  const int seq_axis = spec.layout == 0 ? 0 : 1;
  const Dim& seq_dim = x.shape[seq_axis];
  if (!seq_dim.is_static()) {
    return unsupported(node.describe(), ": the sequence length (X's dim ", seq_axis, ", ",
                       seq_dim.to_string(),
                       ") is not known at build time; vitrt unrolls recurrent ops over the "
                       "sequence: export with a fixed sequence length, or give --profile with "
                       "min = max for that dim");
  }
  const int64_t steps = seq_dim.value();
  if (steps < 1 || steps > kMaxSteps) {
    return unsupported(node.describe(), ": a sequence of ", steps,
                       " steps; vitrt unrolls recurrent ops over 1 to ", kMaxSteps, " steps");
  }
  const int64_t hidden = spec.hidden;
  const int64_t gh = spec.gates * hidden;
  Emitter e(graph, node.name);

  ValueId xs = node.inputs[kRecX];
  if (spec.layout == 1) xs = e.transpose(xs, {1, 0, 2}, "_seq_major");

  // sequence_lens: per-step masks [batch, 1] unless every entry is the full length.
  std::vector<ValueId> masks;
  if (node.has_input(kRecSeqLens)) {
    bool full = false;
    if (std::optional<Tensor> lens = constant_before_folding(graph, node.inputs[kRecSeqLens])) {
      full = true;
      for (int64_t i = 0; i < lens->numel(); ++i) {
        const int64_t v = lens->element_as_int64(i);  // int32 or int64: the schema checked
        if (v < 0 || v > steps) {
          return invalid_model(node.describe(), ": sequence_lens holds ", v, ", outside [0, ",
                               steps, "] (the sequence length)");
        }
        full &= v == steps;
      }
    }
    if (!full) {
      Attributes to;
      to.set_int("to", static_cast<int64_t>(DType::kInt64));
      const ValueId lens = e.op("Cast", "_lens", {node.inputs[kRecSeqLens]}, std::move(to));
      for (int64_t t = 0; t < steps; ++t) {
        const std::string s = "_t" + std::to_string(t) + "_valid";
        masks.push_back(
            e.unsqueeze(e.op("Less", s + "_rows", {e.int64s(s + "_t", {t}, true), lens}), {1}, s));
      }
    }
  }
  // Zero initial states (what PyTorch exports when none is given) are the same as none: the
  // first step then skips its recurrent GEMM.
  const bool zero_h =
      node.has_input(kRecInitialH) && is_zero_fill(graph, node.inputs[kRecInitialH]);
  const bool zero_c =
      node.has_input(kRecInitialC) && is_zero_fill(graph, node.inputs[kRecInitialC]);
  const ValueId zero = masks.empty() ? kNoValue : e.scalar("_zero", 0.0f);
  const ValueId one = spec.input_forget ? e.scalar("_one", 1.0f) : kNoValue;
  const ValueId clip_min = spec.clip ? e.scalar("_clip_min", -*spec.clip) : kNoValue;
  const ValueId clip_max = spec.clip ? e.scalar("_clip_max", *spec.clip) : kNoValue;

  std::vector<ValueId> y_dirs, h_last, c_last;
  for (int d = 0; d < spec.num_directions; ++d) {
    const std::string dn = "_d" + std::to_string(d);
    DirectionWeights w;
    w.act = &spec.activations[d];
    w.one = one;
    w.clip_min = clip_min;
    w.clip_max = clip_max;
    const ValueId w_t =
        e.transpose(e.gather(node.inputs[kRecW], d, 0, dn + "_W"), {1, 0}, dn + "_Wt");
    w.r_t = e.transpose(e.gather(node.inputs[kRecR], d, 0, dn + "_R"), {1, 0}, dn + "_Rt");
    // Biases: W's and R's added into the input projection, except GRU's Rb_h under
    // linear_before_reset, which the reset gate multiplies.
    ValueId x_bias = kNoValue;
    if (node.has_input(kRecB)) {
      const std::vector<ValueId> wb_rb =
          e.split(e.gather(node.inputs[kRecB], d, 0, dn + "_B"), 0, {gh, gh}, dn + "_B_parts");
      ValueId rb = wb_rb[1];
      if (spec.linear_before_reset) {
        const std::vector<ValueId> rb_parts =
            e.split(rb, 0, {2 * hidden, hidden}, dn + "_Rb_parts");
        w.rb_h = rb_parts[1];
        rb = e.concat(
            {rb_parts[0], add_zeros_constant(graph, node.name + dn + "_Rb_h_zero", hidden)}, 0,
            dn + "_Rb_zr");
      }
      x_bias = e.add(wb_rb[0], rb, dn + "_bias");
    }
    ValueId xw = e.matmul(xs, w_t, dn + "_XW");
    if (x_bias != kNoValue) xw = e.add(xw, x_bias, dn + "_XWb");
    if (spec.kind == RecurrentKind::kLstm && node.has_input(kRecPeepholes)) {
      w.peep = e.split(e.gather(node.inputs[kRecPeepholes], d, 0, dn + "_P"), 0,
                       {hidden, hidden, hidden}, dn + "_P_parts");
    }
    if (spec.kind == RecurrentKind::kGru && !spec.linear_before_reset) {
      const std::vector<ValueId> parts = e.split(w.r_t, 1, {2 * hidden, hidden}, dn + "_Rt_parts");
      w.r_zr_t = parts[0];
      w.r_h_t = parts[1];
    }
    State st;
    const int64_t state_axis = spec.layout == 0 ? 0 : 1;
    if (node.has_input(kRecInitialH) && !zero_h) {
      st.h = e.gather(node.inputs[kRecInitialH], d, state_axis, dn + "_h0");
    }
    if (spec.kind == RecurrentKind::kLstm && node.has_input(kRecInitialC) && !zero_c) {
      st.c = e.gather(node.inputs[kRecInitialC], d, state_axis, dn + "_c0");
    }

    std::vector<ValueId> ys(static_cast<size_t>(steps), kNoValue);
    for (int64_t step = 0; step < steps; ++step) {
      const int64_t t = spec.reverse || d == 1 ? steps - 1 - step : step;
      const std::string s = dn + "_t" + std::to_string(t);
      const ValueId xt = e.gather(xw, t, 0, s + "_x");
      const State next = spec.kind == RecurrentKind::kLstm ? lstm_step(e, hidden, w, xt, st, s)
                         : spec.kind == RecurrentKind::kGru
                             ? gru_step(e, hidden, spec.linear_before_reset, w, xt, st, s)
                             : rnn_step(e, w, xt, st, s);
      if (masks.empty()) {
        ys[t] = next.h;
        st = next;
        continue;
      }
      // Past a batch entry's length: the state stays, the output row is zero.
      const ValueId m = masks[t];
      ys[t] = e.op("Where", s + "_Y", {m, next.h, zero});
      st.h = e.op("Where", s + "_H_kept", {m, next.h, st.h == kNoValue ? zero : st.h});
      if (next.c != kNoValue) {
        st.c = e.op("Where", s + "_C_kept", {m, next.c, st.c == kNoValue ? zero : st.c});
      }
    }
    if (node.outputs.size() > 0 && node.outputs[0] != kNoValue) {
      std::vector<ValueId> rows;
      for (int64_t t = 0; t < steps; ++t) {
        rows.push_back(e.unsqueeze(ys[t], {0, 1}, dn + "_t" + std::to_string(t) + "_row"));
      }
      y_dirs.push_back(e.concat(std::move(rows), 0, dn + "_Y"));
    }
    h_last.push_back(e.unsqueeze(st.h, {0}, dn + "_Y_h"));
    if (st.c != kNoValue) c_last.push_back(e.unsqueeze(st.c, {0}, dn + "_Y_c"));
  }

  const auto emit_output = [&](size_t index, std::vector<ValueId> parts, int64_t axis,
                               std::vector<int64_t> layout1_perm, const char* suffix) {
    if (node.outputs.size() <= index || node.outputs[index] == kNoValue) return;
    ValueId v = e.concat(std::move(parts), axis, suffix);
    if (spec.layout == 1)
      v = e.transpose(v, std::move(layout1_perm), std::string(suffix) + "_batch_major");
    replace_uses(graph, node.outputs[index], v);
  };
  emit_output(0, y_dirs, 1, {2, 0, 1, 3}, "_Y");
  emit_output(1, h_last, 0, {1, 0, 2}, "_Y_h");
  if (spec.kind == RecurrentKind::kLstm) emit_output(2, c_last, 0, {1, 0, 2}, "_Y_c");
  remove_nodes(graph, {id});
  ctx.applied(kPass,
              str_cat(node.op_type, " '", node.name, "' unrolled over ", steps, " step(s)",
                      spec.num_directions == 2 ? ", both directions" : "",
                      masks.empty() ? "" : ", masked by sequence_lens"),
              {node.name});
  return Status::ok_status();
}

}  // namespace

Status lower_recurrent(Graph& graph, PassContext& ctx) {
  std::vector<NodeId> found;
  for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
    if (!graph.nodes[id].dead && is_recurrent_op(graph.nodes[id])) found.push_back(id);
  }
  for (NodeId id : found) VITRT_RETURN_IF_ERROR(lower_one(graph, id, ctx));
  return Status::ok_status();
}

}  // namespace vitrt
