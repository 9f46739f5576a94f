#include "agent/discovery/discovery.h"

#include <map>

namespace kubehub::agent {

namespace asio = boost::asio;

absl::StatusOr<std::vector<ResourceType>> parseResourceList(std::string_view json,
                                                            const std::string& group,
                                                            const std::string& version) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("resources") ||
      !j["resources"].is_array()) {
    return absl::InvalidArgumentError("not an APIResourceList");
  }
  std::vector<ResourceType> out;
  std::map<std::string, size_t> index;
  std::vector<std::pair<std::string, std::string>> subs;
  for (const auto& r : j["resources"]) {
    if (!r.is_object() || !r.contains("name") || !r["name"].is_string()) continue;
    std::string name = r["name"].get<std::string>();
    if (auto slash = name.find('/'); slash != std::string::npos) {
      subs.emplace_back(name.substr(0, slash), name.substr(slash + 1));
      continue;
    }
    ResourceType t;
    t.group = group;
    t.version = version;
    t.resource = name;
    t.kind = r.value("kind", "");
    t.namespaced = r.value("namespaced", false);
    if (r.contains("verbs") && r["verbs"].is_array()) {
      for (const auto& v : r["verbs"]) {
        if (v.is_string()) t.verbs.push_back(v.get<std::string>());
      }
    }
    index[name] = out.size();
    out.push_back(std::move(t));
  }
  for (auto& [parent, sub] : subs) {
    if (auto it = index.find(parent); it != index.end())
      out[it->second].subresources.push_back(sub);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> parseGroupVersions(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("groups") || !j["groups"].is_array()) {
    return absl::InvalidArgumentError("not an APIGroupList");
  }
  std::vector<std::string> out;
  for (const auto& g : j["groups"]) {
    if (!g.is_object() || !g.contains("versions") || !g["versions"].is_array()) continue;
    for (const auto& v : g["versions"]) {
      if (v.is_object() && v.contains("groupVersion") && v["groupVersion"].is_string()) {
        out.push_back(v["groupVersion"].get<std::string>());
      }
    }
  }
  return out;
}

nlohmann::json toJson(const std::vector<ResourceType>& types) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& t : types) {
    arr.push_back({{"group", t.group},
                   {"version", t.version},
                   {"resource", t.resource},
                   {"kind", t.kind},
                   {"namespaced", t.namespaced},
                   {"verbs", t.verbs},
                   {"subresources", t.subresources}});
  }
  return arr;
}

asio::awaitable<absl::StatusOr<std::string>> discover(std::shared_ptr<UpstreamClient> client,
                                                      int64_t request_id) {
  std::vector<ResourceType> all;
  nlohmann::json version = nlohmann::json::object();
  auto v = co_await UpstreamClient::get(client, "/version");
  if (!v.ok()) co_return v.status();
  if (v->status == 200) {
    auto parsed = nlohmann::json::parse(v->body, nullptr, false);
    if (!parsed.is_discarded()) version = parsed;
  } else if (v->status == 401 || v->status == 403) {
    co_return absl::PermissionDeniedError("the API server refused the agent's credentials (HTTP " +
                                          std::to_string(v->status) + ")");
  }
  auto core = co_await UpstreamClient::get(client, "/api/v1");
  if (!core.ok()) co_return core.status();
  if (core->status != 200) {
    co_return absl::UnavailableError("GET /api/v1 answered HTTP " + std::to_string(core->status));
  }
  auto core_types = parseResourceList(core->body, "", "v1");
  if (!core_types.ok()) co_return core_types.status();
  all.insert(all.end(), core_types->begin(), core_types->end());

  auto groups = co_await UpstreamClient::get(client, "/apis");
  if (!groups.ok()) co_return groups.status();
  if (groups->status != 200) {
    co_return absl::UnavailableError("GET /apis answered HTTP " + std::to_string(groups->status));
  }
  auto gvs = parseGroupVersions(groups->body);
  if (!gvs.ok()) co_return gvs.status();
  std::vector<std::string> failed;
  for (const auto& gv : *gvs) {
    std::string request_0 = "/apis/" + gv;
    auto list = co_await UpstreamClient::get(client, request_0);
    if (!list.ok() || list->status != 200) {
      failed.push_back(gv);  // an unavailable aggregated API must not hide the others
      continue;
    }
    size_t slash = gv.find('/');
    auto types = parseResourceList(list->body, gv.substr(0, slash),
                                   slash == std::string::npos ? "" : gv.substr(slash + 1));
    if (types.ok()) all.insert(all.end(), types->begin(), types->end());
  }
  nlohmann::json msg = {{"type", "discovery.response"},
                        {"id", request_id},
                        {"serverVersion", version},
                        {"resources", toJson(all)},
                        {"failedGroupVersions", failed}};
  co_return msg.dump();
}

}  // namespace kubehub::agent
