// Private: GEMM on OpenBLAS.
//
// OpenBLAS's own threads spin and yield between calls; next to our OpenMP
// loops on two cores they cost more than they gained (measured: no speed-up
// on the CNN, and a third of the time in the scheduler). So when the program
// called set_num_threads(n), OpenBLAS runs one thread and large products are
// split by rows of C across tapeflow's OpenMP threads, one single-threaded
// GEMM each. Otherwise OpenBLAS keeps whatever threading the program gave it
// and tapeflow calls it once per product.
#pragma once
#include <cblas.h>
#include <omp.h>

#include <cstddef>

namespace tapeflow::detail {

inline void gemm_raw(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b,
                     int ldb, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, 1.f, a, lda, b, ldb, 0.f, c, ldc);
}
inline void gemm_raw(bool ta, bool tb, int m, int n, int k, const double* a, int lda,
                     const double* b, int ldb, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

/// C[m, n] = op(A) · op(B), row-major, op = transpose when the flag is set.
template <class T>
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b,
          T* c) {
  const int lda = static_cast<int>(ta ? m : k), ldb = static_cast<int>(tb ? k : n),
            ldc = static_cast<int>(n);
  const int threads =
      omp_in_parallel() || openblas_get_num_threads() > 1 ? 1 : omp_get_max_threads();
  if (threads == 1 || m < 64 || static_cast<double>(m) * n * k < 4e6) {
    gemm_raw(ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), a, lda, b, ldb,
             c, ldc);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t) {
    const std::size_t m0 = m * t / threads, m1 = m * (t + 1) / threads;
    if (m1 == m0) continue;
    const T* a0 = ta ? a + m0 : a + m0 * k;  // rows m0.. of op(A)
    gemm_raw(ta, tb, static_cast<int>(m1 - m0), static_cast<int>(n), static_cast<int>(k), a0, lda,
             b, ldb, c + m0 * n, ldc);
  }
}

}  // namespace tapeflow::detail
