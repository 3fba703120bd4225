// .npz reading and writing. A stored (uncompressed) zip is simple enough to
// write here (~150 lines), which keeps a zip library out of the dependencies;
// zlib supplies the CRC-32 that makes every entry verifiable on load.
#include "tapeflow/core/npz.hpp"

#include <signal.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include "tapeflow/core/detail/tensor_impl.hpp"

namespace tapeflow {
namespace {
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the .npy writer assumes a little-endian host");

const char* descr(DType d) {
  switch (d) {
    case DType::float32:
      return "<f4";
    case DType::float64:
      return "<f8";
    default:
      return "<i8";
  }
}

void put16(std::string& s, std::uint32_t v) {
  s += static_cast<char>(v & 0xff);
  s += static_cast<char>((v >> 8) & 0xff);
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}

// The .npy v1.0 encoding: magic, version, header length, a Python dict
// literal padded with spaces to a multiple of 64 bytes, then the raw data.
std::string npy_bytes(const Tensor& t) {
  // Python tuple syntax: "(2, 3)", "(5,)", "()".
  std::string shape = fmt::format("{}", fmt::join(t.shape(), ", "));
  if (t.rank() == 1) shape += ',';
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}",
                                   descr(t.dtype()), shape);
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  put16(out, static_cast<std::uint32_t>(header.size()));
  out += header;
  detail::dispatch_any(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    out.append(reinterpret_cast<const char*>(t.data<T>()), t.size() * sizeof(T));
  });
  return out;
}

constexpr const char* kDigestTag = "tapeflow-crc32:";

// CRC-32 of the archive up to (not including) the comment-length field.
std::uint32_t file_digest(const std::string& z) {
  return static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(z.data()), static_cast<uInt>(z.size())));
}

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw DataError(fmt::format("load_npz: '{}' is not a valid checkpoint: {}", path, what));
}

std::uint32_t get16(const std::string& s, std::size_t at) {
  return static_cast<unsigned char>(s[at]) | (static_cast<unsigned char>(s[at + 1]) << 8);
}
std::uint32_t get32(const std::string& s, std::size_t at) {
  return get16(s, at) | (get16(s, at + 2) << 16);
}

// The .npy header this reader accepts is the dict literal NumPy writes:
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// read by a small scanner (a std::regex here was recursive: a header padded
// with 65,000 spaces overflowed the stack). Every dim is checked for overflow.
struct NpyHeader {
  DType dtype;
  Shape shape;
};

class HeaderScanner {
 public:
  explicit HeaderScanner(const std::string& h) : h_(h) {}
  void spaces() {
    while (i_ < h_.size() && (h_[i_] == ' ' || h_[i_] == '\n')) ++i_;
  }
  bool literal(const char* text) {
    spaces();
    const std::size_t n = std::strlen(text);
    if (h_.compare(i_, n, text) != 0) return false;
    i_ += n;
    return true;
  }
  // A decimal dimension; false on no digits or on overflow.
  bool dim(std::size_t& out) {
    spaces();
    const std::size_t start = i_;
    out = 0;
    while (i_ < h_.size() && h_[i_] >= '0' && h_[i_] <= '9') {
      if (__builtin_mul_overflow(out, std::size_t{10}, &out) ||
          __builtin_add_overflow(out, static_cast<std::size_t>(h_[i_] - '0'), &out))
        return false;
      ++i_;
    }
    return i_ > start;
  }
  bool at_end() {
    spaces();
    return i_ == h_.size();
  }

 private:
  const std::string& h_;
  std::size_t i_ = 0;
};

std::optional<NpyHeader> scan_header(const std::string& header) {
  HeaderScanner s(header);
  NpyHeader out;
  if (!s.literal("{") || !s.literal("'descr':")) return std::nullopt;
  if (s.literal("'<f4'")) {
    out.dtype = DType::float32;
  } else if (s.literal("'<f8'")) {
    out.dtype = DType::float64;
  } else if (s.literal("'<i8'")) {
    out.dtype = DType::int64;
  } else {
    return std::nullopt;
  }
  if (!s.literal(",") || !s.literal("'fortran_order':") || !s.literal("False") || !s.literal(",") ||
      !s.literal("'shape':") || !s.literal("("))
    return std::nullopt;
  while (!s.literal(")")) {
    std::size_t d = 0;
    if (!s.dim(d) || out.shape.size() == 32) return std::nullopt;
    out.shape.push_back(d);
    if (!s.literal(",")) {
      if (!s.literal(")")) return std::nullopt;
      break;
    }
  }
  if (!s.literal(",") || !s.literal("}") || !s.at_end()) return std::nullopt;
  return out;
}

