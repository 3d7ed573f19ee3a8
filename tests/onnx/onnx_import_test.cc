// Importing the fixtures of python/make_onnx_test_models.py and the conformance models: dtypes,
// symbolic dims, attributes of each kind, Constant folding, external data, errors.
#include "onnx/onnx_import.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "ir/op_schema.h"
#include "onnx/proto_writer.h"
#include "testing/compare.h"

namespace vitrt {
namespace {

using testing::ProtoWriter;

const std::string kData = std::string(VITRT_SOURCE_DIR) + "/tests/data/onnx/";

const Value& value_named(const Graph& g, const std::string& name) {
  auto id = g.find_value(name);
  EXPECT_TRUE(id.has_value()) << name;
  static const Value kMissing;
  return id ? g.values[*id] : kMissing;
}

const Node* node_named(const Graph& g, const std::string& name) {
  for (const Node& n : g.nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

TEST(OnnxImport, AttributesSymbolicDimsAndNames) {
  auto result = import_onnx_file(kData + "attributes.onnx");
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  const Graph& g = *result;
  EXPECT_EQ(g.name, "attrs");
  EXPECT_EQ(g.producer_name, "vitrt-fixtures");
  EXPECT_EQ(g.producer_version, "1.0");
  EXPECT_EQ(g.onnx_opset(), 17);
  EXPECT_EQ(g.opset_imports.count("ai.onnx"), 0u);  // stored as the default domain ""
  EXPECT_EQ(g.opset_imports.at("test.domain"), 1);

  ASSERT_EQ(g.inputs.size(), 2u);
  const Value& x = g.values[g.inputs[0]];
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.dtype, DType::kFloat32);
  ASSERT_TRUE(x.has_shape);
  ASSERT_EQ(x.shape.size(), 3u);
  EXPECT_TRUE(x.shape[0].same_as(Dim::symbol("batch")));
  EXPECT_TRUE(x.shape[1].same_as(Dim(3)));
  EXPECT_TRUE(x.shape[2].same_as(Dim::symbol("x_dim2")));
  const Value& ids = g.values[g.inputs[1]];
  EXPECT_EQ(ids.dtype, DType::kInt64);
  EXPECT_EQ(sym_shape_to_string(ids.shape), sym_shape_to_string({Dim(2)}));

  // Two nodes named "dup": the first keeps it, the second becomes "<op_type>_<index>"; the
  // unnamed ones get "<op_type>_<index>" as well.
  ASSERT_EQ(g.nodes.size(), 4u);
  const Node* all = node_named(g, "dup");
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(all->op_type, "AllAttrs");
  EXPECT_NE(node_named(g, "Relu_1"), nullptr);
  EXPECT_NE(node_named(g, "Neg_2"), nullptr);
  EXPECT_NE(node_named(g, "Identity_3"), nullptr);
  EXPECT_EQ(all->domain, "test.domain");
  ASSERT_EQ(all->inputs.size(), 3u);
  EXPECT_EQ(all->inputs[1], kNoValue);
  EXPECT_EQ(g.values[all->inputs[2]].name, "ids");
  ASSERT_EQ(all->outputs.size(), 2u);
  EXPECT_EQ(all->outputs[1], kNoValue);

  const Attributes& a = all->attrs;
  EXPECT_EQ(*a.get_float("f", 0), 0.25f);
  EXPECT_EQ(*a.get_int("i", 0), -7);
  EXPECT_EQ(*a.get_string("s", ""), "hello");
  EXPECT_EQ(*a.get_floats("floats", {}), (std::vector<float>{1.0f, 2.5f}));
  EXPECT_EQ(*a.get_ints("ints", {}), (std::vector<int64_t>{3, -4, 5}));
  ASSERT_NE(a.find("strings"), nullptr);
  EXPECT_EQ(a.find("strings")->kind, Attribute::Kind::kStrings);
  EXPECT_EQ(a.find("strings")->strings, (std::vector<std::string>{"p", "q"}));
  auto t = a.require_tensor("t");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(testing::tensors_close(*t, Tensor::from_float({1.5f, -2.0f})));
  ASSERT_NE(a.find("g"), nullptr);
  EXPECT_EQ(a.find("g")->kind, Attribute::Kind::kGraph);

  // value_info gives the intermediate 'r' a dtype and a shape; graph outputs carry theirs.
  const Value& r = value_named(g, "r");
  EXPECT_EQ(r.dtype, DType::kFloat32);
  ASSERT_TRUE(r.has_shape);
  EXPECT_TRUE(r.shape[2].same_as(Dim::symbol("w")));
  const Value& y = value_named(g, "y");
  ASSERT_TRUE(y.has_shape);
  EXPECT_TRUE(y.shape[0].same_as(Dim::symbol("batch")));
  EXPECT_FALSE(y.shape[2].is_known());  // a dim with neither value nor param, not an input
  const Value& z = value_named(g, "z");
  EXPECT_EQ(z.dtype, DType::kFloat32);
  EXPECT_FALSE(z.has_shape);
  ASSERT_EQ(g.outputs.size(), 2u);
  EXPECT_EQ(g.values[g.outputs[1]].name, "z");
}

TEST(OnnxImport, ConstantNodesBecomeConstantValues) {
  auto result = import_onnx_file(kData + "constants.onnx");
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  const Graph& g = *result;
  for (const Node& n : g.nodes) EXPECT_NE(n.op_type, "Constant");
  EXPECT_EQ(g.nodes.size(), 4u);
  Tensor expected = Tensor::empty(DType::kFloat32, {2, 3});
  for (int i = 0; i < 6; ++i) expected.data<float>()[i] = i * 0.5f - 1.0f;
  EXPECT_TRUE(testing::tensors_close(value_named(g, "c_tensor").constant, expected));
  EXPECT_TRUE(testing::tensors_close(value_named(g, "c_float").constant,
                                     Tensor::from_float({2.5f}, /*as_scalar=*/true)));
  EXPECT_TRUE(testing::tensors_close(value_named(g, "c_floats").constant,
                                     Tensor::from_float({1.0f, -1.0f, 0.125f})));
  const Tensor& c_int = value_named(g, "c_int").constant;
  EXPECT_EQ(c_int.dtype(), DType::kInt64);
  EXPECT_EQ(c_int.rank(), 0);
  EXPECT_EQ(c_int.data<int64_t>()[0], -3);
  EXPECT_EQ(value_named(g, "c_ints").constant.to_int64_vector(), (std::vector<int64_t>{2, 3}));
  // A graph output may be a constant.
  EXPECT_EQ(g.values[g.outputs[1]].name, "c_int");
}

TEST(OnnxImport, ExternalDataInASubFolder) {
  auto result = import_onnx_file(kData + "external/model.onnx");
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  const Tensor& w1 = value_named(*result, "w1").constant;
  ASSERT_EQ(w1.shape(), (std::vector<int64_t>{3, 4}));
  for (int i = 0; i < 12; ++i) {
    EXPECT_NEAR(w1.data<float>()[i], -1.0 + 2.0 * i / 11.0, 1e-6) << i;
  }
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w1.raw_data()) % 64, 0u);
  const Tensor& w2 = value_named(*result, "w2").constant;  // at a non-zero offset
  EXPECT_EQ(w2.to_int64_vector(), (std::vector<int64_t>{-7, 993, 1993, 2993, 3993}));
}

TEST(OnnxImport, ExternalDataThatEscapesOrOverrunsIsRefused) {
  for (const auto& [file, needle] : std::vector<std::pair<std::string, std::string>>{
           {"escape.onnx", "must be a relative path inside"},
           {"absolute.onnx", "must be a relative path inside"},
           {"past_end.onnx", "exceeds the file size 88"},
           {"bad_length.onnx", "length 8 does not match the 16 bytes"},
           {"missing.onnx", "does not exist"},
       }) {
    auto result = import_onnx_file(kData + "external/" + file);
    ASSERT_FALSE(result.ok()) << file;
    EXPECT_NE(result.status().message().find(needle), std::string::npos)
        << result.status().to_string();
    EXPECT_NE(result.status().message().find("TensorProto 'w' in graph initializer 0"),
              std::string::npos)
        << result.status().to_string();
  }
  // From memory without a folder, external data cannot be resolved.
  std::FILE* f = std::fopen((kData + "external/model.onnx").c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::vector<uint8_t> bytes(4096);
  bytes.resize(std::fread(bytes.data(), 1, bytes.size(), f));
  std::fclose(f);
  auto result = import_onnx_bytes(bytes.data(), bytes.size(), "");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("not loaded from a folder"), std::string::npos);
}

TEST(OnnxImport, InitializersListedAsInputsAreNotInputs) {
  auto result = import_onnx_file(kData + "initializer_as_input.onnx");
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  const Graph& g = *result;
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.values[g.inputs[0]].name, "x");
  const Value& w = value_named(g, "w");
  ASSERT_TRUE(w.is_constant());
  EXPECT_TRUE(
      testing::tensors_close(w.constant.reshaped({4}).value(), Tensor::from_float({1, 2, 3, 4})));
  EXPECT_EQ(g.onnx_opset(), 9);
}

