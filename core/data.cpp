// IDX reading and writing (through zlib) and the batching helper.
#include "tapeflow/core/data.hpp"

#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>

#include "tapeflow/core/detail/tensor_impl.hpp"

namespace tapeflow {
namespace {
[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw DataError(fmt::format("read_idx: '{}': {}", path, what));
}
}  // namespace

namespace {
// Largest payload read_idx accepts: far above any data set it is meant for,
// far below what a forged header could ask for.
constexpr std::size_t kMaxIdxBytes = std::size_t{1} << 34;  // 16 GiB

// Reads up to `want` bytes, growing the buffer only as data really arrives
// (a forged header never sizes an allocation). Returns the count read.
std::size_t read_some(gzFile f, const std::string& path, std::vector<std::uint8_t>& out,
                      std::size_t want) {
  std::size_t got = 0;
  while (got < want) {
    const std::size_t chunk = std::min<std::size_t>(want - got, 1 << 20);
    if (out.size() < got + chunk) out.resize(got + chunk);
    const int n = gzread(f, out.data() + got, static_cast<unsigned>(chunk));
    if (n < 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      bad(path, fmt::format("corrupt gzip stream ({})", msg ? msg : "?"));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return got;
}
}  // namespace

IdxFile read_idx(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) bad(path, fmt::format("cannot open: {}", std::strerror(errno)));
  std::unique_ptr<gzFile_s, int (*)(gzFile)> closer(f, gzclose);
  // The 4-byte magic first, then the dims: both are checked before any payload is read.
  std::vector<std::uint8_t> head;
  if (read_some(f, path, head, 4) < 4)
    bad(path, fmt::format("only {} bytes, too short for an IDX header", head.size()));
  if (head[0] != 0 || head[1] != 0)
    bad(path, fmt::format("bad magic number {:02x}{:02x}, expected 0000", head[0], head[1]));
  if (head[2] != 0x08)
    bad(path, fmt::format("element type 0x{:02x} is not supported (expected 0x08, unsigned byte)",
                          head[2]));
  const std::size_t rank = head[3];
  if (rank == 0 || rank > 4)
    bad(path, fmt::format("rank {} is not supported (expected 1 to 4)", rank));
  std::vector<std::uint8_t> dims;
  if (read_some(f, path, dims, 4 * rank) < 4 * rank) bad(path, "truncated header");
  IdxFile out;
  std::size_t count = 1;
  for (std::size_t d = 0; d < rank; ++d) {
    const std::uint8_t* q = dims.data() + 4 * d;
    const std::size_t dim = (std::size_t{q[0]} << 24) | (std::size_t{q[1]} << 16) |
                            (std::size_t{q[2]} << 8) | std::size_t{q[3]};
    out.dims.push_back(dim);
    if (__builtin_mul_overflow(count, dim, &count) || count > kMaxIdxBytes) {
      bad(path, fmt::format("the header's dims {} hold more than {} bytes",
                            shape_str(Shape(out.dims)), kMaxIdxBytes));
    }
  }
  const std::size_t have = read_some(f, path, out.data, count);
  if (have < count) {
    bad(path, fmt::format("the header announces {} = {} bytes but the file holds {} (truncated)",
                          shape_str(out.dims), count, have));
  }
  std::vector<std::uint8_t> extra;
  if (read_some(f, path, extra, 1) > 0) {
    bad(path, fmt::format("the header announces {} = {} bytes but the file holds more (trailing "
                          "data)",
                          shape_str(out.dims), count));
  }
  return out;
}

void write_idx(const std::string& path, const Shape& dims, const std::vector<std::uint8_t>& data) {
  std::string bytes{0, 0, 0x08, static_cast<char>(dims.size())};
  for (std::size_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) bytes += static_cast<char>((d >> s) & 0xff);
  }
  bytes.append(data.begin(), data.end());
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  gzFile f = gzopen(path.c_str(), gz ? "wb" : "wbT");  // "T": plain, uncompressed output
  if (!f) throw DataError(fmt::format("write_idx: cannot create '{}'", path));
  const bool ok = gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
                  static_cast<int>(bytes.size());
  if (gzclose(f) != Z_OK || !ok) throw DataError(fmt::format("write_idx: cannot write '{}'", path));
}

namespace {
std::string find_file(const std::string& dir, const std::string& split, const std::string& kind,
                      std::vector<std::string>& tried) {
  const std::string rank = kind == "images" ? "3" : "1";
  for (const char* sep : {"-", "."}) {
    for (const char* ext : {".gz", ""}) {
      const std::string p =
          fmt::format("{}/{}-{}{}idx{}-ubyte{}", dir, split, kind, sep, rank, ext);
      if (std::filesystem::exists(p)) return p;
      tried.push_back(p);
    }
  }
  return {};
}
}  // namespace

Dataset load_idx_dataset(const std::string& dir, const std::string& split, std::size_t limit) {
  std::vector<std::string> tried;
  const std::string ip = find_file(dir, split, "images", tried);
  const std::string lp = find_file(dir, split, "labels", tried);
  if (ip.empty() || lp.empty()) {
    throw DataError(fmt::format(
        "load_idx_dataset: no {} {} file in '{}'; tried:\n  {}\nRun `make data` to fetch MNIST and "
        "Fashion-MNIST, or pass --data-dir with the original MNIST files",
        split, ip.empty() ? "images" : "labels", dir, fmt::join(tried, "\n  ")));
  }
  const IdxFile images = read_idx(ip);
  const IdxFile labels = read_idx(lp);
  if (images.dims.size() != 3 || labels.dims.size() != 1) {
    throw DataError(
        fmt::format("load_idx_dataset: expected images [N, H, W] and labels [N], got {} and {}",
                    shape_str(images.dims), shape_str(labels.dims)));
  }
  if (images.dims[0] != labels.dims[0]) {
    throw DataError(fmt::format("load_idx_dataset: '{}' has {} images but '{}' has {} labels", ip,
                                images.dims[0], lp, labels.dims[0]));
  }
  std::size_t n = images.dims[0];
  if (limit > 0) n = std::min(n, limit);
  const std::size_t h = images.dims[1], w = images.dims[2];
  auto x = detail::Array<float>::from_shape({n, h, w, 1});
  for (std::size_t i = 0; i < n * h * w; ++i)
    x.data()[i] = static_cast<float>(images.data[i]) / 255.f;
  auto y = detail::Array<std::int64_t>::from_shape({n});
  for (std::size_t i = 0; i < n; ++i) y.data()[i] = labels.data[i];
  return {detail::make_tensor(std::move(x)), detail::make_tensor(std::move(y))};
}

Batches::Batches(const Dataset& data, std::size_t batch_size, std::uint64_t seed, bool shuffle,
                 bool drop_last, Shard shard)
    : data_(data),
      batch_size_(batch_size),
      seed_(seed),
      shuffle_(shuffle),
      drop_last_(drop_last),
      shard_(shard) {
  if (batch_size == 0) throw InvalidArgumentError("Batches: batch_size must be > 0");
  if (shard.count == 0 || shard.index >= shard.count) {
    throw InvalidArgumentError(
        fmt::format("Batches: shard must be {{index, count}} with index < count, got {{{}, {}}}",
                    shard.index, shard.count));
  }
  if (shard.count > 1 && data.size() < shard.count) {
    throw InvalidArgumentError(fmt::format("Batches: {} examples cannot be split into {} shards",
                                           data.size(), shard.count));
  }
  start_epoch(0);
}

std::size_t Batches::size() const {
  const std::size_t n = order_.size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

void Batches::start_epoch(std::size_t epoch) {
  std::vector<std::size_t> all(data_.size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  if (shuffle_) {
    Rng rng(seed_ * 0x9e3779b97f4a7c15ULL + epoch);
    for (std::size_t i = all.size(); i > 1; --i)
      std::swap(all[i - 1], all[rng.below(i)]);  // Fisher-Yates
  }
  if (shard_.count == 1) {
    order_ = std::move(all);
    return;
  }
  order_.resize(all.size() / shard_.count);
  for (std::size_t j = 0; j < order_.size(); ++j) order_[j] = all[shard_.index + j * shard_.count];
}

Dataset Batches::batch(std::size_t i) const {
  const std::size_t begin = i * batch_size_;
  const std::size_t end = std::min(begin + batch_size_, order_.size());
  if (begin >= end)
    throw InvalidArgumentError(fmt::format("Batches::batch: index {} >= {} batches", i, size()));
  Shape shape = data_.images.shape();
  const std::size_t row = data_.images.size() / shape[0];
  shape[0] = end - begin;
  auto x = detail::Array<float>::from_shape(detail::xshape(shape));
  auto y = detail::Array<std::int64_t>::from_shape({end - begin});
  const float* src = data_.images.data<float>();
  const auto* lab = data_.labels.data<std::int64_t>();
  for (std::size_t k = begin; k < end; ++k) {
    std::copy_n(src + order_[k] * row, row, x.data() + (k - begin) * row);
    y.data()[k - begin] = lab[order_[k]];
  }
  return {detail::make_tensor(std::move(x)), detail::make_tensor(std::move(y))};
}

Tensor standardize(const Tensor& images, double mean, double stddev) {
  if (!(stddev > 0) || !std::isfinite(stddev) || !std::isfinite(mean)) {
    throw InvalidArgumentError(fmt::format(
        "standardize: mean must be finite and stddev finite and > 0, got mean {}, stddev {}", mean,
        stddev));
  }
  return detail::dispatch_float("standardize", images.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto out = detail::Array<T>::from_shape(detail::xshape(images.shape()));
    const T* x = images.data<T>();
    const T m = static_cast<T>(mean), s = static_cast<T>(stddev);
    for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] = (x[i] - m) / s;
    return detail::make_tensor(std::move(out));
  });
}

}  // namespace tapeflow
