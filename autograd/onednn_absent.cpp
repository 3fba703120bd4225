// Built instead of onednn.cpp when oneDNN is not found: the portable kernels
// of ops_conv.cpp do everything, and nothing here is ever called.
#include <stdexcept>

#include "tapeflow/autograd/detail/onednn.hpp"

namespace tapeflow::detail::onednn {
namespace {
[[noreturn]] void absent() { throw std::logic_error("tapeflow was built without oneDNN"); }
}  // namespace

bool enabled() { return false; }
bool set_enabled(bool) { return false; }
void conv_forward(const Window&, std::size_t, const float*, const float*, float*) { absent(); }
void conv_backward_data(const Window&, std::size_t, const float*, const float*, float*) {
  absent();
}
void conv_backward_weights(const Window&, std::size_t, const float*, const float*, float*) {
  absent();
}
std::shared_ptr<void> pool_forward(const Window&, bool, const float*, float*) { absent(); }
void pool_backward(const Window&, bool, const std::shared_ptr<void>&, const float*, float*) {
  absent();
}

}  // namespace tapeflow::detail::onednn