TEST(OnnxImport, ErrorsNameTheCulprit) {
  struct Case {
    std::string file;
    StatusCode code;
    std::vector<std::string> needles;
  };
  for (const Case& c : std::vector<Case>{
           {"errors/undefined_input.onnx", StatusCode::kInvalidModel, {"'adder'", "'ghost'"}},
           {"errors/undefined_output.onnx", StatusCode::kInvalidModel, {"'nowhere'"}},
           {"errors/string_initializer.onnx", StatusCode::kUnsupported, {"'words'", "string"}},
           {"errors/string_constant.onnx", StatusCode::kUnsupported, {"'strconst'", "string"}},
           {"errors/sparse_initializer.onnx", StatusCode::kUnsupported, {"sparse"}},
           {"errors/count_mismatch.onnx",
            StatusCode::kInvalidModel,
            {"'short'", "4 elements", "float_data holds 3"}},
       }) {
    auto result = import_onnx_file(kData + c.file);
    ASSERT_FALSE(result.ok()) << c.file;
    EXPECT_EQ(result.status().code(), c.code) << result.status().to_string();
    for (const std::string& needle : c.needles) {
      EXPECT_NE(result.status().message().find(needle), std::string::npos)
          << c.file << ": " << result.status().to_string();
    }
  }
  auto missing = import_onnx_file(kData + "no_such_model.onnx");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("no_such_model.onnx"), std::string::npos);
  auto dir = import_onnx_file(kData + "external");
  EXPECT_FALSE(dir.ok());
  auto empty = import_onnx_bytes(nullptr, 0, "");
  EXPECT_FALSE(empty.ok());
}

