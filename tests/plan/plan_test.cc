// Plan files: exact round trip of a graph (symbolic dims, every attribute kind, weights), and
// the errors for corrupt, truncated, foreign and newer-version files.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/checksum.h"
#include "plan/plan_format.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

Tensor iota_tensor(DType dtype, std::vector<int64_t> shape, uint8_t seed) {
  Tensor t = Tensor::empty(dtype, std::move(shape));
  auto* p = static_cast<uint8_t*>(t.raw_data());
  for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<uint8_t>(seed + i * 7);
  if (dtype == DType::kBool) {
    for (size_t i = 0; i < t.nbytes(); ++i) p[i] &= 1;
  }
  return t;
}

// A graph exercising everything the plan stores.
Graph make_test_graph() {
  Graph g;
  g.name = "round_trip";
  g.producer_name = "vitrt-test";
  g.producer_version = "1.2";
  g.opset_imports[""] = 17;
  g.opset_imports["com.microsoft"] = 1;

  const Dim batch = Dim::symbol("batch");
  const Dim seq = Dim::symbol("seq");
  Value x;
  x.name = "pixel/values:0";
  x.dtype = DType::kFloat32;
  x.has_shape = true;
  x.shape = {batch, Dim(3), Dim::symbol("height"), Dim::unknown()};
  const ValueId xi = g.add_value(x);

  Value unranked;
  unranked.name = "unranked";
  unranked.dtype = DType::kInt64;
  const ValueId ui = g.add_value(unranked);

  // Weights of odd sizes so that alignment padding is exercised.
  const ValueId w1 = g.add_constant("w1", iota_tensor(DType::kFloat32, {3, 5}, 1));
  const ValueId w2 = g.add_constant("w2", iota_tensor(DType::kInt8, {7}, 2));
  const ValueId w3 = g.add_constant("w3", iota_tensor(DType::kFloat16, {2, 3, 3}, 3));
  const ValueId w4 = g.add_constant("w4", iota_tensor(DType::kInt64, {}, 4));
  const ValueId w5 = g.add_constant("w5_empty", Tensor::zeros(DType::kFloat32, {0, 4}));
  const ValueId w6 = g.add_constant("w6", iota_tensor(DType::kBool, {5}, 5));
  const ValueId w7 = g.add_constant("w7", iota_tensor(DType::kBFloat16, {9}, 6));

  Value mid;
  mid.name = "mid";
  mid.dtype = DType::kFloat32;
  mid.has_shape = true;
  mid.shape = {batch * seq * Dim(2), seq * seq, Dim(-3) * batch, Dim(0)};
  // Sums (plan format 2): a dynamic-resolution token count and a mixed-sign polynomial.
  const Dim tokens =
      Dim::symbol("height").floor_div(14) * Dim::symbol("width").floor_div(14) + Dim(5);
  mid.sym_value = std::vector<Dim>{batch,          Dim(197),
                                   Dim::unknown(), Dim(12) * batch * seq,
                                   tokens,         Dim(2) * batch * tokens - seq * seq + Dim(-7)};
  const ValueId mi = g.add_value(mid);
  Value out;
  out.name = "out";
  out.dtype = DType::kFloat16;
  out.has_shape = true;
  out.shape = {batch};
  const ValueId oi = g.add_value(out);

  Node a;
  a.name = "node/with:odd name";
  a.op_type = "Everything";
  a.domain = "com.microsoft";
  a.inputs = {xi, kNoValue, w1, w2, w3, w4, w5, w6, w7, ui};
  a.outputs = {mi, kNoValue};
  a.attrs.set_float("alpha", -0.125f);
  a.attrs.set_int("axis", -1);
  a.attrs.set_string("mode", std::string("linear\0with nul", 15));
  a.attrs.set_tensor("value", iota_tensor(DType::kFloat64, {2, 2}, 9));
  a.attrs.set_floats("scales", {1.5f, -2.0f, 0.0f});
  a.attrs.set_ints("perm", {0, 2, 1, -9223372036854775807LL});
  Attribute strings;
  strings.kind = Attribute::Kind::kStrings;
  strings.strings = {"a", "", "ccc"};
  a.attrs.set("names", strings);
  a.attrs.set_ints("empty_ints", {});
  g.add_node(a);

  Node b;
  b.name = "second";
  b.op_type = "Relu";
  b.inputs = {mi};
  b.outputs = {oi};
  g.add_node(b);

  g.inputs = {xi, ui};
  g.outputs = {oi, mi};
  return g;
}

