// Tensor storage: tapeflow's own cache of large buffers.
//
// Training allocates the same few sizes every step. Large blocks from the
// system allocator are fresh pages each time (glibc maps blocks over 128 KiB
// and unmaps them on free), so every step would pay page faults again. The
// library keeps freed large buffers in a size-bucketed cache and hands them
// back for the next tensor of that size class. The cache is bounded,
// thread-safe and can be emptied; it changes nothing outside tapeflow.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tapeflow {

struct BufferCacheStats {
  std::size_t cached_bytes = 0;  ///< held for reuse right now
  std::size_t limit_bytes = 0;   ///< most the cache will hold
  std::uint64_t hits = 0;        ///< large allocations served from the cache
  std::uint64_t misses = 0;      ///< large allocations that went to the system
};

/// What the cache holds and how often it helped.
BufferCacheStats buffer_cache_stats();
/// Bounds the bytes kept for reuse (default 1 GiB); 0 turns caching off.
/// Shrinks the cache at once if it holds more.
void set_buffer_cache_limit(std::size_t bytes);
/// Returns every cached buffer to the system (tensors alive are not affected).
void release_buffer_cache();

}  // namespace tapeflow
