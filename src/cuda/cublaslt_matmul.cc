// cuBLASLt plumbing shared by the GEMM ops (see cublaslt_matmul.h).
#include "cuda/cublaslt_matmul.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <tuple>

#include "runtime/timing_cache.h"

namespace vitrt::cuda {

Status blas_status(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::ok_status();
  return internal_error("cuBLASLt ", what, ": ", cublasLtGetStatusName(s), " (",
                        cublasLtGetStatusString(s), ")");
}

LtObjects::~LtObjects() {
  for (cublasLtMatrixLayout_t l : layouts) {
    if (l != nullptr) cublasLtMatrixLayoutDestroy(l);
  }
  if (d_layout != nullptr) cublasLtMatrixLayoutDestroy(d_layout);
  if (pref != nullptr) cublasLtMatmulPreferenceDestroy(pref);
  if (op != nullptr) cublasLtMatmulDescDestroy(op);
}

Status make_layout(cublasLtMatrixLayout_t* l, cudaDataType_t dt, int64_t rows, int64_t cols,
                   int64_t ld, int64_t batch, int64_t stride) {
  VITRT_BLAS(cublasLtMatrixLayoutCreate(l, dt, rows, cols, ld), "layout");
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    VITRT_BLAS(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                sizeof(count)),
               "batch count");
    VITRT_BLAS(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                &stride, sizeof(stride)),
               "batch stride");
  }
  return Status::ok_status();
}

Status make_preference(const LaunchContext& ctx, LtObjects& lt) {
  VITRT_BLAS(cublasLtMatmulPreferenceCreate(&lt.pref), "preference");
  VITRT_BLAS(cublasLtMatmulPreferenceSetAttribute(lt.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                  &ctx.workspace_bytes, sizeof(size_t)),
             "workspace preference");
  return Status::ok_status();
}

Result<std::vector<cublasLtMatmulAlgo_t>> heuristic_algos(const LaunchContext& ctx,
                                                          const LtObjects& lt, int count) {
  std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(count));
  int found = 0;
  VITRT_BLAS(
      cublasLtMatmulAlgoGetHeuristic(ctx.blas, lt.op, lt.layouts[0], lt.layouts[1], lt.layouts[2],
                                     lt.d(), lt.pref, count, results.data(), &found),
      "heuristic");
  std::vector<cublasLtMatmulAlgo_t> algos;
  for (int i = 0; i < found; ++i) {
    if (results[i].state == CUBLAS_STATUS_SUCCESS) algos.push_back(results[i].algo);
  }
  return algos;
}

