// Exact integer matrix products (see int_gemm.h).
#include "cpu/int_gemm.h"

#include <algorithm>

#include "core/parallel.h"

namespace vitrt {

// Tiles of 4 rows share each row of b, and columns go in chunks whose accumulators stay in L1.
void gemm_i16(int64_t m, int64_t k, int64_t n, const int16_t* a, const int16_t* b, int32_t* c) {
  constexpr int64_t kRows = 4, kCols = 512;
  const int64_t row_tiles = (m + kRows - 1) / kRows;
  const int64_t col_chunks = (n + kCols - 1) / kCols;
  parallel_for(row_tiles * col_chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t i0 = (t / col_chunks) * kRows, rows = std::min(kRows, m - i0);
      const int64_t j0 = (t % col_chunks) * kCols, cols = std::min(kCols, n - j0);
      for (int64_t r = 0; r < rows; ++r) std::fill_n(c + (i0 + r) * n + j0, cols, 0);
      for (int64_t p = 0; p < k; ++p) {
        const int16_t* bp = b + p * n + j0;
        for (int64_t r = 0; r < rows; ++r) {
          const int32_t av = a[(i0 + r) * k + p];
          if (av == 0) continue;
          int32_t* cr = c + (i0 + r) * n + j0;
          for (int64_t j = 0; j < cols; ++j) cr[j] += av * static_cast<int32_t>(bp[j]);
        }
      }
    }
  });
}

}  // namespace vitrt
