#pragma once
/// When one tunnel sends the next `status` report: at once on a new tunnel, when the report
/// changed, and every `interval` regardless, but never twice within `min_interval`. Pure; one
/// per tunnel.

#include <chrono>
#include <cstdint>
#include <optional>

namespace kubehub::agent {

class StatusSchedule {
 public:
  using Clock = std::chrono::steady_clock;

  StatusSchedule(std::chrono::milliseconds interval, std::chrono::milliseconds min_interval)
      : interval_(interval), min_interval_(min_interval) {}

  /// Whether the report of `generation` (a counter the collector moves on every change) is to
  /// be sent at `now`.
  bool due(Clock::time_point now, uint64_t generation) const {
    if (!last_sent_) return true;
    auto since = now - *last_sent_;
    if (since < min_interval_) return false;
    return generation != sent_generation_ || since >= interval_;
  }

  void sent(Clock::time_point now, uint64_t generation) {
    last_sent_ = now;
    sent_generation_ = generation;
  }

 private:
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds min_interval_;
  std::optional<Clock::time_point> last_sent_;
  uint64_t sent_generation_ = 0;
};

}  // namespace kubehub::agent