namespace {

// The heuristic's list, then enumerated configurations up to kMaxCandidates per prepared
// problem. Timing one small-GEMM candidate (an eager launch, a captured graph of a few, two
// replays) should take well under a millisecond, so a ViT build with its handful of distinct
// problems and modes stays within seconds (the issue's limit for ViT-B/16 is 60 s).
constexpr int kHeuristicCandidates = 16;
constexpr size_t kMaxCandidates = 96;
// Configurations beyond this many waves are the small-tile regime of a large problem, where
// the heuristic's large tiles are the right kind already.
constexpr float kMaxWaves = 4.0f;
// Split-K factors tried when one split leaves SMs idle (less than a wave).
constexpr int32_t kSplits[] = {2, 3, 4, 8};
// Stage ids tried per (algorithm, tile) until one passes the check, beyond the AUTO kinds (all
// of which are tried): the first passing one is kept, so the count stays one per tile and split.
constexpr size_t kStageTries = 4;
// Variants of the heuristic's own picks (the same algorithm with another thread-block cluster
// shape, tile or custom option), checked like the enumerated ones and timed after the heuristic's
// list. They are what a large-batch GEMM gets beyond the heuristic: the enumeration skips
// configurations of more than kMaxWaves waves, and lists no tiles at all for Hopper's FP8
// algorithm. A cluster of 2 or 4 CTAs shares one operand's loads through TMA multicast (less L2
// traffic); the heuristic's pick of cluster and tile is a model's guess, which timing may beat.
constexpr size_t kMaxVariants = 32;
// The heuristic's picks whose variants are tried, best first.
constexpr size_t kVariedPicks = 3;
constexpr uint16_t kClusterShapes[] = {CUBLASLT_CLUSTER_SHAPE_1x1x1, CUBLASLT_CLUSTER_SHAPE_2x1x1,
                                       CUBLASLT_CLUSTER_SHAPE_1x2x1, CUBLASLT_CLUSTER_SHAPE_2x2x1,
                                       CUBLASLT_CLUSTER_SHAPE_4x1x1, CUBLASLT_CLUSTER_SHAPE_1x4x1};
constexpr uint32_t kVariantTiles[] = {CUBLASLT_MATMUL_TILE_128x256, CUBLASLT_MATMUL_TILE_256x128,
                                      CUBLASLT_MATMUL_TILE_128x128, CUBLASLT_MATMUL_TILE_128x192,
                                      CUBLASLT_MATMUL_TILE_192x128, CUBLASLT_MATMUL_TILE_64x256};

template <typename T>
std::vector<T> cap_list(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoCapAttributes_t attr) {
  size_t bytes = 0;
  if (cublasLtMatmulAlgoCapGetAttribute(&algo, attr, nullptr, 0, &bytes) != CUBLAS_STATUS_SUCCESS ||
      bytes < sizeof(T)) {
    return {};
  }
  std::vector<T> v(bytes / sizeof(T));
  if (cublasLtMatmulAlgoCapGetAttribute(&algo, attr, v.data(), v.size() * sizeof(T), &bytes) !=
      CUBLAS_STATUS_SUCCESS) {
    return {};
  }
  v.resize(bytes / sizeof(T));
  return v;
}

template <typename T>
T cap_value(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoCapAttributes_t attr, T fallback) {
  T v{};
  size_t written = 0;
  return cublasLtMatmulAlgoCapGetAttribute(&algo, attr, &v, sizeof(v), &written) ==
                 CUBLAS_STATUS_SUCCESS
             ? v
             : fallback;
}

template <typename T>
T config_value(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attr,
               T fallback) {
  T v{};
  size_t written = 0;
  return cublasLtMatmulAlgoConfigGetAttribute(&algo, attr, &v, sizeof(v), &written) ==
                 CUBLAS_STATUS_SUCCESS
             ? v
             : fallback;
}

template <typename T>
bool set_config(cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attr, T v) {
  return cublasLtMatmulAlgoConfigSetAttribute(&algo, attr, &v, sizeof(v)) == CUBLAS_STATUS_SUCCESS;
}

using ConfigKey =
    std::tuple<int32_t, uint32_t, uint32_t, int32_t, uint32_t, uint32_t, uint32_t, uint16_t>;
ConfigKey key_of(const AlgoConfig& c) {
  return {c.id, c.tile, c.stages, c.split_k, c.reduction, c.swizzle, c.custom, c.cluster};
}

// The problem's types, read back from its descriptors so that every GEMM op's own preparation
// stays the one place that decides them.
struct ProblemTypes {
  cublasComputeType_t compute;
  cudaDataType_t scale, a, b, c, d;  // d differs from c for an FP8 D
};

Result<ProblemTypes> problem_types(const LtObjects& lt) {
  int32_t compute = 0, scale = 0;
  uint32_t a = 0, b = 0, c = 0, d = 0;
  size_t w = 0;
  VITRT_BLAS(cublasLtMatmulDescGetAttribute(lt.op, CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, &compute,
                                            sizeof(compute), &w),
             "compute type");
  VITRT_BLAS(cublasLtMatmulDescGetAttribute(lt.op, CUBLASLT_MATMUL_DESC_SCALE_TYPE, &scale,
                                            sizeof(scale), &w),
             "scale type");
  VITRT_BLAS(cublasLtMatrixLayoutGetAttribute(lt.layouts[0], CUBLASLT_MATRIX_LAYOUT_TYPE, &a,
                                              sizeof(a), &w),
             "A type");
  VITRT_BLAS(cublasLtMatrixLayoutGetAttribute(lt.layouts[1], CUBLASLT_MATRIX_LAYOUT_TYPE, &b,
                                              sizeof(b), &w),
             "B type");
  VITRT_BLAS(cublasLtMatrixLayoutGetAttribute(lt.layouts[2], CUBLASLT_MATRIX_LAYOUT_TYPE, &c,
                                              sizeof(c), &w),
             "C type");
  VITRT_BLAS(
      cublasLtMatrixLayoutGetAttribute(lt.d(), CUBLASLT_MATRIX_LAYOUT_TYPE, &d, sizeof(d), &w),
      "D type");
  return ProblemTypes{static_cast<cublasComputeType_t>(compute),
                      static_cast<cudaDataType_t>(scale),
                      static_cast<cudaDataType_t>(a),
                      static_cast<cudaDataType_t>(b),
                      static_cast<cudaDataType_t>(c),
                      static_cast<cudaDataType_t>(d)};
}

// cuBLASLt's wave count of `algo` on the prepared problem, or a negative value when the
// configuration does not run it within the workspace.
float checked_waves(const LaunchContext& ctx, const LtObjects& lt, const cublasLtMatmulAlgo_t& a) {
  cublasLtMatmulHeuristicResult_t r{};
  if (cublasLtMatmulAlgoCheck(ctx.blas, lt.op, lt.layouts[0], lt.layouts[1], lt.layouts[2], lt.d(),
                              &a, &r) != CUBLAS_STATUS_SUCCESS ||
      r.workspaceSize > ctx.workspace_bytes) {
    return -1.0f;
  }
  return r.wavesCount;
}

// How busy the SMs are over the launch: the last wave's share counts against a configuration
// (1.3 waves keep them 65% busy), so does a single partial wave.
float fill(float waves) {
  return waves <= 1.0f ? waves : waves / std::ceil(waves);
}

struct Enumerated {
  cublasLtMatmulAlgo_t algo;
  AlgoConfig config;
  float waves;
};

// Best first within one algorithm: the fuller GPU, then fewer splits (less reduction to pay),
// then fp32 partial sums before in-place ones, then fewer waves (larger tiles).
bool better(const Enumerated& x, const Enumerated& y) {
  const float fx = fill(x.waves), fy = fill(y.waves);
  if (fx != fy) return fx > fy;
  if (x.config.split_k != y.config.split_k) return x.config.split_k < y.config.split_k;
  if (x.config.reduction != y.config.reduction) return x.config.reduction > y.config.reduction;
  return x.waves < y.waves;
}

// Stage ids in the order tried: every AUTO kind (cuBLASLt sizes the pipeline for the tile),
// then at most kStageTries of the others from the end of the list (deeper pipelines). An AUTO
// kind fixes the K width of a stage: Hopper's fp16 / bf16 kernels take 64xAUTO (the heuristic's
// picks on the H200 carry stage id 35), its FP8 ones 128xAUTO (36). FP8 problems still get no
// enumerated candidate: on the H200 (cuBLASLt 13.1) the FP8 algorithm the heuristic uses (66)
// reports no tile ids, and the listed tiles of the other FP8 ids fail the check.
std::vector<uint32_t> stage_order(const std::vector<uint32_t>& listed) {
  std::vector<uint32_t> order;
  for (uint32_t s : listed) {
    if (s >= static_cast<uint32_t>(CUBLASLT_MATMUL_STAGES_8xAUTO) &&
        s < static_cast<uint32_t>(CUBLASLT_MATMUL_STAGES_END)) {
      order.push_back(s);
    }
  }
  size_t others = 0;
  for (auto it = listed.rbegin(); it != listed.rend() && others < kStageTries; ++it) {
    if (std::find(order.begin(), order.end(), *it) == order.end()) {
      order.push_back(*it);
      ++others;
    }
  }
  if (order.empty()) order.push_back(CUBLASLT_MATMUL_STAGES_UNDEFINED);
  return order;
}

// Every checked configuration of algorithm `id` on the prepared problem.
std::vector<Enumerated> enumerate_algorithm(const LaunchContext& ctx, const LtObjects& lt,
                                            const ProblemTypes& t, int id) {
  std::vector<Enumerated> out;
  cublasLtMatmulAlgo_t base{};
  if (cublasLtMatmulAlgoInit(ctx.blas, t.compute, t.scale, t.a, t.b, t.c, t.d, id, &base) !=
      CUBLAS_STATUS_SUCCESS) {
    return out;
  }
  std::vector<uint32_t> tiles = cap_list<uint32_t>(base, CUBLASLT_ALGO_CAP_TILE_IDS);
  if (tiles.empty()) tiles.push_back(CUBLASLT_MATMUL_TILE_UNDEFINED);
  const std::vector<uint32_t> stages =
      stage_order(cap_list<uint32_t>(base, CUBLASLT_ALGO_CAP_STAGES_IDS));
  const bool split_ok = cap_value<int32_t>(base, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT, 0) != 0;
  const uint32_t reductions = cap_value<uint32_t>(base, CUBLASLT_ALGO_CAP_REDUCTION_SCHEME_MASK, 0);
  const bool swizzle_ok =
      cap_value<uint32_t>(base, CUBLASLT_ALGO_CAP_CTA_SWIZZLING_SUPPORT, 0) == 1;
  // Split-K sums in fp32 in the workspace where the algorithm can (no rounding of partial sums
  // to fp16), and in place otherwise; the output-type scheme only when it is the sole one.
  std::vector<uint32_t> schemes;
  for (uint32_t s : {CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE, CUBLASLT_REDUCTION_SCHEME_INPLACE}) {
    if ((reductions & s) != 0) schemes.push_back(s);
  }
  if (schemes.empty() && (reductions & CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE) != 0) {
    schemes.push_back(CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE);
  }
  auto add = [&](const cublasLtMatmulAlgo_t& a) {
    const float waves = checked_waves(ctx, lt, a);
    if (waves >= 0.0f && waves <= kMaxWaves) out.push_back({a, algo_config(a), waves});
  };
  for (uint32_t tile : tiles) {
    cublasLtMatmulAlgo_t one = base;
    if (!set_config(one, CUBLASLT_ALGO_CONFIG_TILE_ID, tile)) continue;
    float waves = -1.0f;
    for (uint32_t stage : stages) {
      cublasLtMatmulAlgo_t a = one;
      if (!set_config(a, CUBLASLT_ALGO_CONFIG_STAGES_ID, stage)) continue;
      waves = checked_waves(ctx, lt, a);
      if (waves < 0.0f) continue;
      one = a;
      break;
    }
    if (waves < 0.0f) continue;
    if (waves <= kMaxWaves) out.push_back({one, algo_config(one), waves});
    // Swizzling changes which tiles run together: it matters for L2 reuse once there are
    // several waves, not below one.
    if (swizzle_ok && waves >= 1.0f && waves <= kMaxWaves) {
      cublasLtMatmulAlgo_t a = one;
      if (set_config(a, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, uint32_t{1})) add(a);
    }
    if (!split_ok || waves >= 1.0f) continue;
    for (int32_t split : kSplits) {
      for (uint32_t scheme : schemes) {
        cublasLtMatmulAlgo_t a = one;
        if (set_config(a, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, split) &&
            set_config(a, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, scheme)) {
          add(a);
        }
      }
    }
  }
  std::sort(out.begin(), out.end(), better);
  return out;
}

// Up to kMaxVariants checked variants of the heuristic's first kVariedPicks picks not already
// in `seen` (which they join): each pick's other cluster shapes first, then its custom options,
// then other tiles with each cluster shape.
std::vector<cublasLtMatmulAlgo_t> heuristic_variants(const LaunchContext& ctx, const LtObjects& lt,
                                                     const std::vector<cublasLtMatmulAlgo_t>& picks,
                                                     std::set<ConfigKey>& seen) {
  std::vector<cublasLtMatmulAlgo_t> out;
  auto add = [&](const cublasLtMatmulAlgo_t& a) {
    if (out.size() >= kMaxVariants) return;
    const ConfigKey key = key_of(algo_config(a));
    if (seen.count(key) != 0 || checked_waves(ctx, lt, a) < 0.0f) return;
    seen.insert(key);
    out.push_back(a);
  };
  auto with_clusters = [&](const cublasLtMatmulAlgo_t& a) {
    for (uint16_t cluster : kClusterShapes) {
      cublasLtMatmulAlgo_t v = a;
      if (set_config(v, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, cluster)) add(v);
    }
  };
  for (size_t i = 0; i < picks.size() && i < kVariedPicks; ++i) {
    const cublasLtMatmulAlgo_t& pick = picks[i];
    with_clusters(pick);
    const uint32_t custom_max = cap_value<uint32_t>(pick, CUBLASLT_ALGO_CAP_CUSTOM_OPTION_MAX, 0);
    for (uint32_t c = 0; c <= custom_max && c < 8; ++c) {
      cublasLtMatmulAlgo_t v = pick;
      if (set_config(v, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, c)) add(v);
    }
    for (uint32_t tile : kVariantTiles) {
      cublasLtMatmulAlgo_t v = pick;
      if (set_config(v, CUBLASLT_ALGO_CONFIG_TILE_ID, tile)) with_clusters(v);
    }
  }
  return out;
}

// Whether the variants are tried: VITRT_TACTIC_VARIANTS=0 leaves them out (to measure what they
// bring; a timing cache written either way keeps its choices).
bool variants_enabled() {
  const char* v = std::getenv("VITRT_TACTIC_VARIANTS");
  return v == nullptr || std::string(v) != "0";
}

}  // namespace