void expect_dims_equal(const std::vector<Dim>& a, const std::vector<Dim>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].is_known(), b[i].is_known()) << i;
    if (a[i].is_known()) {
      EXPECT_TRUE(a[i].same_as(b[i])) << a[i].to_string() << " vs " << b[i].to_string();
    }
  }
}

void expect_tensors_identical(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.defined(), b.defined());
  if (!a.defined()) return;
  EXPECT_EQ(a.dtype(), b.dtype());
  EXPECT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.nbytes(), b.nbytes());
  if (a.nbytes() > 0) {
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0);
  }
}

void expect_attributes_equal(const Attributes& a, const Attributes& b) {
  ASSERT_EQ(a.all().size(), b.all().size());
  for (const auto& [name, x] : a.all()) {
    SCOPED_TRACE(name);
    const Attribute* y = b.find(name);
    ASSERT_NE(y, nullptr);
    EXPECT_EQ(x.kind, y->kind);
    EXPECT_EQ(x.f, y->f);
    EXPECT_EQ(x.i, y->i);
    EXPECT_EQ(x.s, y->s);
    EXPECT_EQ(x.floats, y->floats);
    EXPECT_EQ(x.ints, y->ints);
    EXPECT_EQ(x.strings, y->strings);
    expect_tensors_identical(x.t, y->t);
  }
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/" + name;
}

PlanMetadata test_metadata() {
  PlanMetadata m;
  m.vitrt_version = "9.8.7";
  m.build_options["verbose"] = "true";
  m.build_options["source"] = "model.onnx";
  return m;
}

TEST(PlanTest, RoundTripIsExact) {
  const Graph g = make_test_graph();
  const std::string path = temp_path("round_trip.plan");
  Result<uint64_t> written = write_plan_file(path, g, test_metadata());
  ASSERT_TRUE(written.ok()) << written.status().to_string();

  Result<LoadedPlan> plan = read_plan_file(path);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(plan->format_version, kPlanFormatVersion);
  EXPECT_EQ(plan->file_bytes, *written);
  EXPECT_EQ(plan->metadata.vitrt_version, "9.8.7");
  EXPECT_EQ(plan->metadata.device, "cpu");
  EXPECT_EQ(plan->metadata.precision, "fp32");
  EXPECT_EQ(plan->metadata.build_options, test_metadata().build_options);

  const Graph& r = plan->graph;
  EXPECT_EQ(r.name, g.name);
  EXPECT_EQ(r.producer_name, g.producer_name);
  EXPECT_EQ(r.producer_version, g.producer_version);
  EXPECT_EQ(r.opset_imports, g.opset_imports);
  EXPECT_EQ(r.inputs, g.inputs);
  EXPECT_EQ(r.outputs, g.outputs);
  ASSERT_EQ(r.values.size(), g.values.size());
  for (size_t i = 0; i < g.values.size(); ++i) {
    SCOPED_TRACE(g.values[i].name);
    const Value& a = g.values[i];
    const Value& b = r.values[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.dtype, b.dtype);
    EXPECT_EQ(a.has_shape, b.has_shape);
    EXPECT_EQ(a.producer, b.producer);
    expect_dims_equal(a.shape, b.shape);
    EXPECT_EQ(sym_shape_to_string(a.shape), sym_shape_to_string(b.shape));
    ASSERT_EQ(a.sym_value.has_value(), b.sym_value.has_value());
    if (a.sym_value) expect_dims_equal(*a.sym_value, *b.sym_value);
    expect_tensors_identical(a.constant, b.constant);
    if (b.is_constant()) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(b.constant.raw_data()) % 64, 0u)
          << "weights must be 64-byte aligned";
    }
  }
  ASSERT_EQ(r.nodes.size(), g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& a = g.nodes[i];
    const Node& b = r.nodes[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.op_type, b.op_type);
    EXPECT_EQ(a.domain, b.domain);
    EXPECT_EQ(a.inputs, b.inputs);
    EXPECT_EQ(a.outputs, b.outputs);
    expect_attributes_equal(a.attrs, b.attrs);
  }
  std::remove(path.c_str());
}