Tensor parse_npy(const std::string& path, const std::string& name, const std::string& b) {
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0)
    corrupt(path, fmt::format("entry '{}' is not .npy", name));
  const int major = static_cast<unsigned char>(b[6]);
  if (major != 1 && major != 2)
    corrupt(path, fmt::format("entry '{}' has .npy version {}, expected 1 or 2", name, major));
  const std::size_t start = major == 1 ? 10 : 12;
  if (b.size() < start) corrupt(path, fmt::format("entry '{}' has a truncated header", name));
  const std::size_t hlen = major == 1 ? get16(b, 8) : get32(b, 8);
  if (hlen > b.size() - start)
    corrupt(path, fmt::format("entry '{}' has a truncated header", name));
  const std::string header = b.substr(start, hlen);
  const auto parsed = scan_header(header);
  if (!parsed) {
    corrupt(path,
            fmt::format("entry '{}' has an unsupported or damaged header {:.200}", name, header));
  }
  const DType dtype = parsed->dtype;
  const Shape& shape = parsed->shape;
  std::size_t elements = 1;
  for (std::size_t d : shape) {
    if (__builtin_mul_overflow(elements, d, &elements))
      corrupt(path, fmt::format("entry '{}' has a shape whose size overflows", name));
  }
  const std::size_t item = dtype == DType::float32 ? 4 : 8;
  const std::size_t data = start + hlen;
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(elements, item, &bytes) || b.size() - data != bytes) {
    corrupt(path, fmt::format("entry '{}' holds {} data bytes, its header says shape {} of {}",
                              name, b.size() - data, shape_str(shape), dtype_name(dtype)));
  }
  return detail::dispatch_any(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto a = detail::Array<T>::from_shape(detail::xshape(shape));
    // Byte copy: the data need not be aligned for T. (Not memcpy: an empty
    // tensor has a null data pointer, which memcpy may not be given.)
    std::copy_n(b.data() + data, bytes, reinterpret_cast<char*>(a.data()));
    return detail::make_tensor(std::move(a));
  });
}

// The zip records this writer uses (APPNOTE.TXT 4.3.7, 4.3.12, 4.3.16), all
// for stored entries: version 2.0, no flags, no compression, fixed date.
constexpr std::uint32_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01: reproducible files
constexpr std::uint32_t kVersion = 20;

struct EntryInfo {
  std::string name;
  std::uint32_t crc, size, offset;
};

void put_local_header(std::string& zip, const EntryInfo& e) {
  put32(zip, 0x04034b50);  // signature
  put16(zip, kVersion);    // version needed to extract
  put16(zip, 0);           // flags
  put16(zip, 0);           // method: stored
  put16(zip, 0);           // time
  put16(zip, kDosDate);    // date
  put32(zip, e.crc);
  put32(zip, e.size);  // compressed size
  put32(zip, e.size);  // uncompressed size
  put16(zip, static_cast<std::uint32_t>(e.name.size()));
  put16(zip, 0);  // extra field length
  zip += e.name;
}

void put_central_header(std::string& central, const EntryInfo& e) {
  put32(central, 0x02014b50);  // signature
  put16(central, kVersion);    // version made by
  put16(central, kVersion);    // version needed to extract
  put16(central, 0);           // flags
  put16(central, 0);           // method: stored
  put16(central, 0);           // time
  put16(central, kDosDate);    // date
  put32(central, e.crc);
  put32(central, e.size);  // compressed size
  put32(central, e.size);  // uncompressed size
  put16(central, static_cast<std::uint32_t>(e.name.size()));
  put16(central, 0);  // extra field length
  put16(central, 0);  // comment length
  put16(central, 0);  // disk number
  put16(central, 0);  // internal attributes
  put32(central, 0);  // external attributes
  put32(central, e.offset);
  central += e.name;
}

void put_end_record(std::string& zip, std::size_t entries, std::size_t central_size,
                    std::uint32_t central_offset) {
  put32(zip, 0x06054b50);                           // signature
  put16(zip, 0);                                    // this disk
  put16(zip, 0);                                    // disk of the central directory
  put16(zip, static_cast<std::uint32_t>(entries));  // entries on this disk
  put16(zip, static_cast<std::uint32_t>(entries));  // entries in all
  put32(zip, static_cast<std::uint32_t>(central_size));
  put32(zip, central_offset);
}

// Removes "<path>.tmp.<pid>" files left by writers that were killed before
// their rename (their process no longer exists). Best effort.
void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".tmp.";
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos ||
        pid_text.size() > 9)
      continue;
    const auto pid = static_cast<pid_t>(std::stol(pid_text));
    if (::kill(pid, 0) != 0 && errno == ESRCH) fs::remove(entry.path(), ec);
  }
}

// Writes `bytes` to a temporary file beside `path`, flushes it to disk and
// renames it over `path`: a crash leaves the old file or the new, never a mix.
void write_atomically(const std::string& path, const std::string& bytes) {
  remove_stale_temporaries(path);
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f)
    throw DataError(fmt::format("save_npz: cannot create '{}': {}", tmp, std::strerror(errno)));
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() &&
                  std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const int err = errno;
  std::fclose(f);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw DataError(
        fmt::format("save_npz: cannot write '{}': {}", path, std::strerror(ok ? errno : err)));
  }
}
}  // namespace