AlgoConfig algo_config(const cublasLtMatmulAlgo_t& a) {
  AlgoConfig c;
  c.id = config_value<int32_t>(a, CUBLASLT_ALGO_CONFIG_ID, -1);
  c.tile = config_value<uint32_t>(a, CUBLASLT_ALGO_CONFIG_TILE_ID, 0);
  c.stages = config_value<uint32_t>(a, CUBLASLT_ALGO_CONFIG_STAGES_ID, 0);
  c.split_k = config_value<int32_t>(a, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, 1);
  c.reduction = config_value<uint32_t>(a, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, 0);
  c.swizzle = config_value<uint32_t>(a, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, 0);
  c.custom = config_value<uint32_t>(a, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, 0);
  c.cluster = config_value<uint16_t>(a, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, 0);
  return c;
}

std::string algo_config_text(const AlgoConfig& c) {
  return str_cat("algo ", c.id, " tile ", c.tile, " stages ", c.stages,
                 c.split_k > 1 ? str_cat(" split-K ", c.split_k, " reduction ", c.reduction) : "",
                 c.swizzle != 0 ? " swizzled" : "",
                 c.custom != 0 ? str_cat(" custom ", c.custom) : "",
                 c.cluster != 0 ? str_cat(" cluster ", c.cluster) : "");
}

