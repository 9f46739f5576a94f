#pragma once
/// RFC 3339 times as Kubernetes writes them (metav1.Time: seconds, "Z"; metav1.MicroTime:
/// microseconds) and reads them (any offset, optional fraction). Pure.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kubehub::k8s {

/// A point in time: seconds since the epoch (UTC) and nanoseconds within the second.
struct Timestamp {
  int64_t seconds = 0;
  int32_t nanos = 0;
};

/// Parses "2006-01-02T15:04:05[.frac](Z|±hh:mm)"; nullopt when malformed or out of range.
std::optional<Timestamp> parseRfc3339(std::string_view text);
/// "2006-01-02T15:04:05Z" (metav1.Time).
std::string formatRfc3339(int64_t unix_seconds);
/// "2006-01-02T15:04:05.000000Z" (metav1.MicroTime).
std::string formatRfc3339Micro(Timestamp t);

}  // namespace kubehub::k8s