TEST(PlanTest, WeightsSectionIsPageAlignedAndBorrowedFromTheMapping) {
  const Graph g = make_test_graph();
  Result<std::vector<uint8_t>> bytes = serialize_plan(g, test_metadata());
  ASSERT_TRUE(bytes.ok());
  // Parse from a page-aligned copy: constants must then point into that buffer (no copy).
  const size_t n = bytes->size();
  std::shared_ptr<uint8_t> buffer(
      static_cast<uint8_t*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096)),
      [](uint8_t* p) { std::free(p); });
  std::memcpy(buffer.get(), bytes->data(), n);
  Result<LoadedPlan> plan = parse_plan(buffer, buffer.get(), n, "aligned");
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  const PlanSectionInfo* weights = nullptr;
  for (const PlanSectionInfo& s : plan->sections) {
    if (s.kind == PlanSection::kWeights) weights = &s;
  }
  ASSERT_NE(weights, nullptr);
  EXPECT_EQ(weights->offset % 4096, 0u);
  for (const Value& v : plan->graph.values) {
    if (!v.is_constant() || v.constant.nbytes() == 0) continue;
    const auto* p = static_cast<const uint8_t*>(v.constant.raw_data());
    EXPECT_GE(p, buffer.get() + weights->offset) << v.name;
    EXPECT_LE(p + v.constant.nbytes(), buffer.get() + weights->offset + weights->size) << v.name;
  }
}

// Recomputes both checksums after a test edits the bytes (to reach the structural checks).
void fix_checksums(std::vector<uint8_t>& b) {
  uint32_t header_bytes;
  std::memcpy(&header_bytes, &b[12], 4);
  const uint32_t body = crc32c(b.data() + header_bytes, b.size() - header_bytes);
  std::memcpy(&b[24], &body, 4);
  std::memset(&b[20], 0, 4);
  const uint32_t header = crc32c(b.data(), header_bytes);
  std::memcpy(&b[20], &header, 4);
}

Result<LoadedPlan> parse_bytes(const std::vector<uint8_t>& b, const std::string& name) {
  auto copy = std::make_shared<std::vector<uint8_t>>(b);
  return parse_plan(copy, copy->data(), copy->size(), name);
}

TEST(PlanTest, EveryTruncationIsACorruptPlanError) {
  Result<std::vector<uint8_t>> bytes = serialize_plan(make_test_graph(), test_metadata());
  ASSERT_TRUE(bytes.ok());
  for (size_t n = 0; n < bytes->size(); n += (n < 200 ? 1 : 61)) {
    std::vector<uint8_t> cut(bytes->begin(), bytes->begin() + n);
    Result<LoadedPlan> plan = parse_bytes(cut, "cut.plan");
    ASSERT_FALSE(plan.ok()) << "accepted a plan cut at " << n;
    EXPECT_EQ(plan.status().code(), StatusCode::kCorruptPlan) << plan.status().to_string();
    EXPECT_NE(plan.status().message().find("cut.plan"), std::string::npos);
  }
}

TEST(PlanTest, FlippedBytesFailTheChecksum) {
  Result<std::vector<uint8_t>> bytes = serialize_plan(make_test_graph(), test_metadata());
  ASSERT_TRUE(bytes.ok());
  for (size_t at = 12; at < bytes->size(); at += 37) {
    std::vector<uint8_t> b = *bytes;
    b[at] ^= 0x5A;
    Result<LoadedPlan> plan = parse_bytes(b, "flipped.plan");
    ASSERT_FALSE(plan.ok()) << "accepted a flip at " << at;
    EXPECT_EQ(plan.status().code(), StatusCode::kCorruptPlan);
  }
  std::vector<uint8_t> b = *bytes;
  b[bytes->size() - 1] ^= 1;  // the last weight byte
  Result<LoadedPlan> plan = parse_bytes(b, "flipped.plan");
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("checksum mismatch"), std::string::npos);
}

