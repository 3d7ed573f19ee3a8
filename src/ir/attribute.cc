// Typed attribute access with messages that name the attribute.
#include "ir/attribute.h"

namespace vitrt {

const char* attribute_kind_name(Attribute::Kind kind) {
  switch (kind) {
    case Attribute::Kind::kFloat:
      return "float";
    case Attribute::Kind::kInt:
      return "int";
    case Attribute::Kind::kString:
      return "string";
    case Attribute::Kind::kTensor:
      return "tensor";
    case Attribute::Kind::kFloats:
      return "floats";
    case Attribute::Kind::kInts:
      return "ints";
    case Attribute::Kind::kStrings:
      return "strings";
    case Attribute::Kind::kGraph:
      return "graph";
  }
  return "unknown";
}

void Attributes::set_int(const std::string& name, int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  map_[name] = std::move(a);
}
void Attributes::set_float(const std::string& name, float v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  map_[name] = std::move(a);
}
void Attributes::set_string(const std::string& name, std::string v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = std::move(v);
  map_[name] = std::move(a);
}
void Attributes::set_ints(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  map_[name] = std::move(a);
}
void Attributes::set_floats(const std::string& name, std::vector<float> v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloats;
  a.floats = std::move(v);
  map_[name] = std::move(a);
}
void Attributes::set_tensor(const std::string& name, Tensor v) {
  Attribute a;
  a.kind = Attribute::Kind::kTensor;
  a.t = std::move(v);
  map_[name] = std::move(a);
}

const Attribute* Attributes::find(const std::string& name) const {
  auto it = map_.find(name);
  return it == map_.end() ? nullptr : &it->second;
}

namespace {

Status wrong_kind(const std::string& name, const Attribute& a, Attribute::Kind expected) {
  return invalid_model("attribute '", name, "' should be of type ", attribute_kind_name(expected),
                       ", got ", attribute_kind_name(a.kind));
}

}  // namespace

Result<int64_t> Attributes::get_int(const std::string& name, int64_t default_value) const {
  const Attribute* a = find(name);
  if (!a) return default_value;
  if (a->kind != Attribute::Kind::kInt) return wrong_kind(name, *a, Attribute::Kind::kInt);
  return a->i;
}

Result<float> Attributes::get_float(const std::string& name, float default_value) const {
  const Attribute* a = find(name);
  if (!a) return default_value;
  if (a->kind == Attribute::Kind::kInt) return static_cast<float>(a->i);
  if (a->kind != Attribute::Kind::kFloat) return wrong_kind(name, *a, Attribute::Kind::kFloat);
  return a->f;
}

Result<std::string> Attributes::get_string(const std::string& name,
                                           const std::string& default_value) const {
  const Attribute* a = find(name);
  if (!a) return default_value;
  if (a->kind != Attribute::Kind::kString) return wrong_kind(name, *a, Attribute::Kind::kString);
  return a->s;
}

Result<std::vector<int64_t>> Attributes::get_ints(const std::string& name,
                                                  const std::vector<int64_t>& default_value) const {
  const Attribute* a = find(name);
  if (!a) return default_value;
  if (a->kind != Attribute::Kind::kInts) return wrong_kind(name, *a, Attribute::Kind::kInts);
  return a->ints;
}

Result<std::vector<float>> Attributes::get_floats(const std::string& name,
                                                  const std::vector<float>& default_value) const {
  const Attribute* a = find(name);
  if (!a) return default_value;
  if (a->kind != Attribute::Kind::kFloats) return wrong_kind(name, *a, Attribute::Kind::kFloats);
  return a->floats;
}

Result<int64_t> Attributes::require_int(const std::string& name) const {
  if (!has(name)) return invalid_model("required attribute '", name, "' is missing");
  return get_int(name, 0);
}

Result<std::vector<int64_t>> Attributes::require_ints(const std::string& name) const {
  if (!has(name)) return invalid_model("required attribute '", name, "' is missing");
  return get_ints(name, {});
}

Result<Tensor> Attributes::require_tensor(const std::string& name) const {
  const Attribute* a = find(name);
  if (!a) return invalid_model("required attribute '", name, "' is missing");
  if (a->kind != Attribute::Kind::kTensor) return wrong_kind(name, *a, Attribute::Kind::kTensor);
  return a->t;
}

}  // namespace vitrt
