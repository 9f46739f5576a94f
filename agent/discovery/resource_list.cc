#include "agent/discovery/resource_list.h"

#include <map>

namespace kubehub::agent {

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
    if (auto kind = r.find("kind"); kind != r.end() && kind->is_string()) {
      t.kind = kind->get<std::string>();
    }
    if (auto ns = r.find("namespaced"); ns != r.end() && ns->is_boolean()) {
      t.namespaced = ns->get<bool>();
    }
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

}  // namespace kubehub::agent
