// Checkpoints: variables, optimizer slots and counters in one .npz file.
#pragma once
#include <string>
#include <vector>

#include "tapeflow/autograd/variable.hpp"
#include "tapeflow/core/npz.hpp"
#include "tapeflow/optim/optimizer.hpp"

namespace tapeflow {

/// Writes `variables` (as "vars/<name>"), the optimizer's state (as
/// "optimizer/<var name>/<slot>", "optimizer/type", "optimizer/iterations",
/// "optimizer/beta1_power"...) and `extra` tensors (as "extra/<key>") to
/// `path` atomically (docs/semantics.md §12).
/// @throws InvalidArgumentError for two variables with one name; DataError on I/O failure.
void save_checkpoint(const std::string& path, const std::vector<Variable>& variables,
                     const Optimizer* optimizer = nullptr, const NamedTensors& extra = {});

/// Verifies the file and restores into `variables` and `optimizer`; returns the
/// extra tensors. All or nothing: on a corrupt file, a missing variable, a
/// shape/dtype mismatch, or optimizer state of another optimizer type it
/// throws DataError and changes nothing.
NamedTensors restore_checkpoint(const std::string& path, const std::vector<Variable>& variables,
                                Optimizer* optimizer = nullptr);

/// A whole training state: save_checkpoint plus the global step (entry
/// "global_step"), so a resumed run continues its schedule where it stopped.
void save_training_state(const std::string& path, const std::vector<Variable>& variables,
                         const Optimizer& optimizer, const Variable& global_step,
                         const NamedTensors& extra = {});
/// Restores what save_training_state wrote, all or nothing; returns the extras.
/// @throws DataError as restore_checkpoint, or when the file has no global step.
NamedTensors restore_training_state(const std::string& path, const std::vector<Variable>& variables,
                                    Optimizer& optimizer, Variable& global_step);

}  // namespace tapeflow
