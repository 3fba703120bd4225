// The optional xtensor bridge: <tapeflow/core/xtensor.hpp>.
#include <tapeflow/core/xtensor.hpp>

#include "helpers.hpp"

using namespace tapeflow;

TEST_CASE("tensors convert to and from xtensor arrays by copy", "[core][xtensor]") {
  const xt::xarray<double> a = {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
  const Tensor t = from_xarray(a);
  CHECK(t.dtype() == DType::float64);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});

  // A column-major array arrives in row-major order.
  xt::xarray<float, xt::layout_type::column_major> col = {{1.f, 2.f}, {3.f, 4.f}};
  CHECK(from_xarray(col).to_vector() == std::vector<double>{1, 2, 3, 4});

  const xt::xarray<double> back = to_xarray<double>(t * 2.0);
  CHECK(back(1, 2) == 12.0);
  CHECK(as_xtensor<double>(t)(0, 1) == 2.0);  // a view, no copy
  CHECK_THROWS_AS(to_xarray<float>(t), DTypeError);
}
