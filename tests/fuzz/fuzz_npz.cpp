// libFuzzer target: the .npz reader, with and without the whole-file CRC
// required. Oracles: only tapeflow errors; every tensor read holds exactly the
// elements its shape says.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::scratch_file(".npz");
  fuzz::write(path, data, size);
  for (bool require : {false, true}) {
    fuzz::expect_only_tapeflow_errors([&] {
      for (const auto& [name, t] : tapeflow::load_npz(path, require)) fuzz::check_tensor(t);
    });
  }
  std::remove(path.c_str());
  return 0;
}
