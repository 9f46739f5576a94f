#include "proto/discovery_report.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

namespace kubehub::proto {

namespace {

using Json = nlohmann::json;

/// The string member `key` of `o`: `fallback` when absent, nullopt when not a string.
std::optional<std::string> stringMember(const Json& o, const char* key, std::string fallback) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return fallback;
  if (!it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<DiscoveredType> readType(const Json& r) {
  if (!r.is_object()) return std::nullopt;
  DiscoveredType t;
  auto group = stringMember(r, "group", "");
  auto version = stringMember(r, "version", "");
  auto resource = stringMember(r, "resource", "");
  auto kind = stringMember(r, "kind", "");
  if (!group || !version || !resource || !kind) return std::nullopt;
  t.group = std::move(*group);
  t.version = std::move(*version);
  t.resource = std::move(*resource);
  t.kind = std::move(*kind);
  if (auto it = r.find("namespaced"); it != r.end() && !it->is_null()) {
    if (!it->is_boolean()) return std::nullopt;
    t.namespaced = it->get<bool>();
  }
  if (auto it = r.find("verbs"); it != r.end() && !it->is_null()) {
    if (!it->is_array()) return std::nullopt;
    for (const Json& v : *it) {
      if (v.is_string()) t.verbs.push_back(v.get<std::string>());
    }
  }
  return t;
}

}  // namespace

bool DiscoveredType::hasVerb(std::string_view verb) const {
  return std::find(verbs.begin(), verbs.end(), verb) != verbs.end();
}

DiscoveryReport discoveryReport(const DiscoveryResponse& response) {
  DiscoveryReport report;
  report.listed = response.resources.size();
  for (const Json& r : response.resources) {
    if (auto t = readType(r)) report.resources.push_back(std::move(*t));
  }
  auto git = response.server_version.find("gitVersion");
  if (git != response.server_version.end() && git->is_string()) {
    report.server_version = git->get<std::string>();
  }
  return report;
}

absl::StatusOr<DiscoveryReport> parseDiscoveryReport(std::string_view message) {
  auto response = parseDiscoveryResponse(message);
  if (!response.ok()) return response.status();
  return discoveryReport(*response);
}

}  // namespace kubehub::proto
