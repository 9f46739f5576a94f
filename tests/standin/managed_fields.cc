#include "tests/standin/managed_fields.h"

#include <map>
#include <set>
#include <vector>

namespace kubehub::standin {
namespace {

/// Separates the segments of a field path ("f:spec", "k:{...}", ".") in the flat form.
constexpr char kSep = '\x1f';

/// A field path -> the value there (null for `.` markers, which stand for a map or a list
/// element itself).
using Leaves = std::map<std::string, Json>;
using PathSet = std::set<std::string>;

/// Members a write of metadata owns; the rest are the server's (name, uid, resourceVersion...).
bool ownedMetadataField(const std::string& key) {
  return key == "labels" || key == "annotations" || key == "ownerReferences" || key == "finalizers";
}

/// `k:{...}` for a list element with an identity, or "" for an atomic list's element.
std::string elementKey(const Json& e) {
  if (!e.is_object()) return {};
  auto scalar = [&](const char* k) {
    auto it = e.find(k);
    return it != e.end() && (it->is_string() || it->is_number_integer());
  };
  Json key = Json::object();
  // Members in alphabetical order, as the API server prints the key.
  if (scalar("uid")) {
    key["uid"] = e["uid"];
  } else if (scalar("containerPort")) {
    key["containerPort"] = e["containerPort"];
    key["protocol"] = e.value("protocol", std::string("TCP"));
  } else if (scalar("port")) {
    key["port"] = e["port"];
    key["protocol"] = e.value("protocol", std::string("TCP"));
  } else if (scalar("name")) {
    key["name"] = e["name"];
  } else if (scalar("type")) {
    key["type"] = e["type"];
  } else if (scalar("mountPath")) {
    key["mountPath"] = e["mountPath"];
  } else if (scalar("devicePath")) {
    key["devicePath"] = e["devicePath"];
  } else if (scalar("ip")) {
    key["ip"] = e["ip"];
  } else {
    return {};
  }
  return "k:" + key.dump();
}

bool keyedList(const Json& v) {
  if (!v.is_array() || v.empty()) return false;
  for (const Json& e : v) {
    if (elementKey(e).empty()) return false;
  }
  return true;
}

void walk(const Json& value, const std::string& path, int depth, Leaves* out);

void walkMembers(const Json& object, const std::string& path, int depth, Leaves* out) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    walk(it.value(), path + kSep + "f:" + it.key(), depth + 1, out);
  }
}

void walk(const Json& value, const std::string& path, int depth, Leaves* out) {
  if (value.is_object() && !value.empty()) {
    // Maps below the top-level sections are owned as a whole too (`.`), as labels are.
    if (depth >= 2) (*out)[path + kSep + "."] = nullptr;
    walkMembers(value, path, depth, out);
    return;
  }
  if (keyedList(value)) {
    for (const Json& e : value) {
      std::string p = path + kSep + elementKey(e);
      (*out)[p + kSep + "."] = nullptr;
      walkMembers(e, p, depth + 1, out);
    }
    return;
  }
  (*out)[path] = value;
}

/// The leaves of what a write of `who` covers: .status for the status subresource, everything
/// else otherwise (metadata only as far as clients own it).
Leaves leavesOf(const Json& object, bool status) {
  Leaves out;
  if (!object.is_object()) return out;
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& key = it.key();
    if (key == "kind" || key == "apiVersion") continue;
    if ((key == "status") != status) continue;
    if (key == "metadata") {
      if (!it->is_object()) continue;
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (ownedMetadataField(m.key()))
          walk(m.value(), "f:metadata" + (kSep + ("f:" + m.key())), 2, &out);
      }
      continue;
    }
    walk(it.value(), "f:" + key, 1, &out);
  }
  return out;
}

void pathsOf(const Json& tree, const std::string& prefix, PathSet* out) {
  if (!tree.is_object()) return;
  for (auto it = tree.begin(); it != tree.end(); ++it) {
    std::string p = prefix.empty() ? it.key() : prefix + kSep + it.key();
    if (it->is_object() && !it->empty()) {
      pathsOf(it.value(), p, out);
    } else {
      out->insert(std::move(p));
    }
  }
}

Json treeOf(const PathSet& paths) {
  Json tree = Json::object();
  for (const std::string& p : paths) {
    Json* node = &tree;
    size_t pos = 0;
    while (pos <= p.size()) {
      size_t end = p.find(kSep, pos);
      if (end == std::string::npos) end = p.size();
      Json& child = (*node)[p.substr(pos, end - pos)];
      if (!child.is_object()) child = Json::object();
      node = &child;
      pos = end + 1;
    }
  }
  return tree;
}

bool sameManager(const Json& entry, const FieldManager& who) {
  return entry.is_object() && entry.value("manager", std::string()) == who.manager &&
         entry.value("operation", std::string()) == who.operation &&
         entry.value("subresource", std::string()) == who.subresource;
}

}  // namespace

std::string managerName(const std::string& field_manager, const std::string& user_agent) {
  if (!field_manager.empty()) return field_manager;
  std::string prefix = user_agent.substr(0, user_agent.find('/'));
  return prefix.empty() ? "unknown" : prefix;
}

void recordManagedFields(Json& object, const Json* old, const FieldManager& who,
                         const std::string& api_version, const std::string& time) {
  if (!object.is_object()) return;
  Json& meta = object["metadata"];
  if (!meta.is_object()) return;
  Json entries = Json::array();
  if (auto it = meta.find("managedFields"); it != meta.end() && it->is_array()) entries = *it;
  const bool status = who.subresource == "status";
  Leaves before = old != nullptr ? leavesOf(*old, status) : Leaves{};
  Leaves after = leavesOf(object, status);
  PathSet changed;
  PathSet removed;
  for (const auto& [path, value] : after) {
    auto it = before.find(path);
    if (it == before.end() || it->second != value) changed.insert(path);
  }
  for (const auto& [path, value] : before) {
    if (after.count(path) == 0) removed.insert(path);
  }

  if (!changed.empty() || !removed.empty()) {
    Json next = Json::array();
    bool found = false;
    for (Json& entry : entries) {
      PathSet owned;
      if (entry.is_object() && entry.contains("fieldsV1")) pathsOf(entry["fieldsV1"], "", &owned);
      const bool mine = sameManager(entry, who);
      for (const std::string& p : removed) owned.erase(p);
      if (mine) {
        found = true;
        owned.insert(changed.begin(), changed.end());
        entry["apiVersion"] = api_version;
        entry["time"] = time;
      } else {
        for (const std::string& p : changed) owned.erase(p);
      }
      if (owned.empty()) continue;
      entry["fieldsV1"] = treeOf(owned);
      next.push_back(std::move(entry));
    }
    if (!found && !changed.empty()) {
      Json entry = Json::object();
      entry["manager"] = who.manager;
      entry["operation"] = who.operation;
      entry["apiVersion"] = api_version;
      entry["time"] = time;
      entry["fieldsType"] = "FieldsV1";
      entry["fieldsV1"] = treeOf(changed);
      if (!who.subresource.empty()) entry["subresource"] = who.subresource;
      next.push_back(std::move(entry));
    }
    entries = std::move(next);
  }
  if (entries.empty()) {
    meta.erase("managedFields");
  } else {
    meta["managedFields"] = std::move(entries);
  }
}

}  // namespace kubehub::standin
