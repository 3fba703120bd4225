// Checkpoint save/restore on top of the .npz format.
#include "tapeflow/optim/checkpoint.hpp"

#include <fmt/format.h>

#include <set>

#include "tapeflow/core/error.hpp"
#include "tapeflow/core/npz.hpp"

namespace tapeflow {

namespace {
void save(const std::string& path, const std::vector<Variable>& variables,
          const Optimizer* optimizer, const Variable* global_step, const NamedTensors& extra) {
  NamedTensors all;
  if (global_step) all.emplace("global_step", global_step->value());
  for (const auto& v : variables) {
    if (!all.emplace("vars/" + v.name(), v.value()).second) {
      throw InvalidArgumentError(fmt::format(
          "save_checkpoint: two variables are named '{}'; names must be unique", v.name()));
    }
  }
  if (optimizer) {
    for (const auto& [k, t] : optimizer->state()) all.emplace("optimizer/" + k, t);
  }
  for (const auto& [k, t] : extra) all.emplace("extra/" + k, t);
  save_npz(path, all);
}

NamedTensors restore(const std::string& path, const std::vector<Variable>& variables,
                     Optimizer* optimizer, Variable* global_step) {
  const auto all = load_npz(path, /*require_digest=*/true);
  const Tensor* step = nullptr;
  if (global_step) {
    auto it = all.find("global_step");
    if (it == all.end()) {
      throw DataError(
          fmt::format("restore_training_state: '{}' has no global_step entry (was it written by "
                      "save_checkpoint rather than save_training_state?)",
                      path));
    }
    if (it->second.shape() != global_step->shape() || it->second.dtype() != global_step->dtype()) {
      throw DataError(fmt::format(
          "restore_training_state: global_step is {} {} in '{}' but {} {} in the program",
          dtype_name(it->second.dtype()), shape_str(it->second.shape()), path,
          dtype_name(global_step->dtype()), shape_str(global_step->shape())));
    }
    step = &it->second;
  }
  // 1. Every variable must be present with its shape and dtype.
  std::vector<const Tensor*> values;
  for (const auto& v : variables) {
    auto it = all.find("vars/" + v.name());
    if (it == all.end()) {
      throw DataError(fmt::format("restore_checkpoint: '{}' has no variable '{}'", path, v.name()));
    }
    if (it->second.shape() != v.shape() || it->second.dtype() != v.dtype()) {
      throw DataError(
          fmt::format("restore_checkpoint: variable '{}' is {} {} in '{}' but {} {} in the program",
                      v.name(), dtype_name(it->second.dtype()), shape_str(it->second.shape()), path,
                      dtype_name(v.dtype()), shape_str(v.shape())));
    }
    values.push_back(&it->second);
  }
  // 2. The optimizer validates its part before writing any of it.
  if (optimizer) {
    NamedTensors state;
    for (const auto& [k, t] : all) {
      if (k.rfind("optimizer/", 0) == 0) state.emplace(k.substr(10), t);
    }
    optimizer->load_state(state, variables);
  }
  // 3. Variables last: nothing left can fail.
  for (std::size_t i = 0; i < variables.size(); ++i) {
    Variable v = variables[i];
    v.assign(*values[i]);
  }
  if (step) global_step->assign(*step);
  NamedTensors extra;
  for (const auto& [k, t] : all) {
    if (k.rfind("extra/", 0) == 0) extra.emplace(k.substr(6), t);
  }
  return extra;
}
}  // namespace

void save_checkpoint(const std::string& path, const std::vector<Variable>& variables,
                     const Optimizer* optimizer, const NamedTensors& extra) {
  save(path, variables, optimizer, nullptr, extra);
}

NamedTensors restore_checkpoint(const std::string& path, const std::vector<Variable>& variables,
                                Optimizer* optimizer) {
  return restore(path, variables, optimizer, nullptr);
}

void save_training_state(const std::string& path, const std::vector<Variable>& variables,
                         const Optimizer& optimizer, const Variable& global_step,
                         const NamedTensors& extra) {
  save(path, variables, &optimizer, &global_step, extra);
}

NamedTensors restore_training_state(const std::string& path, const std::vector<Variable>& variables,
                                    Optimizer& optimizer, Variable& global_step) {
  return restore(path, variables, &optimizer, &global_step);
}

}  // namespace tapeflow
