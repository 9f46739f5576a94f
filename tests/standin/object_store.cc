#include "tests/standin/object_store.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "common/k8s/rfc3339.h"
#include "tests/standin/api_error.h"
#include "tests/standin/managed_fields.h"
#include "tests/standin/simulated_controllers.h"

namespace kubehub::standin {
namespace {

// Status-less comparison for generation bumps: the real server bumps metadata.generation
// when anything but metadata and status changes.
bool sameSpec(const Json& a, const Json& b) {
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (it.key() == "metadata" || it.key() == "status") continue;
    auto jt = b.find(it.key());
    if (jt == b.end() || *jt != it.value()) return false;
  }
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (it.key() == "metadata" || it.key() == "status") continue;
    if (!a.contains(it.key())) return false;
  }
  return true;
}

// Puts kind, apiVersion and metadata first, as the real server writes objects.
Json canonicalOrder(const ResourceType& t, Json in) {
  Json out = Json::object();
  out["kind"] = t.kind;
  out["apiVersion"] = t.apiVersion();
  out["metadata"] = in.contains("metadata") ? std::move(in["metadata"]) : Json::object();
  for (auto it = in.begin(); it != in.end(); ++it) {
    if (it.key() == "kind" || it.key() == "apiVersion" || it.key() == "metadata") continue;
    out[it.key()] = std::move(it.value());
  }
  return out;
}

/// The controller that writes a type's status in a real cluster.
const char* statusWriter(const ResourceType& t) {
  return t.resource == "pods" ? "kubelet" : "kube-controller-manager";
}

/// managedFields after a write that turned `old` (nullptr: create) into `object`: the entries
/// start from `old`'s (what the client sent is not trusted), the writer gets what it changed,
/// and for types with a status the simulated controller gets the status it set.
void recordWriters(const ResourceType& t, Json& object, const Json& before_controllers,
                   const Json* old, const WriteOptions& opts) {
  Json& meta = object["metadata"];
  if (!meta.is_object()) return;
  if (old != nullptr && old->contains("metadata") && (*old)["metadata"].contains("managedFields")) {
    meta["managedFields"] = (*old)["metadata"]["managedFields"];
  } else {
    meta.erase("managedFields");
  }
  const std::string now = rfc3339Now();
  if (!opts.field_manager.empty()) {
    FieldManager who{opts.field_manager, opts.apply ? "Apply" : "Update",
                     opts.status_only ? "status" : ""};
    // The writer owns what it asked for: the object before the controllers reacted.
    Json written = before_controllers;
    written["metadata"]["managedFields"] = meta.value("managedFields", Json::array());
    recordManagedFields(written, old, who, t.apiVersion(), now);
    if (written["metadata"].contains("managedFields")) {
      meta["managedFields"] = written["metadata"]["managedFields"];
    } else {
      meta.erase("managedFields");
    }
  }
  if (t.has_status && !opts.status_only && object.contains("status")) {
    const Json* prev = old != nullptr ? old : &before_controllers;
    Json prev_status = prev->contains("status") ? (*prev)["status"] : Json();
    if (object["status"] != prev_status) {
      Json base = Json::object();
      if (!prev_status.is_null()) base["status"] = prev_status;
      recordManagedFields(object, &base, FieldManager{statusWriter(t), "Update", "status"},
                          t.apiVersion(), now);
    }
  }
}

/// Encodes `so->json` and notes where its list item form starts.
void encodeStored(const ResourceType& t, StoredObject* so) {
  so->encoded = dumpJson(so->json);
  so->item_offset = 0;
  if (t.custom) return;
  // canonicalOrder put kind and apiVersion first.
  std::string prefix = "{\"kind\":" + dumpJson(Json(t.kind)) +
                       ",\"apiVersion\":" + dumpJson(Json(t.apiVersion())) + ",";
  if (so->encoded.starts_with(prefix)) so->item_offset = prefix.size();
}

std::string metaString(const Json& obj, const char* key) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return {};
  auto it = m->find(key);
  if (it == m->end() || !it->is_string()) return {};
  return it->get<std::string>();
}

}  // namespace

void StoredObject::appendItem(std::string* out) const {
  if (item_offset == 0) {
    out->append(encoded);
    return;
  }
  out->push_back('{');
  out->append(encoded, item_offset);
}

const char* eventTypeName(EventType t) {
  switch (t) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
  }
  return "ERROR";
}

std::string rfc3339Now() { return k8s::formatRfc3339(std::time(nullptr)); }

