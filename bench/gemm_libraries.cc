// Compares fp32 GEMM throughput of the CPU GEMM libraries vitrt could link (oneDNN's sgemm and
// matmul primitive, OpenBLAS, Eigen) on ViT-B/16 shapes, so the choice is a measurement.
//
// Usage: OMP_NUM_THREADS=2 gemm_libraries [seconds_per_case]
// Prints one line per (shape, library): best and median GFLOP/s over repeated runs, and
// GFLOP per CPU-second (the robust number on a shared machine with one thread).
#include <cblas.h>
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace {

struct Shape {
  const char* name;
  int64_t batch, m, k, n;
};

using Clock = std::chrono::steady_clock;
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Timing {
  double best_gflops = 0;
  double median_gflops = 0;
  double cpu_gflops = 0;  // per CPU-second of this process (best run)
};

// Process CPU time: with one thread it measures a core's throughput even on a loaded
// machine, where wall time mostly measures the scheduler.
double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Runs `fn` repeatedly for about `seconds` after a warm-up; reports GFLOP/s.
Timing time_it(const Shape& s, double seconds, const std::function<void()>& fn) {
  for (int i = 0; i < 3; ++i) fn();
  const double flops = 2.0 * s.batch * s.m * s.k * s.n;
  std::vector<double> runs;
  double best_cpu = 1e30;
  const auto start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds || runs.size() < 5) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    fn();
    best_cpu = std::min(best_cpu, cpu_seconds() - c0);
    runs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(runs.begin(), runs.end());
  return {flops / runs.front() * 1e-9, flops / runs[runs.size() / 2] * 1e-9,
          flops / best_cpu * 1e-9};
}

std::vector<float> random_vector(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::abs(a[i] - b[i])));
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  const std::vector<Shape> shapes = {
      {"qkv      M=197", 1, 197, 768, 2304},     {"proj     M=197", 1, 197, 768, 768},
      {"fc1      M=197", 1, 197, 768, 3072},     {"fc2      M=197", 1, 197, 3072, 768},
      {"qkv      M=1576", 1, 1576, 768, 2304},   {"proj     M=1576", 1, 1576, 768, 768},
      {"fc1      M=1576", 1, 1576, 768, 3072},   {"fc2      M=1576", 1, 1576, 3072, 768},
      {"q@kT  12x197x64x197", 12, 197, 64, 197}, {"p@v   12x197x197x64", 12, 197, 197, 64},
  };
  std::printf("threads: omp %d, eigen %d\n", omp_get_max_threads(), Eigen::nbThreads());
  std::printf("GFLOP/s: best and median wall-clock run, best per CPU-second\n");
  std::printf("%-22s %-22s %8s %8s %8s\n", "shape", "library", "best", "median", "cpu");

  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  using tag = dnnl::memory::format_tag;
  using dt = dnnl::memory::data_type;

  for (const Shape& s : shapes) {
    const int64_t M = s.m, K = s.k, N = s.n, B = s.batch;
    std::vector<float> a = random_vector(B * M * K, 1), b = random_vector(B * K * N, 2);
    std::vector<float> c_ref(B * M * N), c(B * M * N);
    auto report = [&](const char* lib, Timing t, const std::vector<float>& out) {
      std::printf("%-22s %-22s %8.1f %8.1f %8.1f   (max|diff| vs OpenBLAS %.1e)\n", s.name, lib,
                  t.best_gflops, t.median_gflops, t.cpu_gflops, max_abs_diff(out, c_ref));
      std::fflush(stdout);
    };

    // OpenBLAS (also the reference output for the others).
    auto openblas = [&](std::vector<float>& out) {
      for (int64_t i = 0; i < B; ++i) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, &a[i * M * K], K,
                    &b[i * K * N], N, 0.0f, &out[i * M * N], N);
      }
    };
    openblas(c_ref);
    report("openblas sgemm", time_it(s, seconds, [&] { openblas(c); }), c);

    // oneDNN dnnl_sgemm (row-major, like cblas).
    auto sgemm = [&] {
      for (int64_t i = 0; i < B; ++i) {
        dnnl_sgemm('N', 'N', M, N, K, 1.0f, &a[i * M * K], K, &b[i * K * N], N, 0.0f, &c[i * M * N],
                   N);
      }
    };
    std::fill(c.begin(), c.end(), 0.0f);
    report("onednn sgemm", time_it(s, seconds, sgemm), c);

    // oneDNN matmul primitive. Weights (B=1) in the format the primitive prefers ('any'),
    // reordered once as an engine would at load time; batched operands stay plain.
    {
      const bool batched = B > 1;
      dnnl::memory::dims ad = batched ? dnnl::memory::dims{B, M, K} : dnnl::memory::dims{M, K};
      dnnl::memory::dims bd = batched ? dnnl::memory::dims{B, K, N} : dnnl::memory::dims{K, N};
      dnnl::memory::dims cd = batched ? dnnl::memory::dims{B, M, N} : dnnl::memory::dims{M, N};
      const tag plain = batched ? tag::abc : tag::ab;
      dnnl::memory::desc a_md(ad, dt::f32, plain), c_md(cd, dt::f32, plain);
      dnnl::memory::desc b_user_md(bd, dt::f32, plain);
      dnnl::memory::desc b_md = batched ? b_user_md : dnnl::memory::desc(bd, dt::f32, tag::any);
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), eng);
      dnnl::memory a_mem(a_md, eng, a.data()), c_mem(c_md, eng, c.data());
      dnnl::memory b_user(b_user_md, eng, b.data());
      dnnl::memory b_mem = b_user;
      if (pd.weights_desc() != b_user_md) {
        b_mem = dnnl::memory(pd.weights_desc(), eng);
        dnnl::reorder(b_user, b_mem).execute(strm, b_user, b_mem);
        strm.wait();
      }
      dnnl::matmul prim(pd);
      std::fill(c.begin(), c.end(), 0.0f);
      auto run = [&] {
        prim.execute(strm,
                     {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
        strm.wait();
      };
      std::string name = std::string("onednn matmul ") + (batched ? "plain" : "any");
      report(name.c_str(), time_it(s, seconds, run), c);
      std::printf("%-22s %-22s impl=%s packed=%s\n", "", "", pd.impl_info_str(),
                  pd.weights_desc() != b_user_md ? "yes" : "no");
    }

    // Eigen 3.4 (its own thread pool via OpenMP).
    auto eigen = [&] {
      for (int64_t i = 0; i < B; ++i) {
        Eigen::Map<const RowMatrix> am(&a[i * M * K], M, K), bm(&b[i * K * N], K, N);
        Eigen::Map<RowMatrix> cm(&c[i * M * N], M, N);
        cm.noalias() = am * bm;
      }
    };
    std::fill(c.begin(), c.end(), 0.0f);
    report("eigen", time_it(s, seconds, eigen), c);
  }
  return 0;
}
