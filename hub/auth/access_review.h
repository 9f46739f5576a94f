#pragma once
/// `kubectl auth can-i` sends a SelfSubjectAccessReview, as JSON or (typed clients) as
/// Kubernetes protobuf. The hub reads what it asks so that its own grants answer first. Pure;
/// bounds-checked (bodies are untrusted).

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kubehub::hub {

struct ReviewAttributes {
  bool is_resource = true;
  std::string namespace_name;
  std::string verb;
  std::string group;
  std::string version;
  std::string resource;
  std::string subresource;
  std::string name;
  std::string path;  // non-resource
};

absl::StatusOr<ReviewAttributes> parseAccessReview(std::string_view body,
                                                   std::string_view content_type);

/// A SelfSubjectAccessReview (JSON) answering `allowed: false` with `reason`.
std::string deniedAccessReview(const ReviewAttributes& a, std::string_view reason);

}  // namespace kubehub::hub
