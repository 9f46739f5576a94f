#pragma once
/// What the edge API server serves: its version and every resource type (group, version,
/// resource, kind, namespaced, verbs, subresources), gathered from /version, /api and /apis
/// and reported to the hub as a `discovery.response` control message.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/forward/upstream_client.h"

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

/// Fetches everything and returns the control message body (a JSON document).
boost::asio::awaitable<absl::StatusOr<std::string>> discover(std::shared_ptr<UpstreamClient> client,
                                                             int64_t request_id);

}  // namespace kubehub::agent