// With valid checksums, damaged structure must still be caught by the bounds checks (never a
// crash, never an inconsistent graph).
TEST(PlanTest, DamagedStructureWithValidChecksumsNeverCrashes) {
  Result<std::vector<uint8_t>> bytes = serialize_plan(make_test_graph(), test_metadata());
  ASSERT_TRUE(bytes.ok());
  // The metadata and graph sections (not the zero padding before the weights).
  uint64_t graph_at = 0, graph_size = 0;
  std::memcpy(&graph_at, &(*bytes)[40 + 1 * 24 + 8], 8);
  std::memcpy(&graph_size, &(*bytes)[40 + 1 * 24 + 16], 8);
  const size_t end = graph_at + graph_size;
  int rejected = 0;
  // One damaging value per byte, cycling, keeps this fast (also under the sanitizers).
  const uint8_t damage[] = {0xFF, 0x00, 0x7F};
  for (size_t at = 40; at < end; ++at) {
    std::vector<uint8_t> b = *bytes;
    b[at] = b[at] == damage[at % 3] ? static_cast<uint8_t>(~b[at]) : damage[at % 3];
    fix_checksums(b);
    Result<LoadedPlan> plan = parse_bytes(b, "damaged.plan");
    if (!plan.ok()) {
      EXPECT_EQ(plan.status().code(), StatusCode::kCorruptPlan) << plan.status().to_string();
      ++rejected;
    } else {
      EXPECT_TRUE(plan->graph.validate().ok());
    }
  }
  EXPECT_GT(rejected, 100);
}

TEST(PlanTest, WrongMagicAndNewerVersion) {
  Result<std::vector<uint8_t>> bytes = serialize_plan(make_test_graph(), test_metadata());
  ASSERT_TRUE(bytes.ok());
  std::vector<uint8_t> b = *bytes;
  b[0] = 'X';
  Result<LoadedPlan> plan = parse_bytes(b, "magic.plan");
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kCorruptPlan);
  EXPECT_NE(plan.status().message().find("not a vitrt plan"), std::string::npos);

  b = *bytes;
  const uint32_t newer = kPlanFormatVersion + 1;
  std::memcpy(&b[8], &newer, 4);
  plan = parse_bytes(b, "newer.plan");
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kCorruptPlan);
  EXPECT_NE(plan.status().message().find(
                str_cat("plan format version ", newer, " is newer than this vitrt (max ",
                        kPlanFormatVersion, "): rebuild the plan or upgrade vitrt")),
            std::string::npos)
      << plan.status().message();
}

TEST(PlanTest, MissingAndEmptyFiles) {
  Result<LoadedPlan> plan = read_plan_file("/nonexistent/model.plan");
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kNotFound);
  EXPECT_NE(plan.status().message().find("/nonexistent/model.plan"), std::string::npos);

  const std::string empty = temp_path("empty.plan");
  { std::ofstream out(empty); }
  plan = read_plan_file(empty);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kCorruptPlan);
  std::remove(empty.c_str());
}

TEST(PlanTest, PlanForAnotherDeviceIsRefusedByTheCpuEngine) {
  PlanMetadata m = test_metadata();
  m.device = "cuda";
  const std::string path = temp_path("cuda.plan");
  ASSERT_TRUE(write_plan_file(path, make_test_graph(), m).ok());
  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(path);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(engine.status().message().find("built for device 'cuda'"), std::string::npos)
      << engine.status().message();
  std::remove(path.c_str());
}

TEST(PlanTest, GraphAttributesAndStringTensorsAreNotStorable) {
  Graph g = make_test_graph();
  Attribute sub;
  sub.kind = Attribute::Kind::kGraph;
  g.nodes[1].attrs.set("body", sub);
  Result<std::vector<uint8_t>> bytes = serialize_plan(g, test_metadata());
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("'body'"), std::string::npos);
}

}  // namespace
}  // namespace vitrt
