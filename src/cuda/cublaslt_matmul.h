// cuBLASLt plumbing shared by the GEMM ops (ops_linear.cc, ops_quant_linear.cc): status
// conversion, descriptors freed on every path, the candidate algorithms tactic timing tries
// (heuristic and enumerated) and the timing of one, and the text form of an algorithm that the
// timing cache stores.
#pragma once

#include <cublasLt.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cuda/cuda_kernel.h"

namespace vitrt::cuda {

Status blas_status(cublasStatus_t s, const char* what);
#define VITRT_BLAS(expr, what) VITRT_RETURN_IF_ERROR(::vitrt::cuda::blas_status((expr), (what)))

// Descriptors of one matmul: "A", "B" and C/D (one layout for both, unless d_layout is set:
// an FP8 D, whose C has a 16-bit type), freed on every path out.
struct LtObjects {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t layouts[3] = {nullptr, nullptr, nullptr};
  cublasLtMatrixLayout_t d_layout = nullptr;
  cublasLtMatrixLayout_t d() const { return d_layout != nullptr ? d_layout : layouts[2]; }
  cublasLtMatmulPreference_t pref = nullptr;
  LtObjects() = default;
  LtObjects(const LtObjects&) = delete;
  LtObjects& operator=(const LtObjects&) = delete;
  ~LtObjects();
};

// A column-major rows x cols layout with leading dimension ld (strided batches when batch > 1).
Status make_layout(cublasLtMatrixLayout_t* l, cudaDataType_t dt, int64_t rows, int64_t cols,
                   int64_t ld, int64_t batch, int64_t stride);
// Creates lt.pref with the context's workspace limit.
Status make_preference(const LaunchContext& ctx, LtObjects& lt);

// Up to `count` algorithms for the prepared problem, best first by cuBLASLt's heuristic (none
// when cuBLASLt has no kernel for the combination of types, layouts and attributes).
Result<std::vector<cublasLtMatmulAlgo_t>> heuristic_algos(const LaunchContext& ctx,
                                                          const LtObjects& lt, int count);

// The algorithms build-time tactic timing tries for one prepared problem: cuBLASLt's heuristic
// list first, then variants of its first picks (other cluster shapes, tiles and custom options;
// VITRT_TACTIC_VARIANTS=0 leaves them out), then configurations enumerated from its algorithm
// space (cublasLtMatmulAlgoGetIds: every algorithm's tiles, stages, split-K with its reduction
// schemes, CTA swizzling), each checked with cublasLtMatmulAlgoCheck against the workspace. At
// small M the heuristic offers mostly large tiles that leave most SMs idle; the enumerated ones are
// ranked by how well they fill the GPU (cuBLASLt's wave count), so split-K and small tiles come
// first there.
struct TacticCandidates {
  std::vector<cublasLtMatmulAlgo_t> algos;
  size_t heuristic = 0;  // algos[0, heuristic) come from cuBLASLt's heuristic, best first
  size_t variants = 0;   // then algos[heuristic, heuristic + variants): the picks' variants
};
Result<TacticCandidates> tactic_candidates(const LaunchContext& ctx, const LtObjects& lt);

// Where candidate i of c came from, for the verbose build log: "heuristic", "variant" or
// "enumerated".
inline const char* candidate_source(const TacticCandidates& c, size_t i) {
  return i < c.heuristic ? "heuristic" : i < c.heuristic + c.variants ? "variant" : "enumerated";
}

// How many of the timed candidates came from each source, for the build log's summary line
// (the Linear and QuantLinear tactic searches).
struct CandidateCounts {
  int heuristic = 0, variants = 0, enumerated = 0;
  void add(const TacticCandidates& c, size_t i) {
    ++(i < c.heuristic ? heuristic : i < c.heuristic + c.variants ? variants : enumerated);
  }
  // "H from cuBLASLt's heuristic, V variants of its picks, E enumerated"
  std::string text() const {
    return std::to_string(heuristic) + " from cuBLASLt's heuristic, " + std::to_string(variants) +
           " variants of its picks, " + std::to_string(enumerated) + " enumerated";
  }
};

// The activations no cuBLASLt epilogue computes (erf GELU, QuickGELU, SiLU, HardSwish, ReLU6):
// the GEMM ops apply them in a pass after the product (ReLU and tanh GELU run in the epilogue).
inline bool activation_after_epilogue(UnaryOp act) {
  return act == UnaryOp::kGelu || act == UnaryOp::kQuickGelu || act == UnaryOp::kSilu ||
         act == UnaryOp::kHardSwish || act == UnaryOp::kRelu6;
}

// Part of the GEMM ops' timing-cache keys: entries timed before the enumerated candidates were
// chosen from the heuristic's list alone and must not be reused, nor FP8 entries timed before
// the enumeration tried every AUTO stage kind (it enumerated none for FP8 then), nor entries
// timed without the variants of the heuristic's picks.
inline constexpr const char* kTacticSearchTag =
    "|search:heuristic+variants+enumerated-all-auto-stages";

// What an algorithm is configured as (cublasLtMatmulAlgoConfigGetAttribute), for the verbose
// build log and the tests.
struct AlgoConfig {
  int32_t id = -1;
  uint32_t tile = 0, stages = 0;
  int32_t split_k = 1;
  uint32_t reduction = 0, swizzle = 0, custom = 0;
  uint16_t cluster = 0;
};
AlgoConfig algo_config(const cublasLtMatmulAlgo_t& a);
std::string algo_config_text(const AlgoConfig& c);

// Chooses the fastest of one problem's candidates on a stream: each entered candidate is timed
// with a few launches, then the fastest few again with many more, each time as the replay of a
// CUDA graph of those launches (as a plan runs). At batch 1 good candidates of a 5-8 us GEMM
// can be less than a microsecond apart, near the noise of a few launches, and the fastest of
// ~100 noisy times would then be mostly the luckiest.
class TacticRace {
 public:
  TacticRace() = default;
  TacticRace(const TacticRace&) = delete;
  TacticRace& operator=(const TacticRace&) = delete;
  ~TacticRace();
  Status init(cudaStream_t stream);
  // Times `launch` (one run of a candidate, kept for the final round: what it refers to must
  // outlive finish()). Returns its entry number, or -1 when a launch failed (the CUDA error is
  // cleared: a candidate that does not run is left out, not fatal); *ms gets its time.
  int enter(std::function<Status()> launch, float* ms);
  // Times the fastest entries again, and `reference` (an entry number, or -1) with them, and
  // returns the fastest's entry number (-1 without entries) with its time in *ms, the
  // reference's final time in *reference_ms (when not null), and the final round's times as lines
  // for the verbose log appended to *log.
  int finish(int reference, float* ms, float* reference_ms, std::string* log);

