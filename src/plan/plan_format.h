// The plan file: what the builder writes and the runtime loads.
//
// Layout (all integers little-endian):
//
//   offset 0   magic "VITRTPLN"                      8 bytes
//          8   format version                        u32
//         12   header size in bytes                  u32  (fixed part + section table)
//         16   section count                         u32
//         20   header checksum (CRC-32C)             u32  over the header with this field zero
//         24   body checksum (CRC-32C)               u32  over every byte after the header
//         28   reserved (0)                          u32
//         32   file size in bytes                    u64
//         40   section table: per section {kind u32, reserved u32, offset u64, size u64}
//
//   sections: metadata, graph (values, nodes, graph inputs/outputs), weights. The weights
//   section starts on a 4096-byte boundary and every tensor in it on a 64-byte boundary, so a
//   memory-mapped plan hands out its weights as borrowed Tensors without a copy.
//
// The version is checked before the checksums so that a plan from a newer vitrt says so
// instead of "checksum mismatch". A format change that old readers cannot read bumps
// kPlanFormatVersion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "vitrt/status.h"

namespace vitrt {

inline constexpr char kPlanMagic[8] = {'V', 'I', 'T', 'R', 'T', 'P', 'L', 'N'};
// 2: dims may be sums of monomials (version 1 plans read unchanged).
// 3: vitrt.ChannelsLastConv's weight is [D, KH, KW, C/group] (version 2 plans, where it was
//    depthwise only and [D, 1, KH, KW], are reshaped on reading).
inline constexpr uint32_t kPlanFormatVersion = 3;
inline constexpr size_t kPlanFixedHeaderBytes = 40;
inline constexpr size_t kPlanSectionEntryBytes = 24;
inline constexpr size_t kPlanWeightsAlignment = 4096;  // the weights section (mmap pages)
inline constexpr size_t kPlanTensorAlignment = 64;     // each tensor (Tensor storage alignment)

enum class PlanSection : uint32_t {
  kMetadata = 1,
  kGraph = 2,
  kWeights = 3,
};

// What a plan records about how and for what it was built.
struct PlanMetadata {
  std::string vitrt_version;
  std::string device = "cpu";  // the device kind the plan was built for
  std::string precision = "fp32";
  // Free-form build options ("verbose" -> "false", ...) shown by `vitrt inspect`.
  std::map<std::string, std::string> build_options;
};

struct PlanSectionInfo {
  PlanSection kind;
  uint64_t offset = 0;
  uint64_t size = 0;
};

// A loaded plan. The graph's constants borrow from `storage` (the mmap) when read from a file.
struct LoadedPlan {
  uint32_t format_version = 0;
  uint64_t file_bytes = 0;
  std::vector<PlanSectionInfo> sections;
  PlanMetadata metadata;
  Graph graph;  // name, producer and opsets restored; shapes as the builder inferred them
  // The read-only file mapping of read_plan_file (null otherwise): the runtime may drop its
  // pages from memory, which the kernel re-reads from the file when touched again.
  const uint8_t* mapped_data = nullptr;
  size_t mapped_bytes = 0;
};

// Serialises `graph` (its constants go to the weights section). Fails on values that cannot be
// stored (string tensors, graph attributes).
Result<std::vector<uint8_t>> serialize_plan(const Graph& graph, const PlanMetadata& metadata);
// Writes the plan (through a temporary file renamed into place); returns its size in bytes.
Result<uint64_t> write_plan_file(const std::string& path, const Graph& graph,
                                 const PlanMetadata& metadata);

// Parses plan bytes. Every field is bounds-checked; anything wrong is a kCorruptPlan error
// that names `source` and what is wrong. Constants borrow from `data`, kept alive by `owner`.
// `private_file_mapping`: `data` is a read-only MAP_PRIVATE file mapping, whose pages may be
// dropped after the checksum reads them (they read back from the file); never for heap memory.
Result<LoadedPlan> parse_plan(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                              const std::string& source, bool private_file_mapping = false);
// Memory-maps `path` and parses it.
Result<LoadedPlan> read_plan_file(const std::string& path);

// True when the file starts with the plan magic (to tell plans from ONNX models).
bool file_has_plan_magic(const std::string& path);

}  // namespace vitrt