// Hand-built models for what the onnx package does not write: attributes without a type (old
// IR versions), ref_attr_name, training info, a cycle, unknown fields and groups everywhere.
ProtoWriter value_info(const std::string& name, int elem_type, std::vector<int64_t> dims) {
  ProtoWriter shape;
  for (int64_t d : dims) shape.message(1, ProtoWriter().varint(1, static_cast<uint64_t>(d)));
  ProtoWriter tensor_type;
  tensor_type.varint(1, elem_type).message(2, shape);
  return ProtoWriter().bytes(1, name).message(2, ProtoWriter().message(1, tensor_type));
}

ProtoWriter model_with_nodes(const std::vector<ProtoWriter>& nodes) {
  ProtoWriter graph;
  for (const ProtoWriter& n : nodes) graph.message(1, n);
  graph.bytes(2, "hand");
  graph.message(11, value_info("x", 1, {2}));
  graph.message(12, value_info("y", 1, {2}));
  ProtoWriter model;
  model.varint(1, 8).message(8, ProtoWriter().bytes(1, "").varint(2, 17)).message(7, graph);
  return model;
}

TEST(OnnxImport, HandBuiltEncodings) {
  // An attribute without `type`, unknown fields and a group inside the node and the model.
  ProtoWriter attr;
  attr.bytes(1, "alpha").float32(2, 0.5f);
  ProtoWriter ints_attr;
  ints_attr.bytes(1, "perm").varint(8, 1).varint(8, 0);  // unpacked ints, no type
  ProtoWriter node;
  node.bytes(1, "x").bytes(2, "y").bytes(4, "LeakyRelu").message(5, attr).message(5, ints_attr);
  node.varint(99, 5).start_group(98).bytes(1, "junk").end_group(98);
  ProtoWriter model = model_with_nodes({node});
  model.bytes(1000, "unknown").start_group(77).end_group(77);
  auto result = import_onnx_bytes(model.data(), model.size(), "");
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  const Node& n = result->nodes.at(0);
  EXPECT_EQ(n.name, "LeakyRelu_0");
  EXPECT_EQ(*n.attrs.get_float("alpha", 0), 0.5f);
  EXPECT_EQ(*n.attrs.get_ints("perm", {}), (std::vector<int64_t>{1, 0}));

  ProtoWriter ref;
  ref.bytes(1, "alpha").varint(20, 1).bytes(21, "outer_alpha");
  ProtoWriter ref_node;
  ref_node.bytes(1, "x").bytes(2, "y").bytes(3, "lr").bytes(4, "LeakyRelu").message(5, ref);
  ProtoWriter ref_model = model_with_nodes({ref_node});
  result = import_onnx_bytes(ref_model.data(), ref_model.size(), "");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("attribute 'alpha' of node 'lr' (LeakyRelu)"),
            std::string::npos)
      << result.status().to_string();

  ProtoWriter training = model_with_nodes({node});
  training.message(20, ProtoWriter());
  result = import_onnx_bytes(training.data(), training.size(), "");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(result.status().message().find("training_info"), std::string::npos);

  // Two nodes feeding each other: validate() finds the cycle.
  ProtoWriter a, b;
  a.bytes(1, "x").bytes(1, "q").bytes(2, "p").bytes(3, "a").bytes(4, "Add");
  b.bytes(1, "p").bytes(2, "q").bytes(3, "b").bytes(4, "Relu");
  ProtoWriter c;
  c.bytes(1, "q").bytes(2, "y").bytes(4, "Identity");
  ProtoWriter cyclic = model_with_nodes({a, b, c});
  result = import_onnx_bytes(cyclic.data(), cyclic.size(), "");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("cycle"), std::string::npos);

  // Nodes out of order are fine.
  ProtoWriter first, second;
  first.bytes(1, "h").bytes(2, "y").bytes(4, "Relu");
  second.bytes(1, "x").bytes(2, "h").bytes(4, "Neg");
  ProtoWriter unordered = model_with_nodes({first, second});
  result = import_onnx_bytes(unordered.data(), unordered.size(), "");
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(result->nodes[0].name, "Relu_0");
}

