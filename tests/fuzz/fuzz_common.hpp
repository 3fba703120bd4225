// Shared by the fuzz targets: write the input to a private file (the readers
// take paths), and the oracle every target applies: a tapeflow::Error is a
// correct answer to bad bytes; any other exception is a defect.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <tapeflow/tapeflow.hpp>

namespace fuzz {

inline std::string scratch_file(const char* suffix) {
  return "/tmp/tapeflow-fuzz-" + std::to_string(::getpid()) + suffix;
}

inline void write(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

[[noreturn]] inline void defect(const char* what) {
  std::fprintf(stderr, "fuzz oracle: %s\n", what);
  std::abort();
}

/// Runs `f`; a tapeflow::Error is fine, anything else aborts (a finding).
template <class F>
void expect_only_tapeflow_errors(F&& f) {
  try {
    f();
  } catch (const tapeflow::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "escaped: %s\n", e.what());
    defect("a standard exception escaped instead of a tapeflow::Error");
  }
}

/// A tensor read from bytes must hold exactly the elements its shape says.
inline void check_tensor(const tapeflow::Tensor& t) {
  std::size_t n = 1;
  for (std::size_t d : t.shape()) {
    if (__builtin_mul_overflow(n, d, &n)) defect("a tensor's shape overflows");
  }
  if (n != t.size()) defect("a tensor's size differs from its shape's");
  if (n > 0) {
    volatile double last = t.to_vector().back();  // touches the storage end to end
    (void)last;
  }
}

}  // namespace fuzz
