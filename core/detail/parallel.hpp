// Private: when an element-wise loop is worth a second thread.
#pragma once
#include <cstddef>

namespace tapeflow::detail {

/// Element-wise loops (optimizer updates, clip norms and scaling) run on
/// several OpenMP threads only from this many elements. Waking a sleeping
/// OpenMP thread costs tens of microseconds on a VM, about what a
/// memory-bound pass over a few hundred thousand floats takes alone. With
/// 64K, the MLP step at batch 32 (bench/step_bench W1) ran up to a third
/// slower on two threads than on one; with 1M the two are level.
///
/// Write the condition as `if (parallel : n > kParallelMinElements)`: a bare
/// `if` on `parallel for simd` also applies to the simd part (OpenMP 5), and
/// GCC then leaves every loop below the threshold scalar (that cost the W1
/// step 25% at one thread before the modifier was added).
constexpr std::size_t kParallelMinElements = std::size_t{1} << 20;

}  // namespace tapeflow::detail