Result<TacticCandidates> tactic_candidates(const LaunchContext& ctx, const LtObjects& lt) {
  TacticCandidates cands;
  VITRT_ASSIGN_OR_RETURN(cands.algos, heuristic_algos(ctx, lt, kHeuristicCandidates));
  cands.heuristic = cands.algos.size();
  std::set<ConfigKey> seen;
  std::vector<int32_t> priority;  // algorithm ids the heuristic chose, in its order
  for (const cublasLtMatmulAlgo_t& a : cands.algos) {
    const AlgoConfig c = algo_config(a);
    seen.insert(key_of(c));
    if (std::find(priority.begin(), priority.end(), c.id) == priority.end()) {
      priority.push_back(c.id);
    }
  }
  const size_t heuristic_families = priority.size();
  if (variants_enabled()) {
    const std::vector<cublasLtMatmulAlgo_t> picks = cands.algos;
    for (const cublasLtMatmulAlgo_t& v : heuristic_variants(ctx, lt, picks, seen)) {
      cands.algos.push_back(v);
    }
  }
  cands.variants = cands.algos.size() - cands.heuristic;
  // The enumeration only adds to the heuristic's list: a cuBLASLt that cannot list algorithms
  // for these types leaves that list as it is.
  const Result<ProblemTypes> types = problem_types(lt);
  if (!types.ok()) return cands;
  const ProblemTypes& t = *types;
  int count = 0;
  std::vector<int> ids(1024);
  if (cublasLtMatmulAlgoGetIds(ctx.blas, t.compute, t.scale, t.a, t.b, t.c, t.d,
                               static_cast<int>(ids.size()), ids.data(),
                               &count) != CUBLAS_STATUS_SUCCESS) {
    return cands;
  }
  ids.resize(static_cast<size_t>(std::clamp(count, 0, static_cast<int>(ids.size()))));
  std::map<int32_t, std::vector<Enumerated>> by_id;
  for (int id : ids) {
    std::vector<Enumerated> e = enumerate_algorithm(ctx, lt, t, id);
    if (e.empty()) continue;
    if (std::find(priority.begin(), priority.end(), id) == priority.end()) priority.push_back(id);
    by_id[id] = std::move(e);
  }
  // Round robin over the algorithms, each one's best configurations first, so that no family
  // fills the budget alone; the families the heuristic chose get the first half of it.
  std::map<int32_t, size_t> next;
  auto take_round = [&](size_t family_count, size_t limit) {
    bool took = false;
    for (size_t f = 0; f < family_count && cands.algos.size() < limit; ++f) {
      const auto it = by_id.find(priority[f]);
      if (it == by_id.end()) continue;
      size_t& i = next[priority[f]];
      while (i < it->second.size() && seen.count(key_of(it->second[i].config)) != 0) ++i;
      if (i == it->second.size()) continue;
      seen.insert(key_of(it->second[i].config));
      cands.algos.push_back(it->second[i].algo);
      ++i;
      took = true;
    }
    return took;
  };
  // The variants do not count against the enumeration's budget.
  const size_t limit = kMaxCandidates + cands.variants;
  const size_t base = cands.heuristic + cands.variants;
  const size_t half = base + (limit - base) / 2;
  while (cands.algos.size() < half && take_round(heuristic_families, half)) {
  }
  while (cands.algos.size() < limit && take_round(priority.size(), limit)) {
  }
  return cands;
}

