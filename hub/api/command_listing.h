#pragma once
/// The hub's cut of an agent's command listing (GET /clusters/C/kubehub/v1/commands): only the
/// commands the caller's grants name, so a listing never tells what they may not run. Pure.

#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kubehub::hub {

/// Listings larger than this are refused rather than buffered (an agent's holds at most a few
/// hundred commands of a few KiB each).
inline constexpr size_t kMaxCommandListingBytes = 4 << 20;

/// The listing's JSON (a CommandList: {"items": [{"name", ...}]}) with only the items whose
/// name is in `allowed`; InvalidArgument when it is not such a list.
absl::StatusOr<std::string> filterCommandListing(std::string_view body,
                                                 const std::set<std::string>& allowed);

}  // namespace kubehub::hub
