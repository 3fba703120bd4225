// The buffer cache behind tensor storage (core/memory.hpp).
#include "helpers.hpp"

using namespace tapeflow;

TEST_CASE("large buffers are reused from the cache, bounded, and released on demand",
          "[core][memory]") {
  release_buffer_cache();
  set_buffer_cache_limit(std::size_t{1} << 30);
  const Shape big{1 << 18};  // 1 MiB of float32: cached
  const auto before = buffer_cache_stats();
  { const Tensor a = ones(big); }  // allocated, then freed into the cache
  const auto after_free = buffer_cache_stats();
  CHECK(after_free.cached_bytes >= (std::size_t{1} << 20));
  { const Tensor b = zeros(big); }  // the same size class: served from the cache
  const auto after_reuse = buffer_cache_stats();
  CHECK(after_reuse.hits == after_free.hits + 1);
  CHECK(after_reuse.misses == after_free.misses);
  CHECK(after_free.misses >= before.misses + 1);

  // A reused buffer holds the new tensor's values, not the old ones.
  const Tensor c = full(big, 2.5);
  CHECK(c.to_vector()[12345] == 2.5);

  // Small tensors never enter the cache.
  const auto small_before = buffer_cache_stats();
  { const Tensor s = ones({16}); }
  CHECK(buffer_cache_stats().cached_bytes == small_before.cached_bytes);

  release_buffer_cache();
  CHECK(buffer_cache_stats().cached_bytes == 0);

  // A limit of 0 turns caching off: freed buffers go back to the system.
  set_buffer_cache_limit(0);
  { const Tensor d = ones(big); }
  CHECK(buffer_cache_stats().cached_bytes == 0);
  CHECK(buffer_cache_stats().limit_bytes == 0);
  set_buffer_cache_limit(std::size_t{1} << 30);
}

TEST_CASE("set_num_threads takes a positive count", "[core][threads]") {
  CHECK_THROWS_WITH(set_num_threads(0), Catch::Contains("set_num_threads"));
  set_num_threads(1);
  CHECK(num_threads() == 1);
}