void save_npz(const std::string& path, const NamedTensors& tensors) {
  std::vector<const NamedTensors::value_type*> sorted;
  for (const auto& entry : tensors) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::string zip, central;
  for (const auto* entry : sorted) {
    const std::string data = npy_bytes(entry->second);
    if (data.size() >= 0xffffffffu || zip.size() >= 0xffffffffu) {
      throw DataError(
          fmt::format("save_npz: '{}' would exceed 4 GiB (zip64 is not supported)", path));
    }
    const EntryInfo e{
        entry->first + ".npy",
        static_cast<std::uint32_t>(
            crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()))),
        static_cast<std::uint32_t>(data.size()), static_cast<std::uint32_t>(zip.size())};
    put_local_header(zip, e);
    zip += data;
    put_central_header(central, e);
  }
  const auto central_offset = static_cast<std::uint32_t>(zip.size());
  zip += central;
  put_end_record(zip, sorted.size(), central.size(), central_offset);
  // The archive comment carries a CRC-32 of every byte before it, so that an
  // altered byte anywhere (not only inside an entry's data) is detected.
  const std::string comment = fmt::format("{}{:08x}", kDigestTag, file_digest(zip));
  put16(zip, static_cast<std::uint32_t>(comment.size()));
  zip += comment;
  write_atomically(path, zip);
}

NamedTensors load_npz(const std::string& path, bool require_digest) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw DataError(fmt::format("load_npz: cannot open '{}': {}", path, std::strerror(errno)));
  const std::string z((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The end-of-central-directory record: 22 bytes, then a comment of the length it gives.
  std::size_t eocd = std::string::npos;
  for (std::size_t back = 22; back <= z.size() && back <= 22 + 0xffff; ++back) {
    const std::size_t at = z.size() - back;
    if (get32(z, at) == 0x06054b50 && at + 22 + get16(z, at + 20) == z.size()) {
      eocd = at;
      break;
    }
  }
  if (eocd == std::string::npos) {
    corrupt(path, fmt::format("no end-of-directory record in its {} bytes (truncated?)", z.size()));
  }
  const std::string comment = z.substr(eocd + 22);
  const bool tagged = comment.rfind(kDigestTag, 0) == 0;
  if (require_digest && !tagged) {
    // A checkpoint always carries it: without it, an altered byte in the
    // directory (a name, an offset) could go unnoticed.
    corrupt(path, "its whole-file CRC-32 is missing (not a tapeflow checkpoint, or altered)");
  }
  if (tagged) {
    const std::string want =
        fmt::format("{}{:08x}", kDigestTag, file_digest(z.substr(0, eocd + 20)));
    if (comment != want)
      corrupt(path, "its whole-file CRC-32 does not match (altered or truncated)");
  }
  const std::size_t entries = get16(z, eocd + 10);
  const std::size_t cd_size = get32(z, eocd + 12);
  std::size_t at = get32(z, eocd + 16);
  if (at + cd_size != eocd) corrupt(path, "the central directory does not end where the file does");
  NamedTensors out;
  for (std::size_t e = 0; e < entries; ++e) {
    if (at + 46 > eocd || get32(z, at) != 0x02014b50) corrupt(path, "damaged central directory");
    const std::uint32_t crc = get32(z, at + 16);
    const std::size_t csize = get32(z, at + 20), usize = get32(z, at + 24);
    const std::size_t nlen = get16(z, at + 28), xlen = get16(z, at + 30), clen = get16(z, at + 32);
    const std::size_t local = get32(z, at + 42);
    if (get16(z, at + 10) != 0 || csize != usize)
      corrupt(path, "compressed entries are not supported");
    if (at + 46 + nlen + xlen + clen > eocd) corrupt(path, "damaged central directory");
    const std::string name = z.substr(at + 46, nlen);
    at += 46 + nlen + xlen + clen;
    if (local + 30 > eocd || get32(z, local) != 0x04034b50)
      corrupt(path, fmt::format("entry '{}' has a damaged header", name));
    const std::size_t data = local + 30 + get16(z, local + 26) + get16(z, local + 28);
    if (data > eocd || csize > eocd - data)
      corrupt(path, fmt::format("entry '{}' runs past the end of the file", name));
    const auto actual = static_cast<std::uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(z.data() + data), static_cast<uInt>(csize)));
    if (actual != crc)
      corrupt(path, fmt::format("entry '{}' fails its CRC-32 check (altered)", name));
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".npy") != 0) continue;
    const std::string key = name.substr(0, name.size() - 4);
    out[key] = parse_npy(path, name, z.substr(data, csize));
  }
  return out;
}

}  // namespace tapeflow
