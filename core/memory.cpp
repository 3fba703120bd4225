// The buffer cache behind tensor storage (core/memory.hpp).
//
// Written here rather than taken from a library: a general allocator
// (jemalloc, tcmalloc) would have to replace malloc for the whole process,
// which a library must not do; what is needed is only a free list per size
// class for tapeflow's own large buffers.
#include "tapeflow/core/memory.hpp"

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tapeflow/core/detail/allocator.hpp"

namespace tapeflow {
namespace detail {
namespace {

constexpr std::size_t kAlignment = 64;
// Smaller blocks stay in the system allocator, whose bins recycle them well.
constexpr std::size_t kCachedMinBytes = std::size_t{4} << 10;

// Size classes: 8 per power of two, so a class wastes at most 12.5%, and
// tensors of nearly the same size share buffers.
std::size_t size_class(std::size_t bytes) {
  std::size_t p = 1;
  while (p <= bytes / 2) p <<= 1;  // the largest power of two <= bytes
  const std::size_t step = p / 8;
  return (bytes + step - 1) / step * step;
}

void* system_allocate(std::size_t bytes) {
  void* p = std::aligned_alloc(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  if (!p) throw std::bad_alloc();
  return p;
}

struct Cache {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<void*>> free;  // by size class
  std::size_t cached = 0;
  std::size_t limit = std::size_t{1} << 30;
  std::uint64_t hits = 0, misses = 0;

  // Frees cached blocks until at most `target` bytes remain. Caller holds the lock.
  void shrink_to(std::size_t target) {
    for (auto it = free.begin(); it != free.end() && cached > target;) {
      while (!it->second.empty() && cached > target) {
        std::free(it->second.back());
        it->second.pop_back();
        cached -= it->first;
      }
      it = it->second.empty() ? free.erase(it) : std::next(it);
    }
  }
};

// Never destroyed: tensors in static storage may be freed after main returns.
Cache& cache() {
  static Cache* c = new Cache;
  return *c;
}

}  // namespace

void* buffer_allocate(std::size_t bytes) {
  if (bytes < kCachedMinBytes) return system_allocate(bytes ? bytes : 1);
  const std::size_t cls = size_class(bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free.find(cls);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= cls;
      ++c.hits;
      return p;
    }
    ++c.misses;
  }
  return system_allocate(cls);
}

void buffer_deallocate(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  if (bytes >= kCachedMinBytes) {
    const std::size_t cls = size_class(bytes);
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.cached + cls <= c.limit) {
      try {
        c.free[cls].push_back(p);
        c.cached += cls;
        return;
      } catch (...) {  // no memory for the list: give the block back instead
      }
    }
  }
  std::free(p);
}

}  // namespace detail

BufferCacheStats buffer_cache_stats() {
  auto& c = detail::cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {c.cached, c.limit, c.hits, c.misses};
}

void set_buffer_cache_limit(std::size_t bytes) {
  auto& c = detail::cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.limit = bytes;
  c.shrink_to(bytes);
}

void release_buffer_cache() {
  auto& c = detail::cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.shrink_to(0);
}

}  // namespace tapeflow