 private:
  // Milliseconds per launch, or a negative value when the candidate does not run: timed as
  // a graph replay where capturing works, else eagerly.
  float time(const std::function<Status()>& launch, int launches);
  float time_graph(const std::function<Status()>& launch, int launches);
  float time_eager(const std::function<Status()>& launch, int launches);
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ev_[2] = {nullptr, nullptr};
  std::vector<std::function<Status()>> launches_;
  std::vector<float> first_ms_;
};

// The candidates vitrt.Linear's tactic timing tries for an [m, k] x [k, n] problem in `type`
// with the bias (a device pointer, or nullptr) and activation `act` in mode 0 (cuBLASLt's
// epilogue); defined in ops_linear.cc, for the tests of the enumerated candidates.
Result<TacticCandidates> linear_tactic_candidates(const LaunchContext& ctx, DType type, int64_t m,
                                                  int64_t n, int64_t k, const void* bias,
                                                  UnaryOp act);

// Whether `algo` runs the prepared problem within the workspace (a plan's stored algorithm
// may not, after a cuBLASLt upgrade or on another GPU of the same architecture).
bool algo_fits(const LaunchContext& ctx, const LtObjects& lt, const cublasLtMatmulAlgo_t& algo);

// The algorithm's opaque words as 128 hex digits, and back.
std::string algo_hex(const cublasLtMatmulAlgo_t& a);
bool parse_algo_hex(const std::string& hex, cublasLtMatmulAlgo_t* a);

// The tactic search's bookkeeping, shared by Linear and QuantLinear (each keeps its own cache
// key, which modes it accepts and how it checks that a cached algorithm still fits).
//
// Records t as `node`'s tactic for m rows (the first one per m) and returns it.
GemmTactic record_tactic(TacticTuner& tu, NodeId node, int64_t m, GemmTactic t);
// The timing cache's entry for `problem` as mode and algorithm, or nullopt when it has none or
// cannot be read.
std::optional<GemmTactic> cached_tactic(const TacticTuner& tu, const std::string& problem);
// A cached tactic the caller found still valid: counted, kept for the rest of the build, and
// logged (verbose) as "tactics: SHAPE_TEXT: from the timing cache".
void accept_cached_tactic(TacticTuner& tu, const std::string& problem, const GemmTactic& t,
                          const std::string& shape_text);
// A timed winner: counted, kept for the rest of the build and written to the timing cache.
Status store_timed_tactic(TacticTuner& tu, const std::string& problem, const GemmTactic& best,
                          float best_ms);

}  // namespace vitrt::cuda
