// Named tensors in NumPy's .npz format (an uncompressed zip of .npy files),
// the checkpoint format: `numpy.load("ckpt.npz")` reads it.
#pragma once
#include <string>
#include <unordered_map>

#include "tapeflow/core/tensor.hpp"

namespace tapeflow {

/// Tensors by name: the entries of an .npz file or a checkpoint.
using NamedTensors = std::unordered_map<std::string, Tensor>;

/// Writes the entries in name order (so equal contents give equal bytes),
/// atomically (temporaries of killed writers to the same path are removed): a temporary file beside
/// `path`, flushed and fsynced, then renamed over `path`, so a crash leaves either the old or the
/// new file.
/// @throws DataError if the file cannot be written.
void save_npz(const std::string& path, const NamedTensors& tensors);

/// Reads every entry, checking the zip structure, each entry's CRC-32 and its
/// .npy header against its size, and the whole-file CRC-32 that save_npz puts
/// in the archive comment: required when `require_digest` (checkpoints),
/// checked when present otherwise (so NumPy's own .npz files load too).
/// @throws DataError naming the file and the problem for a missing, truncated
/// or altered file.
NamedTensors load_npz(const std::string& path, bool require_digest = false);

}  // namespace tapeflow