TacticRace::~TacticRace() {
  for (cudaEvent_t e : ev_) {
    if (e != nullptr) cudaEventDestroy(e);
  }
}

Status TacticRace::init(cudaStream_t stream) {
  stream_ = stream;
  for (cudaEvent_t& e : ev_) {
    if (e == nullptr) VITRT_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e), "tactic timing event");
  }
  return Status::ok_status();
}

float TacticRace::time(const std::function<Status()>& launch, int launches) {
  // One eager launch first: it loads the kernel (lazy module loading would otherwise happen
  // inside the capture) and leaves out a candidate that does not run.
  if (!launch().ok() || cudaStreamSynchronize(stream_) != cudaSuccess) {
    cudaGetLastError();
    return -1.0f;
  }
  const float graphed = time_graph(launch, launches);
  return graphed >= 0.0f ? graphed : time_eager(launch, launches);
}

float TacticRace::time_graph(const std::function<Status()>& launch, int launches) {
  // The launches are captured into one CUDA graph and timed as its replay, as a plan runs: one
  // after another from the CPU they are about 6-7 us apart (the launch rate), which would
  // hide every difference among batch-1 GEMMs of 5-8 us. The first replay warms up (the
  // graph's upload, the operands into L2); the second is timed.
  if (cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    cudaGetLastError();
    return -1.0f;
  }
  bool ok = true;
  for (int r = 0; r < launches && ok; ++r) ok = launch().ok();
  cudaGraph_t graph = nullptr;
  ok = cudaStreamEndCapture(stream_, &graph) == cudaSuccess && ok && graph != nullptr;
  cudaGraphExec_t exec = nullptr;
  ok = ok && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
  ok = ok && cudaGraphLaunch(exec, stream_) == cudaSuccess &&
       cudaEventRecord(ev_[0], stream_) == cudaSuccess &&
       cudaGraphLaunch(exec, stream_) == cudaSuccess &&
       cudaEventRecord(ev_[1], stream_) == cudaSuccess;
  float ms = 0.0f;
  ok = ok && cudaEventSynchronize(ev_[1]) == cudaSuccess &&
       cudaEventElapsedTime(&ms, ev_[0], ev_[1]) == cudaSuccess;
  if (exec != nullptr) cudaGraphExecDestroy(exec);
  if (graph != nullptr) cudaGraphDestroy(graph);
  if (!ok) {
    cudaGetLastError();
    return -1.0f;
  }
  return ms / static_cast<float>(launches);
}

