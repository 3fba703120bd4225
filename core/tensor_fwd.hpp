// Names xtensor's array type without pulling in its expression templates.
// Public headers include this; only sources and detail/ headers include xtensor proper.
#pragma once
#include <xtensor/xstorage.hpp>  // must precede the forward header in xtensor 0.24.x
#include <xtensor/xtensor_forward.hpp>
