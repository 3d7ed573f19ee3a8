// cuBLASLt plumbing shared by the GEMM ops (see cublaslt_matmul.h).
#include "cuda/cublaslt_matmul.h"

#include <cstdio>

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
                                     lt.layouts[2], lt.pref, count, results.data(), &found),
      "heuristic");
  std::vector<cublasLtMatmulAlgo_t> algos;
  for (int i = 0; i < found; ++i) {
    if (results[i].state == CUBLAS_STATUS_SUCCESS) algos.push_back(results[i].algo);
  }
  return algos;
}

bool algo_fits(const LaunchContext& ctx, const LtObjects& lt, const cublasLtMatmulAlgo_t& algo) {
  cublasLtMatmulHeuristicResult_t check{};
  return cublasLtMatmulAlgoCheck(ctx.blas, lt.op, lt.layouts[0], lt.layouts[1], lt.layouts[2],
                                 lt.layouts[2], &algo, &check) == CUBLAS_STATUS_SUCCESS &&
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

}  // namespace vitrt::cuda
