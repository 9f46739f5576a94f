#pragma once
/// The edge API server's discovery documents as the agent reads them (APIResourceList,
/// APIGroupList) and the resource types it reports to the hub. The documents are outside input:
/// a member of the wrong type is skipped, never thrown on. Pure; thread-safe.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::agent {

struct ResourceType {
  std::string group;
  std::string version;
  std::string resource;
  std::string kind;
  bool namespaced = false;
  std::vector<std::string> verbs;
  std::vector<std::string> subresources;
};

/// Parses an APIResourceList document (from /api/v1 or /apis/G/V). Subresources ("pods/log")
/// are attached to their parent resource.
absl::StatusOr<std::vector<ResourceType>> parseResourceList(std::string_view json,
                                                            const std::string& group,
                                                            const std::string& version);
/// Group versions listed by an APIGroupList document (/apis), as "group/version".
absl::StatusOr<std::vector<std::string>> parseGroupVersions(std::string_view json);

nlohmann::json toJson(const std::vector<ResourceType>& types);

}  // namespace kubehub::agent
