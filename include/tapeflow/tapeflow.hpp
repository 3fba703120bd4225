// The umbrella header: everything public in tapeflow.
#pragma once
#include "tapeflow/autograd/gradient.hpp"
#include "tapeflow/autograd/gradient_check.hpp"
#include "tapeflow/autograd/ops.hpp"
#include "tapeflow/autograd/tape.hpp"
#include "tapeflow/autograd/variable.hpp"
#include "tapeflow/core/error.hpp"
#include "tapeflow/core/tensor.hpp"