// A value_info entry whose dims are named (dim_param) or, when all digits, sized.
ProtoWriter named_value_info(const std::string& name, int elem_type,
                             const std::vector<std::string>& dims) {
  ProtoWriter shape;
  for (const std::string& d : dims) {
    const bool number = !d.empty() && d.find_first_not_of("0123456789") == std::string::npos;
    shape.message(1, number ? ProtoWriter().varint(1, std::stoull(d)) : ProtoWriter().bytes(2, d));
  }
  ProtoWriter tensor_type;
  tensor_type.varint(1, elem_type).message(2, shape);
  return ProtoWriter().bytes(1, name).message(2, ProtoWriter().message(1, tensor_type));
}

TEST(OnnxImport, ValueInfoNamesDimsInferenceCannotWorkOut) {
  // Two Reshapes to a runtime target: inference cannot size their outputs, but the exporter's
  // value_info names both row counts "tokens" (as dynamo names "s1*s2 + 1"), so their sum is
  // [tokens, ?], not two unknowns that might broadcast. A number in value_info is not taken (a
  // TorchScript export records traced sizes, which a dynamic dim must not become), and a dim
  // inference does work out (Relu's batch) keeps its own value over a hint that disagrees.
  ProtoWriter r1, r2, add, relu;
  r1.bytes(1, "x").bytes(1, "t").bytes(2, "a").bytes(4, "Reshape");
  r2.bytes(1, "x").bytes(1, "t").bytes(2, "b").bytes(4, "Reshape");
  add.bytes(1, "a").bytes(1, "b").bytes(2, "y").bytes(4, "Add");
  relu.bytes(1, "x").bytes(2, "z").bytes(4, "Relu");
  ProtoWriter graph;
  for (const ProtoWriter* n : {&r1, &r2, &add, &relu}) graph.message(1, *n);
  graph.bytes(2, "hints");
  graph.message(11, named_value_info("x", 1, {"batch", "6"}));
  graph.message(11, named_value_info("t", 7, {"2"}));
  graph.message(12, named_value_info("y", 1, {}));
  graph.message(12, named_value_info("z", 1, {"other", "6"}));
  graph.message(13, named_value_info("a", 1, {"tokens", "3"}));
  graph.message(13, named_value_info("b", 1, {"tokens", "3"}));
  ProtoWriter model;
  model.varint(1, 8).message(8, ProtoWriter().bytes(1, "").varint(2, 17)).message(7, graph);
  auto result = import_onnx_bytes(model.data(), model.size(), "");
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  Graph g = std::move(*result);
  ASSERT_TRUE(infer_shapes(g).ok());
  const Dim tokens = Dim::symbol("tokens");
  const Value& y = value_named(g, "y");
  ASSERT_TRUE(y.has_shape);
  ASSERT_EQ(y.shape.size(), 2u);
  EXPECT_TRUE(y.shape[0].same_as(tokens)) << sym_shape_to_string(y.shape);
  EXPECT_FALSE(y.shape[1].is_known()) << sym_shape_to_string(y.shape);
  const Value& z = value_named(g, "z");
  EXPECT_TRUE(z.shape[0].same_as(Dim::symbol("batch"))) << sym_shape_to_string(z.shape);
}