float TacticRace::time_eager(const std::function<Status()>& launch, int launches) {
  bool ok = cudaEventRecord(ev_[0], stream_) == cudaSuccess;
  for (int r = 0; r < launches && ok; ++r) ok = launch().ok();
  float ms = 0.0f;
  ok = ok && cudaEventRecord(ev_[1], stream_) == cudaSuccess &&
       cudaEventSynchronize(ev_[1]) == cudaSuccess &&
       cudaEventElapsedTime(&ms, ev_[0], ev_[1]) == cudaSuccess;
  if (!ok) {
    cudaGetLastError();
    return -1.0f;
  }
  return ms / static_cast<float>(launches);
}

int TacticRace::enter(std::function<Status()> launch, float* ms) {
  constexpr int kFirstLaunches = 5;
  *ms = time(launch, kFirstLaunches);
  if (*ms < 0.0f) return -1;
  launches_.push_back(std::move(launch));
  first_ms_.push_back(*ms);
  return static_cast<int>(launches_.size()) - 1;
}

int TacticRace::finish(int reference, float* ms, float* reference_ms, std::string* log) {
  // The final round: the kFinalists fastest, each for about kFinalBudgetMs of launches (at
  // least kMinFinalLaunches, at most kMaxFinalLaunches), so a large GEMM's final round costs
  // no more than a small one's.
  constexpr size_t kFinalists = 4;
  constexpr float kFinalBudgetMs = 2.0f;
  constexpr int kMinFinalLaunches = 5, kMaxFinalLaunches = 100;
  std::vector<int> order(first_ms_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return first_ms_[a] < first_ms_[b]; });
  if (order.size() > kFinalists) order.resize(kFinalists);
  if (reference >= 0 && reference < static_cast<int>(first_ms_.size()) &&
      std::find(order.begin(), order.end(), reference) == order.end()) {
    order.push_back(reference);
  }
  int best = -1;
  *ms = -1.0f;
  if (reference_ms != nullptr) *reference_ms = -1.0f;
  for (int e : order) {
    const int launches =
        std::clamp(static_cast<int>(kFinalBudgetMs / std::max(first_ms_[e], 1e-4f)),
                   kMinFinalLaunches, kMaxFinalLaunches);
    const float t = time(launches_[e], launches);
    if (t < 0.0f) continue;
    *log += str_cat("\n  final round: #", e, " ", t, " ms over ", launches, " launches");
    if (e == reference && reference_ms != nullptr) *reference_ms = t;
    if (best < 0 || t < *ms) {
      best = e;
      *ms = t;
    }
  }
  return best;
}

