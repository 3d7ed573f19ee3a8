// Node attributes, as ONNX defines them. Sub-graphs (If branches) are held as Graphs of their own;
// no other list-of-graphs, sparse or type attribute is kept with content.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

class Graph;

struct Attribute {
  enum class Kind { kFloat, kInt, kString, kTensor, kFloats, kInts, kStrings, kGraph };
  Kind kind = Kind::kInt;
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  // kGraph: the sub-graph (an If branch); null for the attribute kinds kept without content
  // (lists of graphs, sparse tensors, type protos), which no supported op takes. Shared and
  // immutable, so copying a node copies no sub-graph.
  std::shared_ptr<const Graph> g;
};

const char* attribute_kind_name(Attribute::Kind kind);

// Typed access with messages that name the attribute. `get_*` return the default when the
// attribute is absent and an error when it is present with another kind.
class Attributes {
 public:
  void set(const std::string& name, Attribute value) { map_[name] = std::move(value); }
  void set_int(const std::string& name, int64_t v);
  void set_float(const std::string& name, float v);
  void set_string(const std::string& name, std::string v);
  void set_ints(const std::string& name, std::vector<int64_t> v);
  void set_floats(const std::string& name, std::vector<float> v);
  void set_tensor(const std::string& name, Tensor v);
  bool has(const std::string& name) const { return map_.count(name) != 0; }
  void erase(const std::string& name) { map_.erase(name); }
  const Attribute* find(const std::string& name) const;

  Result<int64_t> get_int(const std::string& name, int64_t default_value) const;
  Result<float> get_float(const std::string& name, float default_value) const;
  Result<std::string> get_string(const std::string& name, const std::string& default_value) const;
  Result<std::vector<int64_t>> get_ints(const std::string& name,
                                        const std::vector<int64_t>& default_value) const;
  Result<std::vector<float>> get_floats(const std::string& name,
                                        const std::vector<float>& default_value) const;
  // Required attributes: an error naming the attribute when absent.
  Result<int64_t> require_int(const std::string& name) const;
  Result<std::vector<int64_t>> require_ints(const std::string& name) const;
  Result<Tensor> require_tensor(const std::string& name) const;

  const std::map<std::string, Attribute>& all() const { return map_; }
  bool empty() const { return map_.empty(); }

 private:
  std::map<std::string, Attribute> map_;
};

}  // namespace vitrt
