#pragma once
/// Per-tenant token buckets: `rate` requests per second with bursts of `burst`. Refused
/// requests get 429 with a Retry-After. Thread-safe; O(1) per request.

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace kubehub::hub {

class RateLimiter {
 public:
  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}
  /// True to admit; `retry_after` (seconds) is set when refused.
  bool admit(const std::string& key, std::chrono::steady_clock::time_point now, int* retry_after) {
    if (rate_ <= 0) return true;
    std::lock_guard lock(mu_);
    Bucket& b = buckets_[key];
    if (b.last.time_since_epoch().count() == 0) {
      b.tokens = burst_;
      b.last = now;
    }
    double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    b.last = now;
    if (b.tokens >= 1.0) {
      b.tokens -= 1.0;
      return true;
    }
    if (retry_after) *retry_after = static_cast<int>((1.0 - b.tokens) / rate_) + 1;
    return false;
  }

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last{};
  };
  const double rate_;
  const double burst_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace kubehub::hub