bool algo_fits(const LaunchContext& ctx, const LtObjects& lt, const cublasLtMatmulAlgo_t& algo) {
  cublasLtMatmulHeuristicResult_t check{};
  return cublasLtMatmulAlgoCheck(ctx.blas, lt.op, lt.layouts[0], lt.layouts[1], lt.layouts[2],
                                 lt.d(), &algo, &check) == CUBLAS_STATUS_SUCCESS &&
         check.workspaceSize <= ctx.workspace_bytes;
}

std::string algo_hex(const cublasLtMatmulAlgo_t& a) {
  std::string s;
  char buf[24];
  for (uint64_t w : a.data) {
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(w));
    s += buf;
  }
  return s;
}

bool parse_algo_hex(const std::string& hex, cublasLtMatmulAlgo_t* a) {
  if (hex.size() != 128) return false;
  for (int i = 0; i < 8; ++i) {
    const std::string word = hex.substr(static_cast<size_t>(i) * 16, 16);
    if (word.find_first_not_of("0123456789abcdef") != std::string::npos) return false;
    a->data[i] = std::stoull(word, nullptr, 16);
  }
  return true;
}

GemmTactic record_tactic(TacticTuner& tu, NodeId node, int64_t m, GemmTactic t) {
  t.m = m;
  std::vector<GemmTactic>& mine = tu.by_node[node];
  bool have = false;
  for (const GemmTactic& e : mine) have = have || e.m == t.m;
  if (!have) mine.push_back(t);
  return t;
}

std::optional<GemmTactic> cached_tactic(const TacticTuner& tu, const std::string& problem) {
  if (tu.cache == nullptr) return std::nullopt;
  const std::string* hit = tu.cache->find(problem);
  if (hit == nullptr) return std::nullopt;
  GemmTactic t;
  char hex[160] = {0};
  int mode = -1;
  if (std::sscanf(hit->c_str(), "mode=%d algo=%150s", &mode, hex) != 2 ||
      !parse_algo_hex(hex, &t.algo)) {
    return std::nullopt;
  }
  if (!t.set_encoded_mode(mode)) return std::nullopt;
  return t;
}

void accept_cached_tactic(TacticTuner& tu, const std::string& problem, const GemmTactic& t,
                          const std::string& shape_text) {
  ++tu.from_cache;
  tu.by_problem[problem] = t;
  if (tu.verbose && tu.log) tu.log(str_cat("tactics: ", shape_text, ": from the timing cache"));
}

Status store_timed_tactic(TacticTuner& tu, const std::string& problem, const GemmTactic& best,
                          float best_ms) {
  ++tu.timed;
  tu.by_problem[problem] = best;
  if (tu.cache == nullptr) return Status();
  return tu.cache->put(problem, str_cat("mode=", best.encoded_mode(), " algo=", algo_hex(best.algo),
                                        " ms=", best_ms));
}

}  // namespace vitrt::cuda
