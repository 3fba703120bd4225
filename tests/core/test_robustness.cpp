// Defects an outside probe found in the readers and the process, each pinned:
// forged sizes, recursive parsing, unbounded reads, escaping standard
// exceptions, counters at INT64_MAX, leftovers of killed writers, and the
// trainable collection shared between threads.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "helpers.hpp"

using namespace tapeflow;
namespace fs = std::filesystem;
using tf_test::scratch;

namespace {

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

void le(std::string& s, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

// A stored zip with one entry and valid CRC-32s, written independently of
// tapeflow's writer, so forged .npy contents reach the parser. With `tag`,
// the archive comment carries tapeflow's whole-file CRC-32 as well.
std::string zip_one(const std::string& name, const std::string& data, bool tag) {
  const auto crc = static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
  std::string z;
  le(z, 0x04034b50, 4), le(z, 20, 2), le(z, 0, 2), le(z, 0, 2), le(z, 0, 2), le(z, 33, 2);
  le(z, crc, 4), le(z, static_cast<std::uint32_t>(data.size()), 4);
  le(z, static_cast<std::uint32_t>(data.size()), 4),
      le(z, static_cast<std::uint32_t>(name.size()), 2);
  le(z, 0, 2);
  z += name + data;
  const auto cd = static_cast<std::uint32_t>(z.size());
  std::string c;
  le(c, 0x02014b50, 4), le(c, 20, 2), le(c, 20, 2), le(c, 0, 2), le(c, 0, 2), le(c, 0, 2);
  le(c, 33, 2), le(c, crc, 4), le(c, static_cast<std::uint32_t>(data.size()), 4);
  le(c, static_cast<std::uint32_t>(data.size()), 4),
      le(c, static_cast<std::uint32_t>(name.size()), 2);
  le(c, 0, 2), le(c, 0, 2), le(c, 0, 2), le(c, 0, 2), le(c, 0, 4), le(c, 0, 4);
  c += name;
  z += c;
  le(z, 0x06054b50, 4), le(z, 0, 2), le(z, 0, 2), le(z, 1, 2), le(z, 1, 2);
  le(z, static_cast<std::uint32_t>(c.size()), 4), le(z, cd, 4);
  std::string comment;
  if (tag) {
    const auto digest = static_cast<std::uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(z.data()), static_cast<uInt>(z.size())));
    comment = fmt::format("tapeflow-crc32:{:08x}", digest);
  }
  le(z, static_cast<std::uint32_t>(comment.size()), 2);
  return z + comment;
}

std::string npy(const std::string& header_dict, const std::string& data) {
  std::string h = header_dict;
  h += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  le(out, static_cast<std::uint32_t>(h.size()), 2);
  return out + h + data;
}

long max_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}
}  // namespace

TEST_CASE("read_idx rejects dims whose product overflows or exceeds the limit",
          "[core][idx][robustness]") {
  // Rank 3, each dim 2^24: the product 2^72 wrapped to 0 and was accepted.
  const auto wrap = scratch("idx", "wrap.idx");
  write_bytes(wrap,
              std::string("\0\0\x08\x03", 4) + be32(1u << 24) + be32(1u << 24) + be32(1u << 24));
  CHECK_THROWS_AS(read_idx(wrap.string()), DataError);
  CHECK_THROWS_WITH(read_idx(wrap.string()), Catch::Contains("more than"));
  // Images [16, 2^30, 2^30] with 16 labels: no tensor of 2^64 elements over nothing.
  const auto dir = scratch("idx", "huge");
  fs::create_directories(dir);
  write_bytes(dir / "train-images-idx3-ubyte",
              std::string("\0\0\x08\x03", 4) + be32(16) + be32(1u << 30) + be32(1u << 30));
  write_bytes(dir / "train-labels-idx1-ubyte",
              std::string("\0\0\x08\x01", 4) + be32(16) + std::string(16, '\1'));
  CHECK_THROWS_AS(load_idx_dataset(dir.string(), "train", 1), DataError);
}

TEST_CASE("read_idx checks the gzip header before reading the payload", "[core][idx][robustness]") {
  // A bad magic followed by 256 MiB of zeros (compressed to a few hundred KiB):
  // rejected after 4 bytes, without decompressing the rest.
  const auto path = scratch("idx", "bomb.gz").string();
  gzFile f = gzopen(path.c_str(), "wb9");
  REQUIRE(f);
  gzwrite(f, "\x01\x02\x08\x01", 4);
  const std::string zeros(1 << 20, '\0');
  for (int i = 0; i < 256; ++i) gzwrite(f, zeros.data(), static_cast<unsigned>(zeros.size()));
  gzclose(f);
  const long before = max_rss_kib();
  CHECK_THROWS_WITH(read_idx(path), Catch::Contains("bad magic"));
  CHECK(max_rss_kib() - before < 64 * 1024);  // far less than the 256 MiB inside
}

