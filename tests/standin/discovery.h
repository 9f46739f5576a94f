#pragma once
/// Discovery and OpenAPI documents for the served types: /version, /api, /api/v1, /apis,
/// /apis/GROUP, /apis/GROUP/VERSION (plain, non-aggregated discovery; clients that ask for
/// aggregated discovery fall back to it because the answer is plain application/json), and
/// the OpenAPI v3 index and per-group-version documents with the PATCH operations and their
/// fieldValidation parameter, which is what `kubectl apply` checks before relying on
/// server-side field validation. Pure; documents are built once.

#include <optional>
#include <string>
#include <string_view>

#include "tests/standin/resource_types.h"

namespace kubehub::standin {

class Discovery {
 public:
  static constexpr const char* kGitVersion = "v1.32.4";

  explicit Discovery(const ResourceRegistry& registry);

  const std::string& version() const { return version_; }
  const std::string& apiVersions() const { return api_versions_; }
  const std::string& groupList() const { return group_list_; }
  /// nullopt when the group or group/version is not served.
  std::optional<std::string> group(std::string_view name) const;
  std::optional<std::string> resourceList(std::string_view group, std::string_view version) const;
  const std::string& openapiV3Index() const { return openapi_index_; }
  /// `path` is "api/v1" or "apis/GROUP/VERSION".
  std::optional<std::string> openapiV3(std::string_view path) const;

 private:
  const ResourceRegistry& registry_;
  std::string version_;
  std::string api_versions_;
  std::string group_list_;
  std::string openapi_index_;
};

}  // namespace kubehub::standin
