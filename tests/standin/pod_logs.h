#pragma once
/// Synthetic container logs, deterministic so tests can check them: a container's log is the
/// lines "line N from CONTAINER" (N = 1, 2, ...), ten of them at first and one more every
/// --log-interval while a client follows. A pod annotated
/// `standin.kubehub.io/log-bytes: "N"` instead has a log of exactly N bytes of fixed filler
/// lines, produced from one precomputed block, for throughput benchmarks. Pure.

#include <cstdint>
#include <string>

namespace kubehub::standin {

struct LogRequest {
  std::string container;
  bool follow = false;
  bool timestamps = false;
  int64_t tail_lines = -1;   // -1: all
  int64_t limit_bytes = -1;  // -1: unlimited
  uint64_t log_bytes = 0;    // from the annotation; 0: the line log
};

class PodLogs {
 public:
  /// Lines already in the log when a request arrives.
  static constexpr int64_t kHistoryLines = 10;
  static constexpr const char* kLogBytesAnnotation = "standin.kubehub.io/log-bytes";

  /// "line N from CONTAINER\n", with an RFC 3339 timestamp prefix when asked.
  static std::string line(const LogRequest& req, int64_t n);
  /// The initial part of the log (honouring tailLines and limitBytes).
  static std::string history(const LogRequest& req);
  /// A block of filler lines of exactly `size` bytes for the log-bytes mode (newline-ended
  /// lines; the last line may be cut by the size).
  static std::string fillerBlock(const std::string& container, size_t size);
};

}  // namespace kubehub::standin
