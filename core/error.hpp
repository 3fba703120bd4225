// The error family. Every error a user can cause derives from tapeflow::Error,
// so one catch handles them all. Messages name the operation, what it got and
// what it expected (docs/semantics.md §0.3).
#pragma once
#include <stdexcept>
#include <string>

namespace tapeflow {

/// Base of every tapeflow exception.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A bad argument or hyperparameter, or misuse of the API.
class InvalidArgumentError : public Error {
 public:
  using Error::Error;
};

/// Shapes that do not fit together.
class ShapeError : public InvalidArgumentError {
 public:
  using InvalidArgumentError::InvalidArgumentError;
};

/// A dtype the operation cannot take, or two that differ.
class DTypeError : public InvalidArgumentError {
 public:
  using InvalidArgumentError::InvalidArgumentError;
};

/// A file that is missing, truncated, forged or corrupt (IDX data, checkpoints).
class DataError : public Error {
 public:
  using Error::Error;
};

/// apply_gradients received gradients that are all none.
class NoGradientsError : public Error {
 public:
  using Error::Error;
};

/// apply_gradients or compute_gradients received no variables at all.
class NoVariablesError : public Error {
 public:
  using Error::Error;
};

/// A non-finite gradient met the clipping stage's `raise` policy.
class NonFiniteError : public Error {
 public:
  using Error::Error;
};

/// Data-parallel training: an MPI call failed, or a collective did not
/// complete within the timeout (another rank died, stalled or left the loop).
class CommunicationError : public Error {
 public:
  using Error::Error;
};

}  // namespace tapeflow
