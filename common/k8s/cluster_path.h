#pragma once
/// Parses users' request targets `/clusters/NAME/<kubernetes path>?query` and rejects path
/// tricks (dot segments, encoded slashes or dots, double slashes, backslashes, control bytes)
/// so that a request can never address a cluster other than the one its first segment names.

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kubehub::k8s {

struct ClusterTarget {
  std::string cluster;
  /// The Kubernetes path, starting with '/'.
  std::string path;
  /// The raw query without '?', possibly empty.
  std::string query;
  /// path + ("?" + query if any): what is sent to the edge.
  std::string upstreamTarget() const { return query.empty() ? path : path + "?" + query; }
};

/// Checks a path for traversal tricks. The error message says what was refused.
absl::Status checkPathSafe(std::string_view path);

/// InvalidArgument for malformed or unsafe targets, NotFound when the target is not under
/// /clusters/.
absl::StatusOr<ClusterTarget> parseClusterTarget(std::string_view target);

/// Percent-decodes; '+' becomes a space as in form encoding. Invalid escapes are kept as is.
std::string percentDecode(std::string_view in);

}  // namespace kubehub::k8s
