// libFuzzer target: the IDX reader, raw and gzip (zlib reads both), and the
// data-set loader built on it. Oracles: only tapeflow errors; a file that
// loads has dims whose product equals the bytes held.
#include <filesystem>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::scratch_file("-images.idx");
  fuzz::write(path, data, size);
  fuzz::expect_only_tapeflow_errors([&] {
    const tapeflow::IdxFile f = tapeflow::read_idx(path);
    std::size_t n = 1;
    for (std::size_t d : f.dims) {
      if (__builtin_mul_overflow(n, d, &n)) fuzz::defect("IDX dims overflow");
    }
    if (n != f.data.size()) fuzz::defect("IDX dims disagree with the bytes held");
  });
  // The same bytes as a data set's images, beside 4 labels.
  const std::string dir = fuzz::scratch_file("-set");
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(path, dir + "/train-images-idx3-ubyte",
                             std::filesystem::copy_options::overwrite_existing);
  const std::uint8_t labels[] = {0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4};
  fuzz::write(dir + "/train-labels-idx1-ubyte", labels, sizeof labels);
  fuzz::expect_only_tapeflow_errors([&] {
    const tapeflow::Dataset d = tapeflow::load_idx_dataset(dir, "train", 2);
    fuzz::check_tensor(d.images);
    fuzz::check_tensor(d.labels);
  });
  std::remove(path.c_str());
  return 0;
}
