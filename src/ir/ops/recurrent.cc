// RNN, GRU, LSTM: attribute parsing (recurrent.h) and the schemas' shape inference.
#include "ir/ops/recurrent.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>

#include "ir/op_schema.h"

namespace vitrt {
namespace {

// ONNX's activation functions for recurrent ops: how many of alpha and beta each takes from the
// activation_alpha / activation_beta lists, and their defaults (those of the standalone ops).
struct ActivationInfo {
  const char* name;
  bool takes_alpha;
  bool takes_beta;
  float alpha;
  float beta;
};

constexpr ActivationInfo kActivations[] = {
    {"Relu", false, false, 0.0f, 0.0f},      {"Tanh", false, false, 0.0f, 0.0f},
    {"Sigmoid", false, false, 0.0f, 0.0f},   {"Affine", true, true, 1.0f, 0.0f},
    {"LeakyRelu", true, false, 0.01f, 0.0f}, {"ThresholdedRelu", true, false, 1.0f, 0.0f},
    {"ScaledTanh", true, true, 1.0f, 1.0f},  {"HardSigmoid", true, true, 0.2f, 0.5f},
    {"Elu", true, false, 1.0f, 0.0f},        {"Softsign", false, false, 0.0f, 0.0f},
    {"Softplus", false, false, 0.0f, 0.0f},
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const char* kind_name(RecurrentKind k) {
  return k == RecurrentKind::kLstm ? "LSTM" : k == RecurrentKind::kGru ? "GRU" : "RNN";
}

Status infer_recurrent(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(RecurrentSpec spec, parse_recurrent(ctx.graph(), ctx.node()));
  const DType t = ctx.input_dtype(kRecX);
  if (t != DType::kFloat32 && t != DType::kFloat16 && t != DType::kBFloat16 &&
      t != DType::kFloat64) {
    return ctx.error("X must be a float tensor, got ", dtype_name(t));
  }
  const int outputs = ctx.num_outputs();
  if (!ctx.input_has_shape(kRecX)) {
    for (int o = 0; o < outputs; ++o) ctx.set_output_unknown_shape(o, t);
    return Status();
  }
  const SymShape& x = ctx.input_shape(kRecX);
  if (x.size() != 3) {
    return ctx.error("X must be rank 3 (",
                     spec.layout == 0 ? "[seq, batch, input]" : "[batch, seq, input]", "), got ",
                     sym_shape_to_string(x));
  }
  const Dim seq = spec.layout == 0 ? x[0] : x[1];
  const Dim batch = spec.layout == 0 ? x[1] : x[0];
  if (spec.input_size != 0 && x[2].is_static() && x[2].value() != spec.input_size) {
    return ctx.error("X's input size ", x[2].value(), " differs from W's ", spec.input_size);
  }
  const Dim dirs(spec.num_directions), hidden(spec.hidden);
  // The optional inputs' shapes, where known: a wrong one is this node's error, not that of an
  // op the lowering makes of it.
  const auto check_shape = [&](int input, const char* what, const SymShape& want) -> Status {
    if (!ctx.input_has_shape(input)) return Status();
    const SymShape& got = ctx.input_shape(input);
    bool ok = got.size() == want.size();
    for (size_t i = 0; ok && i < got.size(); ++i) {
      ok = !(got[i].is_static() && want[i].is_static() && got[i].value() != want[i].value());
    }
    if (!ok) {
      return ctx.error(what, " must be ", sym_shape_to_string(want), ", got ",
                       sym_shape_to_string(got));
    }
    return Status();
  };
  const SymShape state =
      spec.layout == 0 ? SymShape{dirs, batch, hidden} : SymShape{batch, dirs, hidden};
  VITRT_RETURN_IF_ERROR(check_shape(kRecB, "B", {dirs, Dim(2 * spec.gates * spec.hidden)}));
  VITRT_RETURN_IF_ERROR(check_shape(kRecSeqLens, "sequence_lens", {batch}));
  VITRT_RETURN_IF_ERROR(check_shape(kRecInitialH, "initial_h", state));
  if (spec.kind == RecurrentKind::kLstm) {
    VITRT_RETURN_IF_ERROR(check_shape(kRecInitialC, "initial_c", state));
    VITRT_RETURN_IF_ERROR(check_shape(kRecPeepholes, "P", {dirs, Dim(3 * spec.hidden)}));
  }
  if (ctx.has_input(kRecSeqLens)) {
    const DType lt = ctx.input_dtype(kRecSeqLens);
    if (lt != DType::kInt32 && lt != DType::kInt64) {
      return ctx.error("sequence_lens must be int32, got ", dtype_name(lt));
    }
  }
  for (int input : {kRecW, kRecR, kRecB, kRecInitialH, kRecInitialC, kRecPeepholes}) {
    if (input == kRecInitialC && spec.kind != RecurrentKind::kLstm) break;
    if (ctx.has_input(input) && ctx.input_dtype(input) != t) {
      return ctx.error("input ", input, " is ", dtype_name(ctx.input_dtype(input)), ", X is ",
                       dtype_name(t), ": they must share one float type");
    }
  }
  if (ctx.has_output(0)) {
    ctx.set_output(
        0, t,
        spec.layout == 0 ? SymShape{seq, dirs, batch, hidden} : SymShape{batch, seq, dirs, hidden});
  }
  for (int o = 1; o < outputs; ++o) {
    if (ctx.has_output(o)) {
      ctx.set_output(
          o, t, spec.layout == 0 ? SymShape{dirs, batch, hidden} : SymShape{batch, dirs, hidden});
    }
  }
  return Status();
}

}  // namespace

bool is_recurrent_op(const Node& node) {
  return (node.domain.empty() || node.domain == "ai.onnx") &&
         (node.op_type == "LSTM" || node.op_type == "GRU" || node.op_type == "RNN");
}

Result<RecurrentSpec> parse_recurrent(const Node& node, const std::vector<int64_t>* w,
                                      const std::vector<int64_t>* r) {
  RecurrentSpec spec;
  spec.kind = node.op_type == "LSTM"  ? RecurrentKind::kLstm
              : node.op_type == "GRU" ? RecurrentKind::kGru
                                      : RecurrentKind::kRnn;
  spec.gates = spec.kind == RecurrentKind::kLstm ? 4 : spec.kind == RecurrentKind::kGru ? 3 : 1;
  const Attributes& a = node.attrs;
  VITRT_ASSIGN_OR_RETURN(std::string direction, a.get_string("direction", "forward"));
  if (direction == "bidirectional") {
    spec.num_directions = 2;
  } else if (direction == "reverse") {
    spec.reverse = true;
  } else if (direction != "forward") {
    return invalid_model(node.describe(), ": direction '", direction,
                         "' is none of forward, reverse, bidirectional");
  }
  VITRT_ASSIGN_OR_RETURN(spec.layout, a.get_int("layout", 0));
  if (spec.layout != 0 && spec.layout != 1) {
    return invalid_model(node.describe(), ": layout must be 0 or 1, got ", spec.layout);
  }
  VITRT_ASSIGN_OR_RETURN(int64_t hidden_attr, a.get_int("hidden_size", 0));
  if (a.has("hidden_size") && hidden_attr < 1) {
    return invalid_model(node.describe(), ": hidden_size must be >= 1, got ", hidden_attr);
  }
  spec.hidden = hidden_attr;
  if (a.has("clip")) {
    VITRT_ASSIGN_OR_RETURN(float clip, a.get_float("clip", 0.0f));
    if (!(clip > 0.0f) || !std::isfinite(clip)) {
      return invalid_model(node.describe(), ": clip must be a finite threshold > 0, got ", clip);
    }
    spec.clip = clip;
  }
  VITRT_ASSIGN_OR_RETURN(int64_t input_forget, a.get_int("input_forget", 0));
  spec.input_forget = spec.kind == RecurrentKind::kLstm && input_forget != 0;
  VITRT_ASSIGN_OR_RETURN(int64_t lbr, a.get_int("linear_before_reset", 0));
  spec.linear_before_reset = spec.kind == RecurrentKind::kGru && lbr != 0;

  // The weights: W [dirs, gates*hidden, input], R [dirs, gates*hidden, hidden].
  const auto check_weight = [&](const std::vector<int64_t>* s, const char* what) -> Status {
    if (s == nullptr) return Status();
    if (s->size() != 3) {
      return invalid_model(node.describe(), ": ", what, " must be rank 3 [num_directions, ",
                           spec.gates, "*hidden_size, ...], got ", shape_to_string(*s));
    }
    if ((*s)[0] != spec.num_directions) {
      return invalid_model(node.describe(), ": ", what, "'s first dim ", (*s)[0],
                           " is not num_directions ", spec.num_directions, " (direction '",
                           direction, "')");
    }
    if ((*s)[1] < spec.gates || (*s)[1] % spec.gates != 0) {
      return invalid_model(node.describe(), ": ", what, "'s second dim ", (*s)[1],
                           " is not a positive multiple of the ", spec.gates, " gate(s) of ",
                           kind_name(spec.kind));
    }
    const int64_t h = (*s)[1] / spec.gates;
    if (spec.hidden != 0 && h != spec.hidden) {
      return invalid_model(node.describe(), ": ", what, " ", shape_to_string(*s),
                           " holds hidden size ", h, ", hidden_size says ", spec.hidden);
    }
    spec.hidden = h;
    return Status();
  };
  VITRT_RETURN_IF_ERROR(check_weight(w, "W"));
  if (w != nullptr) spec.input_size = (*w)[2];
  VITRT_RETURN_IF_ERROR(check_weight(r, "R"));
  if (r != nullptr && (*r)[2] != spec.hidden) {
    return invalid_model(node.describe(), ": R ", shape_to_string(*r), " must be [num_directions, ",
                         spec.gates, "*hidden_size, hidden_size]");
  }
  if (spec.hidden == 0) {
    return invalid_model(node.describe(),
                         ": hidden_size is neither given nor known from R's shape");
  }

  // Activations: the given list, one set per direction, or the defaults.
  const int per_dir = spec.kind == RecurrentKind::kLstm  ? 3
                      : spec.kind == RecurrentKind::kGru ? 2
                                                         : 1;
  std::vector<std::string> names;
  if (const Attribute* acts = a.find("activations"); acts != nullptr) {
    if (acts->kind != Attribute::Kind::kStrings && acts->kind != Attribute::Kind::kString) {
      return invalid_model(node.describe(), ": activations must be a list of strings, got ",
                           attribute_kind_name(acts->kind));
    }
    names =
        acts->kind == Attribute::Kind::kStrings ? acts->strings : std::vector<std::string>{acts->s};
    if (names.size() != static_cast<size_t>(per_dir * spec.num_directions)) {
      return invalid_model(node.describe(), ": activations has ", names.size(), " entries, ",
                           kind_name(spec.kind), " needs ", per_dir, " per direction (",
                           per_dir * spec.num_directions, ")");
    }
  } else {
    const std::vector<std::string> defaults =
        spec.kind == RecurrentKind::kLstm  ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
        : spec.kind == RecurrentKind::kGru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                           : std::vector<std::string>{"Tanh"};
    for (int d = 0; d < spec.num_directions; ++d) {
      names.insert(names.end(), defaults.begin(), defaults.end());
    }
  }
  VITRT_ASSIGN_OR_RETURN(std::vector<float> alphas, a.get_floats("activation_alpha", {}));
  VITRT_ASSIGN_OR_RETURN(std::vector<float> betas, a.get_floats("activation_beta", {}));
  size_t next_alpha = 0, next_beta = 0;
  spec.activations.assign(spec.num_directions, {});
  for (size_t i = 0; i < names.size(); ++i) {
    const ActivationInfo* info = nullptr;
    for (const ActivationInfo& candidate : kActivations) {
      if (lower(candidate.name) == lower(names[i])) info = &candidate;
    }
    if (info == nullptr) {
      return invalid_model(node.describe(), ": activation '", names[i],
                           "' is none of ONNX's (Relu, Tanh, Sigmoid, Affine, LeakyRelu, "
                           "ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus)");
    }
    RecurrentActivation act{info->name, info->alpha, info->beta};
    if (info->takes_alpha && next_alpha < alphas.size()) act.alpha = alphas[next_alpha++];
    if (info->takes_beta && next_beta < betas.size()) act.beta = betas[next_beta++];
    spec.activations[i / per_dir].push_back(std::move(act));
  }
  return spec;
}

Result<RecurrentSpec> parse_recurrent(const Graph& graph, const Node& node) {
  std::optional<std::vector<int64_t>> shapes[2];
  for (int i : {0, 1}) {
    const int input = i == 0 ? kRecW : kRecR;
    if (!node.has_input(input)) continue;
    const Value& v = graph.values[node.inputs[input]];
    if (v.has_shape) shapes[i] = sym_shape_to_static(v.shape);
  }
  return parse_recurrent(node, shapes[0] ? &*shapes[0] : nullptr,
                         shapes[1] ? &*shapes[1] : nullptr);
}

void register_recurrent_schemas(OpRegistry& registry) {
  // Inputs X, W, R, B, sequence_lens, initial_h (LSTM: initial_c, P); every output optional.
  registry.add({"", "RNN", 3, 6, 0, 2, infer_recurrent});
  registry.add({"", "GRU", 3, 6, 0, 2, infer_recurrent});
  registry.add({"", "LSTM", 3, 8, 0, 3, infer_recurrent});
}

}  // namespace vitrt
