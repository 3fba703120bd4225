// IDX files (good and broken, written here) and the batching helper.
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "helpers.hpp"

using namespace tapeflow;
namespace fs = std::filesystem;

namespace {
fs::path dir_for(const std::string& name) {
  fs::path d = fs::temp_directory_path() / "tapeflow-tests" / "idx" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Three 2x2 "images" with pixel values 0..11 and labels 7, 8, 9.
void write_set(const fs::path& d, const std::string& split, const std::string& sep,
               const std::string& ext, std::size_t labels = 3) {
  std::vector<std::uint8_t> px, lab;
  for (int i = 0; i < 12; ++i) px.push_back(static_cast<std::uint8_t>(i));
  for (std::size_t i = 0; i < labels; ++i) lab.push_back(static_cast<std::uint8_t>(7 + i));
  write_idx((d / (split + "-images" + sep + "idx3-ubyte" + ext)).string(), {3, 2, 2}, px);
  write_idx((d / (split + "-labels" + sep + "idx1-ubyte" + ext)).string(), {labels}, lab);
}

std::string raw_bytes(const std::vector<unsigned char>& v) {
  return std::string(v.begin(), v.end());
}
}  // namespace

TEST_CASE("IDX files are read back with their dims and bytes, gzip or raw", "[core][idx]") {
  for (const std::string ext : {".gz", ""}) {
    const auto d = dir_for("good" + ext);
    write_set(d, "train", "-", ext);
    const IdxFile f = read_idx((d / ("train-images-idx3-ubyte" + ext)).string());
    CHECK(f.dims == Shape{3, 2, 2});
    CHECK(f.data[11] == 11);
  }
}

TEST_CASE("the dataset loader accepts both spellings and scales pixels to [0, 1]", "[core][idx]") {
  for (const std::string sep : {"-", "."}) {
    const auto d = dir_for("spelling" + sep);
    write_set(d, "t10k", sep, ".gz");
    const Dataset ds = load_idx_dataset(d.string(), "t10k");
    CHECK(ds.images.shape() == Shape{3, 2, 2, 1});
    CHECK(ds.images.dtype() == DType::float32);
    CHECK(ds.images.to_vector()[5] == Approx(5.0 / 255));
    CHECK(ds.labels.to_vector() == std::vector<double>{7, 8, 9});
    CHECK(load_idx_dataset(d.string(), "t10k", 2).size() == 2);
  }
}

TEST_CASE("broken IDX files raise DataError naming the problem", "[core][idx]") {
  const auto d = dir_for("broken");
  auto write_raw = [&](const std::string& name, const std::string& bytes) {
    std::ofstream((d / name).string(), std::ios::binary) << bytes;
    return (d / name).string();
  };
  const std::string header = raw_bytes({0, 0, 8, 1, 0, 0, 0, 4});  // rank 1, 4 elements
  SECTION("truncated data") {
    CHECK_THROWS_WITH(read_idx(write_raw("t", header + "ab")), Catch::Contains("truncated"));
  }
  SECTION("a forged, huge dimension is caught before any allocation") {
    CHECK_THROWS_WITH(
        read_idx(write_raw("f", raw_bytes({0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff}) + "abcd")),
        Catch::Contains("4294967295"));
  }
  SECTION("trailing data") {
    CHECK_THROWS_WITH(read_idx(write_raw("x", header + "abcdef")), Catch::Contains("trailing"));
  }
  SECTION("bad magic, type code, rank, short header") {
    CHECK_THROWS_WITH(read_idx(write_raw("m", raw_bytes({1, 0, 8, 1, 0, 0, 0, 1}) + "a")),
                      Catch::Contains("magic"));
    CHECK_THROWS_WITH(read_idx(write_raw("c", raw_bytes({0, 0, 0x0d, 1, 0, 0, 0, 1}) + "abcd")),
                      Catch::Contains("0x0d"));
    CHECK_THROWS_WITH(read_idx(write_raw("r", raw_bytes({0, 0, 8, 0}))), Catch::Contains("rank"));
    CHECK_THROWS_WITH(read_idx(write_raw("h", raw_bytes({0, 0, 8, 3, 0, 0}))),
                      Catch::Contains("header"));
    CHECK_THROWS_AS(read_idx(write_raw("e", "")), DataError);
  }
  SECTION("a corrupt gzip stream") {
    const std::string p = (d / "z.gz").string();
    write_idx(p, {4}, {1, 2, 3, 4});
    std::string bytes;
    {
      std::ifstream in(p, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    CHECK_THROWS_AS(read_idx(write_raw("z.gz", bytes.substr(0, bytes.size() - 12))), DataError);
  }
  SECTION("images and labels of different counts") {
    const auto m = dir_for("mismatch");
    write_set(m, "train", "-", "", /*labels=*/2);
    CHECK_THROWS_WITH(load_idx_dataset(m.string(), "train"),
                      Catch::Contains("3 images") && Catch::Contains("2 labels"));
  }
  SECTION("missing files: the paths tried and how to get the data") {
    const auto e = dir_for("empty");
    CHECK_THROWS_WITH(load_idx_dataset(e.string(), "train"),
                      Catch::Contains("train-images-idx3-ubyte.gz") &&
                          Catch::Contains("train-images.idx3-ubyte") &&
                          Catch::Contains("make data"));
  }
}

TEST_CASE("Batches: seeded shuffles per epoch and a last partial batch", "[core][batches]") {
  const std::size_t n = 10;
  std::vector<float> px(n);
  std::iota(px.begin(), px.end(), 0.f);
  std::vector<std::int64_t> lab(n);
  std::iota(lab.begin(), lab.end(), 0);
  const Dataset ds{Tensor::from_vector(px, {n, 1, 1, 1}), Tensor::from_vector(lab, {n})};
  auto order = [&](Batches& b, std::size_t epoch) {
    b.start_epoch(epoch);
    std::vector<double> out;
    for (std::size_t i = 0; i < b.size(); ++i) {
      const Dataset batch = b.batch(i);
      const auto x = batch.images.to_vector(), y = batch.labels.to_vector();
      CHECK(x == y);  // image and label travel together
      out.insert(out.end(), y.begin(), y.end());
    }
    return out;
  };
  Batches b(ds, 4, 123);
  CHECK(b.size() == 3);
  CHECK(b.batch(2).size() == 2);  // the partial batch
  const auto e0 = order(b, 0), e1 = order(b, 1);
  CHECK(std::set<double>(e0.begin(), e0.end()).size() == n);  // each example once
  CHECK(e0 != e1);
  Batches again(ds, 4, 123);
  CHECK(order(again, 1) == e1);  // an epoch's order depends only on (seed, epoch)
  Batches plain(ds, 4, 123, /*shuffle=*/false, /*drop_last=*/true);
  CHECK(plain.size() == 2);
  CHECK(order(plain, 5) == std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7});

  // The range form walks the same batches in the same order.
  std::vector<double> ranged;
  std::size_t batches_seen = 0;
  for (const Dataset& batch : b.epoch(1)) {
    const auto y = batch.labels.to_vector();
    ranged.insert(ranged.end(), y.begin(), y.end());
    ++batches_seen;
  }
  CHECK(batches_seen == 3);
  CHECK(ranged == e1);
  CHECK(b.epoch(0).size() == 3);
}

TEST_CASE("standardize subtracts the mean and divides by the deviation", "[core][data]") {
  const Tensor x{0.f, 0.5f, 1.f};
  CHECK(tf_test::close(standardize(x, 0.5, 0.25).to_vector(), {-2, 0, 2}));
  CHECK(standardize(x, 0.5, 0.25).dtype() == DType::float32);
  // Data preparation: nothing is recorded even inside a tape.
  GradientTape tape;
  tape.watch(x);
  CHECK(standardize(x, 0.5, 0.25).defined());
  CHECK(tape.size() == 0);
  CHECK_THROWS_WITH(standardize(x, 0.5, 0), Catch::Contains("stddev"));
}

TEST_CASE("Batches: shards are disjoint, equal in size, and together make the full batches",
          "[core][batches]") {
  const std::size_t n = 23;  // not a multiple of 3: two examples sit out each epoch
  std::vector<float> px(n);
  std::iota(px.begin(), px.end(), 0.f);
  std::vector<std::int64_t> lab(n);
  std::iota(lab.begin(), lab.end(), 0);
  const Dataset ds{Tensor::from_vector(px, {n, 1, 1, 1}), Tensor::from_vector(lab, {n})};
  const std::size_t shards = 3, per_shard_batch = 2;
  Batches whole(ds, per_shard_batch * shards, 7);
  for (std::size_t epoch : {0, 4}) {
    std::vector<std::vector<double>> labels(shards);
    std::vector<std::size_t> sizes;
    std::set<double> seen;
    for (std::size_t r = 0; r < shards; ++r) {
      Batches b(ds, per_shard_batch, 7, true, false, Shard{r, shards});
      sizes.push_back(b.size());
      for (const Dataset& batch : b.epoch(epoch)) {
        const auto y = batch.labels.to_vector();
        CHECK(batch.images.to_vector() == y);
        labels[r].insert(labels[r].end(), y.begin(), y.end());
        for (double v : y) CHECK(seen.insert(v).second);  // no example on two shards
      }
    }
    CHECK(seen.size() == (n / shards) * shards);        // 21 of 23
    CHECK(sizes == std::vector<std::size_t>{4, 4, 4});  // 7 examples each: 2, 2, 2, 1
    // Shard r's batch i holds positions r, r + 3, ... of the whole run's batch i.
    whole.start_epoch(epoch);
    for (std::size_t i = 0; i + 1 < whole.size(); ++i) {
      const auto full = whole.batch(i).labels.to_vector();
      for (std::size_t r = 0; r < shards; ++r) {
        for (std::size_t j = 0; j < per_shard_batch; ++j) {
          CHECK(labels[r][i * per_shard_batch + j] == full[r + j * shards]);
        }
      }
    }
  }
  CHECK_THROWS_WITH(Batches(ds, 2, 7, true, false, Shard{3, 3}),
                    Catch::Contains("Batches") && Catch::Contains("{3, 3}"));
  CHECK_THROWS_WITH(Batches(ds, 2, 7, true, false, Shard{0, 0}), Catch::Contains("{0, 0}"));
  CHECK_THROWS_WITH(Batches(ds, 2, 7, true, false, Shard{0, 24}),
                    Catch::Contains("23 examples") && Catch::Contains("24 shards"));
  // Unsharded, an empty dataset simply has no batches (as before shards existed).
  const Dataset empty{Tensor::from_vector(std::vector<float>{}, {0, 1, 1, 1}),
                      Tensor::from_vector(std::vector<std::int64_t>{}, {0})};
  CHECK(Batches(empty, 4, 7).size() == 0);
}
