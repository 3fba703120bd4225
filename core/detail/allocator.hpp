// Private: the allocator behind every tensor's storage (see core/memory.hpp).
#pragma once
#include <cstddef>
#include <new>

namespace tapeflow::detail {

/// 64-byte aligned storage; blocks of 4 KiB and more come from the cache (core/memory.cpp).
void* buffer_allocate(std::size_t bytes);
void buffer_deallocate(void* p, std::size_t bytes) noexcept;

template <class T>
struct CachingAllocator {
  using value_type = T;
  CachingAllocator() noexcept = default;
  template <class U>
  CachingAllocator(const CachingAllocator<U>&) noexcept {}  // NOLINT: rebinding
  T* allocate(std::size_t n) { return static_cast<T*>(buffer_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { buffer_deallocate(p, n * sizeof(T)); }
  template <class U>
  struct rebind {
    using other = CachingAllocator<U>;
  };
};
template <class T, class U>
bool operator==(const CachingAllocator<T>&, const CachingAllocator<U>&) noexcept {
  return true;
}
template <class T, class U>
bool operator!=(const CachingAllocator<T>&, const CachingAllocator<U>&) noexcept {
  return false;
}

}  // namespace tapeflow::detail
