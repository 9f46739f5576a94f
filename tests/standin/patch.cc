#include "tests/standin/patch.h"

#include <algorithm>
#include <optional>
#include <string>

#include "tests/standin/api_error.h"

namespace kubehub::standin {
namespace {

constexpr std::string_view kOrderPrefix = "$setElementOrder/";
constexpr std::string_view kDeletePrimitivePrefix = "$deleteFromPrimitiveList/";

// The patchMergeKey of list fields of the built-in types, by field name.
std::optional<std::string> mergeKeyFor(std::string_view field, const Json& patch_list) {
  if (field == "containers" || field == "initContainers" || field == "ephemeralContainers" ||
      field == "volumes" || field == "env" || field == "imagePullSecrets" ||
      field == "resourceClaims") {
    return "name";
  }
  if (field == "volumeMounts") return "mountPath";
  if (field == "volumeDevices") return "devicePath";
  if (field == "hostAliases" || field == "podIPs" || field == "hostIPs") return "ip";
  if (field == "conditions" || field == "addresses") return "type";
  if (field == "ownerReferences") return "uid";
  if (field == "taints") return "key";
  if (field == "topologySpreadConstraints") return "topologyKey";
  if (field == "ports") {
    // Container ports merge on containerPort, service ports on port.
    for (const Json& e : patch_list) {
      if (e.is_object() && e.contains("containerPort")) return "containerPort";
    }
    return "port";
  }
  return std::nullopt;
}

bool isPrimitiveMergeList(std::string_view field) { return field == "finalizers"; }

Json stripDirectives(const Json& v);

Json stripObject(const Json& obj) {
  Json out = Json::object();
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (it.key().starts_with("$")) continue;
    if (it.value().is_null()) continue;
    out[it.key()] = stripDirectives(it.value());
  }
  return out;
}

Json stripDirectives(const Json& v) {
  if (v.is_object()) return stripObject(v);
  if (v.is_array()) {
    Json out = Json::array();
    for (const Json& e : v) {
      if (e.is_object() && e.contains("$patch")) continue;
      out.push_back(stripDirectives(e));
    }
    return out;
  }
  return v;
}

absl::StatusOr<Json> mergeMap(const Json& original, const Json& patch);

bool sameKey(const Json& a, const Json& b, const std::string& key) {
  auto ia = a.find(key);
  auto ib = b.find(key);
  return ia != a.end() && ib != b.end() && *ia == *ib;
}

void applyOrder(Json& list, const Json& order, const std::optional<std::string>& key) {
  if (!order.is_array()) return;
  Json out = Json::array();
  std::vector<bool> used(list.size(), false);
  for (const Json& o : order) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (used[i]) continue;
      bool match = key.has_value() && o.is_object() && list[i].is_object()
                       ? sameKey(list[i], o, *key)
                       : list[i] == o;
      if (match) {
        out.push_back(list[i]);
        used[i] = true;
        break;
      }
    }
  }
  for (size_t i = 0; i < list.size(); ++i) {
    if (!used[i]) out.push_back(list[i]);
  }
  list = std::move(out);
}

