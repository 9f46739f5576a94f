#pragma once
/// A one-line secret kept in a file (a token mounted from a Kubernetes Secret), read again when
/// the file changes so that a rotated token is used without a restart. Thread-safe; pure (no
/// Asio).

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"

namespace kubehub::config {

class SecretFile {
 public:
  /// Reads `path` now: NotFound/InvalidArgument naming `flag` when it cannot be read or holds
  /// nothing (the first line, trailing spaces and CR removed).
  static absl::StatusOr<std::shared_ptr<SecretFile>> open(std::string path, std::string flag);

  /// The secret in force. At most once per `recheck` (1 s) it looks at the file again and, when
  /// it changed (inode, size or mtime: an atomic Secret update swaps the inode), reads it; a
  /// file that cannot be read or is empty keeps the previous value.
  std::string value();
  /// Times the value changed since open (for logs and tests).
  int changes() const;

  std::chrono::milliseconds recheck{1000};

 private:
  SecretFile(std::string path, std::string flag) : path_(std::move(path)), flag_(std::move(flag)) {}
  absl::Status load();

  const std::string path_;
  const std::string flag_;
  mutable std::mutex mu_;
  std::string value_;
  ino_t inode_ = 0;
  off_t size_ = 0;
  int64_t mtime_ns_ = 0;
  int changes_ = 0;
  int64_t failed_mtime_ns_ = -1;  // of contents that could not be used: warned once
  std::chrono::steady_clock::time_point next_check_{};
};

}  // namespace kubehub::config