TEST(OnnxImport, HostileDimsDoNotAllocate) {
  // dims of 2^40 x 2^40 float with 8 bytes of data: an error, not an allocation.
  ProtoWriter t;
  t.varint(1, 1ull << 40).varint(1, 1ull << 40).varint(2, 1).bytes(8, "w").bytes(9, "12345678");
  ProtoWriter graph;
  graph.message(5, t).message(12, value_info("w", 1, {}));
  ProtoWriter model;
  model.message(7, graph);
  auto result = import_onnx_bytes(model.data(), model.size(), "");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("TensorProto 'w' in graph initializer 0"),
            std::string::npos)
      << result.status().to_string();
  // Overflowing dims and negative dims.
  for (int64_t d : {int64_t{1} << 62, int64_t{-3}}) {
    ProtoWriter bad;
    bad.varint(1, static_cast<uint64_t>(d)).varint(1, 8).varint(2, 1).bytes(8, "w");
    auto tensor = parse_tensor_proto(bad.data(), bad.size(), "");
    EXPECT_FALSE(tensor.ok()) << d;
  }
}

// Every model of the conformance suite imports or fails with a clean message; most import.
TEST(OnnxImport, ConformanceModels) {
  const std::filesystem::path root = "/usr/share/libonnx-testdata/data/node";
  if (!std::filesystem::exists(root)) GTEST_SKIP() << "no conformance data at " << root;
  int ok = 0, failed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    const auto model = entry.path() / "model.onnx";
    if (!std::filesystem::exists(model)) continue;
    auto result = import_onnx_file(model.string());
    if (result.ok()) {
      ++ok;
      EXPECT_TRUE(result->validate().ok());
    } else {
      ++failed;
      EXPECT_FALSE(result.status().message().empty());
      EXPECT_NE(result.status().code(), StatusCode::kInternal) << result.status().to_string();
    }
  }
  EXPECT_GT(ok, 800) << failed << " failed";
}

}  // namespace
}  // namespace vitrt