absl::StatusOr<Json> mergeList(std::string_view field, const Json& original, const Json& patch,
                               const Json* order) {
  std::optional<std::string> key = mergeKeyFor(field, patch);
  for (const Json& e : patch) {
    if (e.is_object() && e.value("$patch", std::string()) == "replace") {
      Json out = stripDirectives(patch);
      return out;
    }
  }
  Json result;
  if (isPrimitiveMergeList(field)) {
    result = original.is_array() ? original : Json::array();
    for (const Json& e : patch) {
      if (std::find(result.begin(), result.end(), e) == result.end()) result.push_back(e);
    }
  } else if (!key.has_value()) {
    result = stripDirectives(patch);
  } else {
    result = original.is_array() ? original : Json::array();
    for (const Json& e : patch) {
      if (!e.is_object() || !e.contains(*key)) {
        return badRequest("map: " + dumpJson(e) + " does not contain declared merge key: " + *key);
      }
      bool remove = e.value("$patch", std::string()) == "delete";
      bool found = false;
      for (size_t i = 0; i < result.size(); ++i) {
        if (!result[i].is_object() || !sameKey(result[i], e, *key)) continue;
        found = true;
        if (remove) {
          result.erase(result.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
          auto merged = mergeMap(result[i], e);
          if (!merged.ok()) return merged.status();
          result[i] = std::move(*merged);
        }
        break;
      }
      if (!found && !remove) result.push_back(stripObject(e));
    }
  }
  if (order != nullptr) applyOrder(result, *order, key);
  return result;
}

absl::StatusOr<Json> mergeMap(const Json& original, const Json& patch) {
  if (!patch.is_object()) return stripDirectives(patch);
  std::string directive = patch.value("$patch", std::string());
  if (directive == "replace") return stripObject(patch);
  if (directive == "delete") return Json();  // the caller removes the field
  Json result = original.is_object() ? original : Json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    const Json& v = it.value();
    if (k.starts_with(kDeletePrimitivePrefix)) {
      std::string field = k.substr(kDeletePrimitivePrefix.size());
      if (result.contains(field) && result[field].is_array() && v.is_array()) {
        Json kept = Json::array();
        for (const Json& e : result[field]) {
          if (std::find(v.begin(), v.end(), e) == v.end()) kept.push_back(e);
        }
        result[field] = std::move(kept);
      }
      continue;
    }
    if (k.starts_with("$")) continue;
    if (v.is_null()) {
      result.erase(k);
      continue;
    }
    if (v.is_object()) {
      const Json empty = Json::object();
      auto merged = mergeMap(result.contains(k) ? result[k] : empty, v);
      if (!merged.ok()) return merged.status();
      if (merged->is_null()) {
        result.erase(k);
      } else {
        result[k] = std::move(*merged);
      }
      continue;
    }
    if (v.is_array()) {
      auto ord = patch.find(std::string(kOrderPrefix) + k);
      const Json empty = Json::array();
      auto merged = mergeList(k, result.contains(k) ? result[k] : empty, v,
                              ord == patch.end() ? nullptr : &*ord);
      if (!merged.ok()) return merged.status();
      result[k] = std::move(*merged);
      continue;
    }
    result[k] = v;
  }
  // A $setElementOrder for a list the patch did not touch still reorders it.
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (!it.key().starts_with(kOrderPrefix)) continue;
    std::string field = it.key().substr(kOrderPrefix.size());
    if (patch.contains(field) || !result.contains(field) || !result[field].is_array()) continue;
    applyOrder(result[field], it.value(), mergeKeyFor(field, it.value()));
  }
  if (auto rk = patch.find("$retainKeys"); rk != patch.end() && rk->is_array()) {
    Json kept = Json::object();
    for (auto it = result.begin(); it != result.end(); ++it) {
      if (std::find(rk->begin(), rk->end(), it.key()) != rk->end()) kept[it.key()] = it.value();
    }
    result = std::move(kept);
  }
  return result;
}

}  // namespace

std::optional<PatchType> patchTypeFor(std::string_view content_type) {
  std::string_view base = content_type.substr(0, content_type.find(';'));
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  if (base == "application/merge-patch+json") return PatchType::kMerge;
  if (base == "application/json-patch+json") return PatchType::kJson;
  if (base == "application/strategic-merge-patch+json") return PatchType::kStrategic;
  if (base == "application/apply-patch+yaml" || base == "application/apply-patch+json") {
    return PatchType::kApply;
  }
  return std::nullopt;
}

absl::StatusOr<Json> applyMergePatch(const Json& target, const Json& patch) {
  Json result = target;
  result.merge_patch(patch);
  return result;
}

absl::StatusOr<Json> applyJsonPatch(const Json& target, const Json& patch) {
  if (!patch.is_array()) {
    return apiError(422, "Invalid",
                    "the server rejected our request due to an error in our request");
  }
  try {
    return target.patch(patch);
  } catch (const std::exception& e) {
    // nlohmann reports failed tests and bad paths by throwing; the server answers 422.
    return apiError(422, "Invalid",
                    std::string("the server rejected our request due to an "
                                "error in our request: ") +
                        e.what());
  }
}

absl::StatusOr<Json> applyStrategicMergePatch(const Json& target, const Json& patch) {
  if (!patch.is_object()) {
    return badRequest(
        "the body of the request was in an unknown format - accepted media types "
        "include: application/json-patch+json, application/merge-patch+json, "
        "application/apply-patch+yaml");
  }
  auto merged = mergeMap(target, patch);
  if (!merged.ok()) return merged.status();
  if (merged->is_null()) return Json::object();
  return merged;
}

}  // namespace kubehub::standin
