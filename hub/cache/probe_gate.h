#pragma once
/// Shares the edge-resourceVersion probes of concurrent consistent reads of one type.
///
/// A consistent read needs the edge's resourceVersion from a probe that started after the read
/// arrived: an older probe could predate a write the reader has already seen acknowledged. Reads
/// that arrive while a probe is in flight therefore share the next one, which starts when the
/// current one ends. However many reads arrive at once, at most one probe per type is in flight
/// and each read waits for at most two.
/// Thread-safe; any number of coroutines on any executors may call run() concurrently.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::net {
class AsyncSignal;
}

namespace kubehub::hub::cache {

class ProbeGate {
 public:
  using Probe = std::function<boost::asio::awaitable<absl::StatusOr<uint64_t>>()>;

  /// The result of a probe started after this call began: this caller's own `probe`, or one
  /// another caller started. DeadlineExceeded when none finished within `timeout`, or when the
  /// probe this caller started ran for `timeout` (everyone sharing it gets that answer); so at
  /// most twice `timeout` in all.
  boost::asio::awaitable<absl::StatusOr<uint64_t>> run(Probe probe,
                                                       std::chrono::milliseconds timeout);

  /// Probes actually sent (for tests and the benchmark's explanations).
  uint64_t probesStarted() const;

 private:
  friend struct ProbeRunGuard;
  void finishLocked(uint64_t generation, absl::StatusOr<uint64_t> result,
                    std::vector<std::shared_ptr<net::AsyncSignal>>* wake);

  mutable std::mutex mu_;
  uint64_t started_ = 0;   // generation of the newest probe started
  uint64_t finished_ = 0;  // generation of the newest probe that delivered a result
  bool running_ = false;
  absl::StatusOr<uint64_t> result_ = absl::UnavailableError("no probe yet");
  std::vector<std::shared_ptr<net::AsyncSignal>> waiters_;
};

}  // namespace kubehub::hub::cache
