// Checkpoints: variables, optimizer slots and counters in one .npz file.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "tapeflow/autograd/variable.hpp"
#include "tapeflow/optim/optimizer.hpp"

namespace tapeflow {

/// Writes `variables` (as "vars/<name>"), the optimizer's state (as
/// "optimizer/<var name>/<slot>", "optimizer/iterations", "optimizer/beta1_power"...)
/// and `extra` tensors (as "extra/<key>") to `path` atomically.
/// @throws InvalidArgumentError for two variables with one name; DataError on I/O failure.
void save_checkpoint(const std::string& path, const std::vector<Variable>& variables,
                     const Optimizer* optimizer = nullptr,
                     const std::map<std::string, Tensor>& extra = {});

/// Verifies the file and restores into `variables` and `optimizer`; returns the
/// extra tensors. All or nothing: on a corrupt file, a missing variable, or a
/// shape/dtype mismatch it throws DataError and changes nothing.
std::map<std::string, Tensor> restore_checkpoint(const std::string& path,
                                                 const std::vector<Variable>& variables,
                                                 Optimizer* optimizer = nullptr);

}  // namespace tapeflow
