#pragma once
/// Exponential backoff with full jitter (sleep = uniform[0, min(cap, base * 2^attempt)]), so
/// that thousands of agents reconnecting at once spread out instead of arriving in waves.
/// Pure; not thread-safe.

#include <chrono>
#include <random>

namespace kubehub::net {

class Backoff {
 public:
  using Duration = std::chrono::milliseconds;
  Backoff(Duration base, Duration cap) : base_(base), cap_(cap) {}

  /// The ceiling of the next delay (before jitter).
  Duration ceiling() const {
    // Doubling stops once the cap is reached; avoids overflow for large attempt counts.
    Duration c = base_;
    for (int i = 0; i < attempt_ && c < cap_; ++i) c *= 2;
    return c < cap_ ? c : cap_;
  }

  /// The next delay to wait, and counts an attempt.
  template <typename Rng>
  Duration next(Rng& rng) {
    Duration c = ceiling();
    ++attempt_;
    std::uniform_int_distribution<int64_t> dist(0, c.count());
    return Duration(dist(rng));
  }

  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  Duration base_;
  Duration cap_;
  int attempt_ = 0;
};

}  // namespace kubehub::net