ObjectStore::ObjectStore(const ResourceRegistry& registry, size_t window)
    : registry_(registry), window_(window), types_(registry.types().size()) {
  std::random_device rd;
  rng_.seed((static_cast<uint64_t>(rd()) << 32) ^ rd());
}

std::string ObjectStore::keyFor(const ResourceType& t, const std::string& ns,
                                const std::string& name) {
  return t.namespaced ? ns + "/" + name : name;
}

uint64_t ObjectStore::currentRv() const {
  std::lock_guard lock(mu_);
  return rv_;
}

uint64_t ObjectStore::compactedRv() const {
  std::lock_guard lock(mu_);
  return compacted_rv_;
}

std::string ObjectStore::newUid() {
  uint64_t a = rng_();
  uint64_t b = rng_();
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

absl::Status ObjectStore::checkNamespaceLocked(const ResourceType& t, const std::string& ns) const {
  if (!t.namespaced) return absl::OkStatus();
  const int ns_type = registry_.find("", "v1", "namespaces");
  if (types_[static_cast<size_t>(ns_type)].objects.count(ns) == 0) {
    return notFound(GroupResource{"", "namespaces"}, ns);
  }
  return absl::OkStatus();
}

ObjectPtr ObjectStore::commit(int type, EventType et, Json json, const std::string& key,
                              ObjectPtr prev, std::vector<StoreEvent>* out) {
  ++rv_;
  json["metadata"]["resourceVersion"] = std::to_string(rv_);
  auto so = std::make_shared<StoredObject>();
  so->json = std::move(json);
  encodeStored(registry_.type(type), so.get());
  so->key = key;
  so->rv = rv_;
  TypeState& ts = types_[static_cast<size_t>(type)];
  if (et == EventType::kDeleted) {
    ts.objects.erase(key);
  } else {
    ts.objects[key] = so;
  }
  ts.last_change_rv = rv_;
  StoreEvent ev{rv_, et, type, so, std::move(prev)};
  events_.push_back(ev);
  while (events_.size() > window_) {
    compacted_rv_ = events_.front().rv;
    events_.pop_front();
  }
  if (window_ == 0) compacted_rv_ = rv_;
  if (out != nullptr) out->push_back(std::move(ev));
  return so;
}

void ObjectStore::notify() {
  std::vector<std::function<void()>> wakers;
  {
    std::lock_guard lock(sub_mu_);
    wakers.reserve(subscribers_.size());
    for (auto& [id, fn] : subscribers_) wakers.push_back(fn);
  }
  for (auto& fn : wakers) fn();
}

absl::StatusOr<ObjectPtr> ObjectStore::get(int type, const std::string& ns,
                                           const std::string& name) const {
  const ResourceType& t = registry_.type(type);
  std::lock_guard lock(mu_);
  const TypeState& ts = types_[static_cast<size_t>(type)];
  auto it = ts.objects.find(keyFor(t, ns, name));
  if (it == ts.objects.end()) return notFound(t.groupResource(), name);
  return it->second;
}

absl::StatusOr<ObjectPtr> ObjectStore::create(int type, Json object, const WriteOptions& opts) {
  const ResourceType& t = registry_.type(type);
  ObjectPtr result;
  {
    std::lock_guard lock(mu_);
    object = canonicalOrder(t, std::move(object));
    Json& meta = object["metadata"];
    if (!meta.is_object()) meta = Json::object();
    std::string ns = t.namespaced ? meta.value("namespace", std::string()) : std::string();
    if (!t.namespaced) meta.erase("namespace");
    std::string name = meta.value("name", std::string());
    std::string generate = meta.value("generateName", std::string());
    if (name.empty() && generate.empty()) {
      return invalid(t.kind, "", "metadata.name", "FieldValueRequired",
                     "Required value: name or generateName is required");
    }
    if (auto s = checkNamespaceLocked(t, ns); !s.ok()) return s;
    TypeState& ts = types_[static_cast<size_t>(type)];
    if (name.empty()) {
      // Like the real name generator: five characters from a consonant-and-digit alphabet.
      static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
      for (int attempt = 0; attempt < 16; ++attempt) {
        std::string suffix;
        for (int i = 0; i < 5; ++i) suffix.push_back(kAlphabet[rng_() % (sizeof(kAlphabet) - 1)]);
        std::string candidate = generate + suffix;
        if (ts.objects.count(keyFor(t, ns, candidate)) == 0) {
          name = candidate;
          break;
        }
      }
      meta["name"] = name;
    }
    const std::string key = keyFor(t, ns, name);
    if (ts.objects.count(key) != 0) return alreadyExists(t.groupResource(), name);
    meta.erase("resourceVersion");
    meta.erase("deletionTimestamp");
    meta.erase("deletionGracePeriodSeconds");
    meta["uid"] = newUid();
    meta["creationTimestamp"] = rfc3339Now();
    if (t.has_generation) {
      meta["generation"] = 1;
    } else {
      meta.erase("generation");
    }
    if (auto s = validateWrite(t, object, nullptr); !s.ok()) return s;
    Json requested = object;
    applySimulatedControllers(t, object);
    recordWriters(t, object, requested, nullptr, opts);
    if (opts.dry_run) {
      auto so = std::make_shared<StoredObject>();
      so->json = std::move(object);
      encodeStored(t, so.get());
      so->key = key;
      return ObjectPtr(so);
    }
    result = commit(type, EventType::kAdded, std::move(object), key, nullptr, nullptr);
  }
  notify();
  return result;
}

absl::StatusOr<ObjectPtr> ObjectStore::replaceLocked(int type, const ObjectPtr& old, Json next,
                                                     const WriteOptions& opts,
                                                     std::vector<StoreEvent>* out) {
  const ResourceType& t = registry_.type(type);
  if (!next.is_object()) return badRequest("the object to update is not a JSON object");
  next = canonicalOrder(t, std::move(next));
  const Json& old_json = old->json;
  if (opts.status_only) {
    // The status subresource changes only .status.
    Json merged = old_json;
    if (next.contains("status")) {
      merged["status"] = next["status"];
    } else {
      merged.erase("status");
    }
    next = std::move(merged);
  } else if (t.has_status) {
    if (old_json.contains("status")) {
      next["status"] = old_json["status"];
    } else {
      next.erase("status");
    }
  }
  Json& meta = next["metadata"];
  if (!meta.is_object()) meta = Json::object();
  const Json& old_meta = old_json["metadata"];
  for (const char* k : {"name", "namespace", "uid", "creationTimestamp", "generation"}) {
    if (old_meta.contains(k)) {
      meta[k] = old_meta[k];
    } else {
      meta.erase(k);
    }
  }
  meta["resourceVersion"] = old_meta["resourceVersion"];
  if (t.has_generation && !sameSpec(old_json, next)) {
    meta["generation"] = old_meta.value("generation", int64_t{1}) + 1;
  }
  if (auto s = validateWrite(t, next, &old_json); !s.ok()) return s;
  Json requested = next;
  applySimulatedControllers(t, next);
  recordWriters(t, next, requested, &old_json, opts);
  if (next == old_json || opts.dry_run) {
    // A no-op update keeps the resourceVersion, like the real server.
    if (next == old_json) return old;
    auto so = std::make_shared<StoredObject>();
    so->json = std::move(next);
    encodeStored(t, so.get());
    so->key = old->key;
    so->rv = old->rv;
    return ObjectPtr(so);
  }
  return commit(type, EventType::kModified, std::move(next), old->key, old, out);
}

absl::StatusOr<ObjectPtr> ObjectStore::update(int type, const std::string& ns,
                                              const std::string& name, Json object,
                                              const WriteOptions& opts) {
  const ResourceType& t = registry_.type(type);
  absl::StatusOr<ObjectPtr> result;
  {
    std::lock_guard lock(mu_);
    TypeState& ts = types_[static_cast<size_t>(type)];
    auto it = ts.objects.find(keyFor(t, ns, name));
    if (it == ts.objects.end()) return notFound(t.groupResource(), name);
    std::string want_rv = metaString(object, "resourceVersion");
    if (!want_rv.empty() && want_rv != std::to_string(it->second->rv)) {
      return conflict(t.groupResource(), name);
    }
    result = replaceLocked(type, it->second, std::move(object), opts, nullptr);
  }
  notify();
  return result;
}

absl::StatusOr<ObjectPtr> ObjectStore::mutate(int type, const std::string& ns,
                                              const std::string& name, const MutateFn& fn,
                                              const WriteOptions& opts) {
  const ResourceType& t = registry_.type(type);
  absl::StatusOr<ObjectPtr> result;
  {
    std::lock_guard lock(mu_);
    TypeState& ts = types_[static_cast<size_t>(type)];
    auto it = ts.objects.find(keyFor(t, ns, name));
    if (it == ts.objects.end()) return notFound(t.groupResource(), name);
    absl::StatusOr<Json> next = fn(it->second->json);
    if (!next.ok()) return next.status();
    std::string want_rv = metaString(*next, "resourceVersion");
    if (!want_rv.empty() && want_rv != std::to_string(it->second->rv)) {
      return conflict(t.groupResource(), name);
    }
    result = replaceLocked(type, it->second, std::move(*next), opts, nullptr);
  }
  notify();
  return result;
}

ObjectPtr ObjectStore::deleteLocked(int type, const ObjectPtr& old, std::vector<StoreEvent>* out) {
  const ResourceType& t = registry_.type(type);
  Json last = old->json;
  if (t.resource == "pods" || t.resource == "namespaces") {
    // What a client watching a real cluster sees last: the object marked for deletion.
    last["metadata"]["deletionTimestamp"] = rfc3339Now();
    if (t.resource == "pods") last["metadata"]["deletionGracePeriodSeconds"] = 0;
    if (t.resource == "namespaces") last["status"]["phase"] = "Terminating";
  }
  return commit(type, EventType::kDeleted, std::move(last), old->key, old, out);
}

absl::StatusOr<ObjectPtr> ObjectStore::remove(int type, const std::string& ns,
                                              const std::string& name,
                                              const DeletePreconditions& pre,
                                              const WriteOptions& opts) {
  const ResourceType& t = registry_.type(type);
  ObjectPtr result;
  {
    std::lock_guard lock(mu_);
    TypeState& ts = types_[static_cast<size_t>(type)];
    auto it = ts.objects.find(keyFor(t, ns, name));
    if (it == ts.objects.end()) return notFound(t.groupResource(), name);
    ObjectPtr old = it->second;
    std::string uid = metaString(old->json, "uid");
    if (!pre.uid.empty() && pre.uid != uid) {
      auto body = errorStatusJson(conflict(t.groupResource(), name));
      body["message"] =
          "Precondition failed: UID in precondition: " + pre.uid + ", UID in object meta: " + uid;
      return apiError(409, body);
    }
    if (!pre.resource_version.empty() && pre.resource_version != std::to_string(old->rv)) {
      auto body = errorStatusJson(conflict(t.groupResource(), name));
      body["message"] =
          "Precondition failed: ResourceVersion in precondition: " + pre.resource_version +
          ", ResourceVersion in object meta: " + std::to_string(old->rv);
      return apiError(409, body);
    }
    if (opts.dry_run) return old;
    if (t.resource == "namespaces" && t.group.empty()) {
      // The namespace controller's work, done at once: delete everything inside first.
      const std::string prefix = name + "/";
      for (size_t ti = 0; ti < types_.size(); ++ti) {
        if (!registry_.type(static_cast<int>(ti)).namespaced) continue;
        auto& objs = types_[ti].objects;
        std::vector<ObjectPtr> victims;
        for (auto jt = objs.lower_bound(prefix);
             jt != objs.end() && jt->first.compare(0, prefix.size(), prefix) == 0; ++jt) {
          victims.push_back(jt->second);
        }
        for (const ObjectPtr& v : victims) deleteLocked(static_cast<int>(ti), v, nullptr);
      }
    }
    result = deleteLocked(type, old, nullptr);
  }
  notify();
  return result;
}

absl::StatusOr<std::vector<ObjectPtr>> ObjectStore::removeCollection(int type, const ListSpec& spec,
                                                                     const WriteOptions& opts) {
  ListSpec all = spec;
  all.limit = 0;
  all.start_after.clear();
  all.exact_rv.reset();
  auto listed = list(type, all);
  if (!listed.ok()) return listed.status();
  std::vector<ObjectPtr> out;
  for (const ObjectPtr& o : listed->items) {
    std::string ns = metaString(o->json, "namespace");
    std::string name = metaString(o->json, "name");
    auto removed = remove(type, ns, name, {}, opts);
    if (removed.ok()) out.push_back(*removed);
  }
  return out;
}

absl::StatusOr<ListResult> ObjectStore::list(int type, const ListSpec& spec) const {
  const ResourceType& t = registry_.type(type);
  std::lock_guard lock(mu_);
  const TypeState& ts = types_[static_cast<size_t>(type)];
  ListResult result;
  result.rv = spec.exact_rv.value_or(rv_);
  if (spec.exact_rv.has_value() && *spec.exact_rv < compacted_rv_) {
    return absl::OutOfRangeError("resource version compacted");
  }

  const std::string prefix = (t.namespaced && !spec.ns.empty()) ? spec.ns + "/" : std::string();
  auto inRange = [&](const std::string& key) {
    return prefix.empty() || key.compare(0, prefix.size(), prefix) == 0;
  };

  // Objects as of exact_rv: the current state with every later change undone. `overrides`
  // maps a key to its state at exact_rv (null: it did not exist then).
  std::map<std::string, ObjectPtr> overrides;
  if (spec.exact_rv.has_value() && *spec.exact_rv < ts.last_change_rv) {
    auto first = std::upper_bound(events_.begin(), events_.end(), *spec.exact_rv,
                                  [](uint64_t rv, const StoreEvent& e) { return rv < e.rv; });
    for (auto it = first; it != events_.end(); ++it) {
      if (it->type_id != type) continue;
      const std::string& key = it->object->key;
      if (overrides.count(key) == 0) overrides.emplace(key, it->prev);
    }
  }

  // The name index: a namespaced get-by-name list needs no scan.
  if (spec.name.has_value() && (!t.namespaced || !spec.ns.empty()) && overrides.empty()) {
    auto it = ts.objects.find(keyFor(t, spec.ns, *spec.name));
    if (it != ts.objects.end() && it->first > spec.start_after &&
        (!spec.predicate || spec.predicate(*it->second))) {
      result.items.push_back(it->second);
    }
    return result;
  }

  auto cur = prefix.empty() ? ts.objects.begin() : ts.objects.lower_bound(prefix);
  auto ovr = prefix.empty() ? overrides.begin() : overrides.lower_bound(prefix);
  if (!spec.start_after.empty()) {
    cur = ts.objects.upper_bound(std::max(spec.start_after, prefix));
    ovr = overrides.upper_bound(std::max(spec.start_after, prefix));
  }
  // Merges the current map with the overrides, in key order.
  auto nextCandidate = [&](std::string* key, ObjectPtr* obj) -> bool {
    while (true) {
      bool cur_ok = cur != ts.objects.end() && inRange(cur->first);
      bool ovr_ok = ovr != overrides.end() && inRange(ovr->first);
      if (!cur_ok && !ovr_ok) return false;
      if (ovr_ok && (!cur_ok || ovr->first <= cur->first)) {
        if (cur_ok && cur->first == ovr->first) ++cur;
        *key = ovr->first;
        *obj = ovr->second;
        ++ovr;
        if (*obj == nullptr) continue;  // did not exist at exact_rv
        return true;
      }
      *key = cur->first;
      *obj = cur->second;
      ++cur;
      return true;
    }
  };

  std::string key;
  ObjectPtr obj;
  while (nextCandidate(&key, &obj)) {
    if (spec.limit != 0 && result.items.size() >= spec.limit) {
      result.more = true;
      result.remaining = 1;
      while (nextCandidate(&key, &obj)) ++result.remaining;
      break;
    }
    result.last_key = key;
    if (spec.name.has_value() && metaString(obj->json, "name") != *spec.name) continue;
    if (spec.predicate && !spec.predicate(*obj)) continue;
    result.items.push_back(obj);
  }
  return result;
}

absl::StatusOr<ObjectStore::EventBatch> ObjectStore::eventsAfter(int type, uint64_t rv,
                                                                 size_t max) const {
  std::lock_guard lock(mu_);
  if (rv < compacted_rv_) {
    return expired("too old resource version: " + std::to_string(rv) + " (" +
                   std::to_string(compacted_rv_) + ")");
  }
  EventBatch out;
  out.rv = rv_;
  auto first = std::upper_bound(events_.begin(), events_.end(), rv,
                                [](uint64_t r, const StoreEvent& e) { return r < e.rv; });
  for (auto it = first; it != events_.end() && out.events.size() < max; ++it) {
    if (it->type_id == type) out.events.push_back(*it);
  }
  return out;
}

uint64_t ObjectStore::subscribe(std::function<void()> waker) {
  std::lock_guard lock(sub_mu_);
  uint64_t id = next_sub_++;
  subscribers_.emplace(id, std::move(waker));
  return id;
}

void ObjectStore::unsubscribe(uint64_t id) {
  std::lock_guard lock(sub_mu_);
  subscribers_.erase(id);
}

size_t ObjectStore::subscriberCount() const {
  std::lock_guard lock(sub_mu_);
  return subscribers_.size();
}

void ObjectStore::compact() {
  {
    std::lock_guard lock(mu_);
    events_.clear();
    compacted_rv_ = rv_;
  }
  notify();
}

}  // namespace kubehub::standin