TEST_CASE("npz entries with forged shapes or headers are DataErrors, never a crash",
          "[core][npz][robustness]") {
  const auto path = scratch("npz", "forged.npz").string();
  auto load = [&](const std::string& npy_bytes) {
    write_bytes(path, zip_one("w.npy", npy_bytes, /*tag=*/true));
    return load_npz(path);
  };
  SECTION("a valid file built this way loads, so the cases below test the forgeries") {
    std::string data(8, '\0');
    const auto out = load(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data));
    CHECK(out.at("w").shape() == Shape{2});
  }
  SECTION("shape (2^62,) with no data, and (2^62 + 1,) with 4 bytes") {
    CHECK_THROWS_AS(load(npy("{'descr': '<f4', 'fortran_order': False, 'shape': "
                             "(4611686018427387904,), }",
                             "")),
                    DataError);
    CHECK_THROWS_AS(load(npy("{'descr': '<f4', 'fortran_order': False, 'shape': "
                             "(4611686018427387905,), }",
                             std::string(4, '\0'))),
                    DataError);
  }
  SECTION("a dim of 99999999999999999999 is not a std::out_of_range") {
    CHECK_THROWS_AS(load(npy("{'descr': '<f8', 'fortran_order': False, 'shape': "
                             "(99999999999999999999,), }",
                             "")),
                    DataError);
  }
  SECTION("a header padded with 65,000 spaces is read without recursion") {
    const std::string padded =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }" + std::string(65000, ' ');
    CHECK(load(npy(padded, std::string(4, '\0'))).at("w").size() == 1);
    CHECK_THROWS_AS(load(npy(std::string(65000, ' ') + "x", "")), DataError);
  }
}

TEST_CASE("a checkpoint must carry its whole-file CRC, plain .npz files need not",
          "[core][npz][checkpoint][robustness]") {
  const auto path = scratch("npz", "untagged.npz").string();
  std::string data(8, '\0');
  write_bytes(path, zip_one("vars/w.npy",
                            npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", data),
                            /*tag=*/false));
  CHECK(load_npz(path).count("vars/w") == 1);  // NumPy's own files carry no tag
  Variable w(Tensor({1.0}, DType::float64), "w");
  CHECK_THROWS_WITH(restore_checkpoint(path, {w}), Catch::Contains("whole-file CRC-32"));
  CHECK(w.value().item() == 1);
}

TEST_CASE("counters at INT64_MAX stop with an error instead of overflowing",
          "[optim][robustness]") {
  Variable w(Tensor({1.0}, DType::float64), "w");
  SGD opt(0.1);
  Variable step = create_global_step();
  step.assign(Tensor(std::numeric_limits<std::int64_t>::max()));
  CHECK_THROWS_WITH(opt.apply_gradients({{Tensor({1.0}, DType::float64), w}}, &step),
                    Catch::Contains("global step"));
  CHECK(w.value().item() == 1);
  // iterations from a checkpoint: read as int64 (no rounding through double).
  const std::int64_t big = (std::int64_t{1} << 53) + 1;
  auto state = opt.state();
  state["iterations"] = Tensor(big);
  opt.load_state(state, {w});
  CHECK(opt.iterations() == big);
  state["iterations"] = Tensor(std::int64_t{-1});
  CHECK_THROWS_AS(opt.load_state(state, {w}), DataError);
}

TEST_CASE("a save removes the temporaries of killed writers, not of live ones",
          "[core][npz][robustness]") {
  const auto path = scratch("stale", "ckpt.npz").string();
  const pid_t child = fork();
  if (child == 0) _exit(0);
  REQUIRE(child > 0);
  waitpid(child, nullptr, 0);  // a pid that no longer runs
  const std::string dead = path + ".tmp." + std::to_string(child);
  const std::string alive = path + ".tmp." + std::to_string(getppid());  // a live process
  const std::string other = path + ".tmp.notapid";
  write_bytes(dead, "partial");
  write_bytes(alive, "in progress");
  write_bytes(other, "x");
  save_npz(path, {{"a", Tensor(1.0)}});
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(alive));
  CHECK(fs::exists(other));
  CHECK(load_npz(path).at("a").item() == 1);
  fs::remove(alive);
  fs::remove(other);
}

TEST_CASE("each thread has its own trainable collection, sharing is explicit",
          "[autograd][variable][threads]") {
  Variable mine(Tensor({1.0}, DType::float64), "mine");
  std::vector<std::string> seen_there, after_sharing;
  std::thread t([&] {
    Variable theirs(Tensor({2.0}, DType::float64), "theirs");
    for (const auto& v : trainable_variables()) seen_there.push_back(v.name());
    add_to_trainable_variables(mine);
    for (const auto& v : trainable_variables()) after_sharing.push_back(v.name());
  });
  t.join();
  CHECK(seen_there == std::vector<std::string>{"theirs"});
  CHECK(after_sharing == std::vector<std::string>{"theirs", "mine"});
  const auto here = trainable_variables();
  REQUIRE(here.size() == 1);  // "theirs" died with its thread and was never listed here
  CHECK(here[0].name() == "mine");
  CHECK_THROWS_WITH(add_to_trainable_variables(create_global_step()),
                    Catch::Contains("not trainable"));
}
