// Data: the IDX file format of MNIST and Fashion-MNIST, and batching.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tapeflow/core/tensor.hpp"

namespace tapeflow {

/// The contents of an IDX file of unsigned bytes (type code 0x08).
struct IdxFile {
  Shape dims;
  std::vector<std::uint8_t> data;
};

/// Reads an IDX file, gzip-compressed or raw (zlib reads both). Checks the
/// magic number, the type code (unsigned byte), the rank and that the sizes
/// fit the bytes actually present before building the result.
/// @throws DataError naming the file and the problem.
IdxFile read_idx(const std::string& path);

/// Writes an IDX file of unsigned bytes (gzip when `path` ends in .gz).
void write_idx(const std::string& path, const Shape& dims, const std::vector<std::uint8_t>& data);

/// Images [N, H, W, 1] as float32 in [0, 1] (pixel / 255) and labels [N] as int64.
struct Dataset {
  Tensor images;
  Tensor labels;
  std::size_t size() const { return labels.defined() ? labels.size() : 0; }
};

/// Loads `split` ("train" or "t10k") from `dir`, accepting the common
/// spellings (train-images-idx3-ubyte, train-images.idx3-ubyte, with or
/// without .gz). `limit` > 0 keeps only the first `limit` examples.
/// @throws DataError listing the paths tried and how to get the data, or for
/// images and labels of different counts.
Dataset load_idx_dataset(const std::string& dir, const std::string& split, std::size_t limit = 0);

/// Which part of every epoch a process takes in data-parallel training:
/// `{rank, size}` (e.g. `{mpi::rank(), mpi::size()}`).
struct Shard {
  std::size_t index = 0;
  std::size_t count = 1;
};

/// Mini-batches over a dataset: a fresh seeded shuffle each epoch (the order
/// of epoch e depends only on (seed, e), so a resumed run sees the same
/// batches), and a last partial batch unless `drop_last`.
///
/// With a shard {r, n}, the epoch's shuffled order is cut to a multiple of n
/// (the remainder is left out for this epoch, as every epoch reshuffles) and
/// shard r takes its positions r, r + n, r + 2n, ...: the shards are disjoint,
/// all have the same number of batches, and batch i of the n shards together
/// are exactly batch i of one process with n times the batch size. Every
/// process must pass the same seed.
///
///     for (const Dataset& batch : batches.epoch(e)) { ... }
class Batches {
 public:
  /// Walks the batches of the current epoch; dereferencing builds the batch.
  class Iterator {
   public:
    Iterator(const Batches* batches, std::size_t i) : batches_(batches), i_(i) {}
    Dataset operator*() const { return batches_->batch(i_); }
    Iterator& operator++() { return ++i_, *this; }
    bool operator==(const Iterator& o) const { return i_ == o.i_; }
    bool operator!=(const Iterator& o) const { return i_ != o.i_; }

   private:
    const Batches* batches_;
    std::size_t i_;
  };
  /// One epoch's batches as a range (valid while the Batches lives and no
  /// other epoch is started).
  class Epoch {
   public:
    explicit Epoch(const Batches* batches) : batches_(batches) {}
    Iterator begin() const { return {batches_, 0}; }
    Iterator end() const { return {batches_, batches_->size()}; }
    std::size_t size() const { return batches_->size(); }

   private:
    const Batches* batches_;
  };

  /// @throws InvalidArgumentError for batch_size 0, a shard with index >=
  /// count, or fewer examples than shards (an empty dataset without shards
  /// is fine: it has no batches).
  Batches(const Dataset& data, std::size_t batch_size, std::uint64_t seed, bool shuffle = true,
          bool drop_last = false, Shard shard = {});
  /// Batches per epoch.
  std::size_t size() const;
  /// Starts epoch `epoch` (its own permutation).
  void start_epoch(std::size_t epoch);
  /// Starts epoch `epoch` and returns its batches as a range.
  Epoch epoch(std::size_t epoch) {
    start_epoch(epoch);
    return Epoch(this);
  }
  /// Batch `i` of the current epoch: images [B, H, W, C] and labels [B].
  Dataset batch(std::size_t i) const;

 private:
  Dataset data_;  // a copy of two handles: cheap, and safe with a temporary
  std::size_t batch_size_;
  std::uint64_t seed_;
  bool shuffle_, drop_last_;
  Shard shard_;
  std::vector<std::size_t> order_;  // this shard's examples, in this epoch's order
};

/// (x - mean) / stddev, elementwise (e.g. with the training set's pixel mean
/// and deviation). Data preparation: not recorded on a tape.
/// @throws InvalidArgumentError unless stddev > 0 and both are finite.
Tensor standardize(const Tensor& images, double mean, double stddev);

}  // namespace tapeflow
