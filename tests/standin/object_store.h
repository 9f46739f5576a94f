#pragma once
/// The stand-in's in-memory etcd: objects of every served type keyed like etcd keys
/// ("namespace/name"), one global resourceVersion counter, and a bounded window of recent
/// events for watch resume and consistent paging. Thread-safe (one mutex; every operation is
/// short). Watchers are told about new events through wakers called outside the lock.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/standin/json_types.h"
#include "tests/standin/resource_types.h"

namespace kubehub::standin {

/// An object as stored: the JSON plus its compact encoding (lists concatenate encodings).
struct StoredObject {
  Json json;
  std::string encoded;
  std::string key;  // "ns/name" for namespaced types, "name" otherwise
  uint64_t rv = 0;
  /// Where the members after kind/apiVersion begin in `encoded` (0: keep them). A real API
  /// server leaves kind/apiVersion out of the items of a typed list for built-in types and
  /// keeps them for custom resources.
  size_t item_offset = 0;
  /// The object as an item of a typed list.
  void appendItem(std::string* out) const;
};
using ObjectPtr = std::shared_ptr<const StoredObject>;

enum class EventType { kAdded, kModified, kDeleted };
const char* eventTypeName(EventType t);

struct StoreEvent {
  uint64_t rv = 0;
  EventType type = EventType::kAdded;
  int type_id = 0;
  /// The new state; for DELETED the last state carrying the deletion's resourceVersion.
  ObjectPtr object;
  /// The state before the event (null for ADDED).
  ObjectPtr prev;
};

/// Options of a write.
struct WriteOptions {
  bool dry_run = false;
  /// Update only .status (the /status subresource); otherwise .status is kept as stored for
  /// types with a status subresource.
  bool status_only = false;
  /// Who writes (metadata.managedFields): the request's fieldManager or User-Agent program;
  /// empty leaves managedFields as they were.
  std::string field_manager;
  /// A server-side apply patch (operation "Apply" instead of "Update").
  bool apply = false;
};

/// What to list. `exact_rv` lists the state as of that revision (needs the event window).
struct ListSpec {
  std::string ns;  // empty: all namespaces
  std::optional<uint64_t> exact_rv;
  std::string start_after;                             // continue: keys strictly greater than this
  size_t limit = 0;                                    // 0: no limit
  std::function<bool(const StoredObject&)> predicate;  // null: everything
  std::optional<std::string> name;                     // metadata.name index
};

struct ListResult {
  std::vector<ObjectPtr> items;
  uint64_t rv = 0;
  bool more = false;  // there are further matching candidates after the last item
  std::string last_key;
  size_t remaining = 0;  // unfiltered objects after last_key (remainingItemCount)
};

class ObjectStore {
 public:
  ObjectStore(const ResourceRegistry& registry, size_t window);

  const ResourceRegistry& registry() const { return registry_; }
  uint64_t currentRv() const;
  /// Highest resourceVersion whose events are no longer in the window.
  uint64_t compactedRv() const;

  absl::StatusOr<ObjectPtr> get(int type, const std::string& ns, const std::string& name) const;
  /// `object` must carry metadata.name or metadata.generateName, and metadata.namespace for
  /// namespaced types.
  absl::StatusOr<ObjectPtr> create(int type, Json object, const WriteOptions& opts);
  /// PUT: replaces the object; a non-empty metadata.resourceVersion must match (else 409).
  absl::StatusOr<ObjectPtr> update(int type, const std::string& ns, const std::string& name,
                                   Json object, const WriteOptions& opts);
  /// Read-modify-write under the lock (patches): `fn` returns the new object.
  using MutateFn = std::function<absl::StatusOr<Json>(const Json& current)>;
  absl::StatusOr<ObjectPtr> mutate(int type, const std::string& ns, const std::string& name,
                                   const MutateFn& fn, const WriteOptions& opts);
  struct DeletePreconditions {
    std::string uid;
    std::string resource_version;
  };
  /// Deletes at once (no graceful period); namespaces take their objects with them.
  absl::StatusOr<ObjectPtr> remove(int type, const std::string& ns, const std::string& name,
                                   const DeletePreconditions& pre, const WriteOptions& opts);
  /// Deletes every object `spec` selects (limit/continue ignored).
  absl::StatusOr<std::vector<ObjectPtr>> removeCollection(int type, const ListSpec& spec,
                                                          const WriteOptions& opts);

  absl::StatusOr<ListResult> list(int type, const ListSpec& spec) const;

  struct EventBatch {
    std::vector<StoreEvent> events;
    /// The store's resourceVersion when the batch was taken: a watcher that got fewer than
    /// `max` events has seen everything of its type up to here (bookmarks may say so).
    uint64_t rv = 0;
  };
  /// Events of `type` with resourceVersion > rv, at most `max`; 410 when rv is older than
  /// the window.
  absl::StatusOr<EventBatch> eventsAfter(int type, uint64_t rv, size_t max) const;

  /// Registers a function called (outside the lock, from the writing thread) after every
  /// committed write. Returns an id for unsubscribe.
  uint64_t subscribe(std::function<void()> waker);
  void unsubscribe(uint64_t id);
  size_t subscriberCount() const;

  /// Drops the whole event window: every older resourceVersion becomes 410 Gone.
  void compact();

  /// "ns/name" or "name".
  static std::string keyFor(const ResourceType& t, const std::string& ns, const std::string& name);

 private:
  struct TypeState {
    std::map<std::string, ObjectPtr> objects;
    uint64_t last_change_rv = 0;
  };

  ObjectPtr commit(int type, EventType et, Json json, const std::string& key, ObjectPtr prev,
                   std::vector<StoreEvent>* out);
  absl::StatusOr<ObjectPtr> replaceLocked(int type, const ObjectPtr& old, Json next,
                                          const WriteOptions& opts, std::vector<StoreEvent>* out);
  ObjectPtr deleteLocked(int type, const ObjectPtr& old, std::vector<StoreEvent>* out);
  absl::Status checkNamespaceLocked(const ResourceType& t, const std::string& ns) const;
  std::string newUid();
  void notify();

  const ResourceRegistry& registry_;
  const size_t window_;
  mutable std::mutex mu_;
  std::vector<TypeState> types_;
  std::deque<StoreEvent> events_;
  uint64_t rv_ = 0;
  uint64_t compacted_rv_ = 0;
  std::mt19937_64 rng_;

  mutable std::mutex sub_mu_;
  std::map<uint64_t, std::function<void()>> subscribers_;
  uint64_t next_sub_ = 1;
};

/// RFC 3339 UTC timestamp with second precision, as metadata timestamps are written.
std::string rfc3339Now();

}  // namespace kubehub::standin
