#include "ir/ops/op_attributes.h"

#include <cmath>
#include <string>

#include "vitrt/tensor.h"

namespace vitrt {

Result<GroupNormAttributes> GroupNormAttributes::parse(const Attributes& attrs) {
  GroupNormAttributes a;
  VITRT_ASSIGN_OR_RETURN(a.epsilon, attrs.get_float("epsilon", 1e-5f));
  VITRT_ASSIGN_OR_RETURN(a.groups, attrs.require_int("num_groups"));
  if (a.groups <= 0) {
    return invalid_model("attribute 'num_groups' must be positive, got ", a.groups);
  }
  return a;
}

Result<LpNormAttributes> LpNormAttributes::parse(const Attributes& attrs) {
  LpNormAttributes a;
  VITRT_ASSIGN_OR_RETURN(a.axis, attrs.get_int("axis", -1));
  VITRT_ASSIGN_OR_RETURN(a.p, attrs.get_int("p", 2));
  if (a.p != 1 && a.p != 2) return invalid_model("attribute 'p' must be 1 or 2, got ", a.p);
  return a;
}

Result<ScatterReduction> parse_scatter_reduction(const Attributes& attrs) {
  VITRT_ASSIGN_OR_RETURN(std::string r, attrs.get_string("reduction", "none"));
  if (r == "none") return ScatterReduction::kNone;
  if (r == "add") return ScatterReduction::kAdd;
  if (r == "mul") return ScatterReduction::kMul;
  if (r == "max") return ScatterReduction::kMax;
  if (r == "min") return ScatterReduction::kMin;
  return invalid_model("attribute 'reduction' is '", r, "'; expected none, add, mul, max or min");
}

Result<bool> parse_bit_shift_left(const Attributes& attrs) {
  const Attribute* dir = attrs.find("direction");
  if (dir == nullptr || (dir->s != "LEFT" && dir->s != "RIGHT")) {
    return invalid_model("attribute 'direction' must be \"LEFT\" or \"RIGHT\"");
  }
  return dir->s == "LEFT";
}

Status check_qdq_block_size(const Attributes& attrs) {
  VITRT_ASSIGN_OR_RETURN(int64_t block_size, attrs.get_int("block_size", 0));
  if (block_size != 0) return unsupported("blocked quantization is not supported");
  return Status();
}

Result<QdqLayout> qdq_layout(const Attributes& attrs, const std::vector<int64_t>& x_shape,
                             const std::vector<int64_t>& scale_shape, int64_t zero_point_numel) {
  QdqLayout layout;
  const int64_t n = shape_numel(scale_shape);
  if (zero_point_numel >= 0 && zero_point_numel != n) {
    return invalid_argument("the zero point has ", zero_point_numel, " elements, the scale ", n);
  }
  if (scale_shape.empty() || n == 1) return layout;
  if (scale_shape.size() != 1) {
    return invalid_argument("the scale must be a scalar or 1-D, got ",
                            shape_to_string(scale_shape));
  }
  const int64_t rank = static_cast<int64_t>(x_shape.size());
  VITRT_ASSIGN_OR_RETURN(int64_t axis, attrs.get_int("axis", 1));
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) {
    return invalid_argument("axis ", axis, " is out of range for input ", shape_to_string(x_shape));
  }
  if (x_shape[axis] != n) {
    return invalid_argument("per-axis scale of ", n, " elements for axis ", axis, " of input ",
                            shape_to_string(x_shape));
  }
  layout.channels = n;
  for (int64_t a = axis + 1; a < rank; ++a) layout.inner *= x_shape[a];
  return layout;
}

Result<std::optional<FakeQuant>> parse_fake_quant(const Attributes& attrs, const char* name) {
  if (!attrs.has(name)) return std::optional<FakeQuant>();
  VITRT_ASSIGN_OR_RETURN(std::vector<float> v, attrs.get_floats(name, {}));
  const char* why = nullptr;
  const std::optional<FakeQuant> fq = fake_quant_from_floats(v, &why);
  if (!fq) return invalid_model("attribute '", name, "' ", why);
  return fq;
}

Result<std::array<std::optional<InputFakeQuant>, 3>> parse_attention_input_quant(
    const Attributes& attrs) {
  std::array<std::optional<InputFakeQuant>, 3> out;
  const char* parts[3] = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) {
    const std::string quant = std::string("quant_") + parts[i];
    const std::string prescale = std::string("prescale_") + parts[i];
    VITRT_ASSIGN_OR_RETURN(std::optional<FakeQuant> fq, parse_fake_quant(attrs, quant.c_str()));
    VITRT_ASSIGN_OR_RETURN(float f, attrs.get_float(prescale, 1.0f));
    if (!fq) {
      if (attrs.has(prescale)) return invalid_model("attribute '", prescale, "' needs ", quant);
      continue;
    }
    if (!std::isfinite(f)) return invalid_model("attribute '", prescale, "' must be finite");
    out[static_cast<size_t>(i)] = InputFakeQuant{*fq, f};
  }
  return out;
}

Result<std::array<std::optional<FakeQuant>, 3>> parse_add_layer_norm_quant(
    const Attributes& attrs) {
  std::array<std::optional<FakeQuant>, 3> out;
  const char* names[3] = {"quant_a", "quant_b", "quant_sum"};
  for (size_t i = 0; i < out.size(); ++i) {
    VITRT_ASSIGN_OR_RETURN(out[i], parse_fake_quant(attrs, names[i]));
  }
  return out;
}

Result<OutputCodes> OutputCodes::parse(const Attributes& attrs) {
  OutputCodes c;
  const bool has_scale = attrs.has("output_scale");
  if (!has_scale) {
    for (const char* name : {"output_format", "output_qmin"}) {
      if (attrs.has(name)) return invalid_argument("attribute '", name, "' needs output_scale");
    }
    return c;
  }
  VITRT_ASSIGN_OR_RETURN(c.scale, attrs.get_float("output_scale", 0.0f));
  if (!(c.scale > 0.0f) || !std::isfinite(c.scale)) {
    return invalid_argument("attribute 'output_scale' must be a finite float > 0, got ", c.scale);
  }
  VITRT_ASSIGN_OR_RETURN(std::string format, attrs.get_string("output_format", "fp8"));
  if (format != "fp8" && format != "int8") {
    return invalid_argument("attribute 'output_format' is '", format, "', expected fp8 or int8");
  }
  c.int8 = format == "int8";
  if (attrs.has("output_qmin")) {
    VITRT_ASSIGN_OR_RETURN(int64_t qmin, attrs.get_int("output_qmin", -127));
    if (!c.int8 || qmin < -128 || qmin > 0) {
      return invalid_argument("attribute 'output_qmin' (", qmin,
                              ") applies to output_format int8 and must lie in [-128, 0]");
    }
    c.qmin = static_cast<int32_t>(qmin);
  }
  return c;
}

}  // namespace vitrt
