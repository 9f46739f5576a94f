#pragma once
/// Kubernetes resource quantities ("4", "3500m", "16Gi", "16331164Ki", "1.5G", "2e3") as the API
/// server writes them in node capacity and allocatable. Pure.

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace kubehub::k8s {

/// The quantity times 10^`scale10`, rounded up to a whole number (as resource.Quantity's
/// MilliValue and Value round): scale10 = 3 gives millicores from a CPU quantity, 0 gives bytes
/// from a memory quantity. Accepts an optional sign, digits with an optional fraction, and one
/// suffix: binary (Ki Mi Gi Ti Pi Ei), decimal (n u m k M G T P E) or an exponent (e3, E-2).
/// InvalidArgument when malformed; OutOfRange when the result does not fit an int64.
absl::StatusOr<int64_t> parseQuantity(std::string_view text, int scale10);

/// CPU in millicores ("2" → 2000, "3500m" → 3500, "250u" → 1).
inline absl::StatusOr<int64_t> parseMilliQuantity(std::string_view text) {
  return parseQuantity(text, 3);
}

/// Memory or storage in bytes ("16Gi" → 17179869184, "1.5k" → 1500).
inline absl::StatusOr<int64_t> parseByteQuantity(std::string_view text) {
  return parseQuantity(text, 0);
}

}  // namespace kubehub::k8s
