#pragma once
/// The hub's cache of one resource type of one cluster: objects keyed by namespace/name (kept
/// once, shared by the index, the event window, paging snapshots and watchers), the
/// resourceVersion of the last event applied, a window of recent events for watches that
/// resume from a resourceVersion (bounded in events and in bytes), and the edge's Table columns.
///
/// Thread rules: one writer (the type's reflector) and any number of readers on any threads;
/// all methods are thread-safe. Watchers are notified through a callback that must not block.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "common/k8s/label_selector.h"
#include "hub/cache/probe_gate.h"
#include "hub/cache/selection.h"

namespace kubehub::hub::cache {

/// Whether `token` is a well-formed continue token of this cache ("kh1." + base64).
bool isCacheContinueToken(std::string_view token);

/// What the cache knows of a resource type (from the agent's discovery report).
struct TypeInfo {
  std::string group;
  std::string version;
  std::string resource;
  std::string kind;
  bool namespaced = true;
  std::string groupVersion() const { return group.empty() ? version : group + "/" + version; }
};

struct CachedObject {
  std::string ns;
  std::string name;
  uint64_t rv = 0;
  /// The object as the edge serves it (compact JSON).
  std::string json;
  /// Its `metadata` (compact JSON), for PartialObjectMetadata rows: a view into `json`.
  std::string_view metadata() const {
    return std::string_view(json).substr(metadata_offset, metadata_length);
  }
  size_t metadata_offset = 0;
  size_t metadata_length = 0;
  /// The object as a typed list's item of a server that omits kind/apiVersion there: `{`, the
  /// runs of `json` that remain without those two members (joined by `,`), `}`. Byte ranges
  /// found once when the object entered the cache, so a LIST copies bytes and parses nothing.
  struct Run {
    uint32_t offset = 0;
    uint32_t length = 0;
  };
  std::array<Run, 3> item_runs{};
  uint8_t item_run_count = 0;
  /// Appends the list item form to `out`.
  void appendItem(std::string* out) const;
  /// Its Table row cells as the edge printed them, each cell as compact JSON; empty without a
  /// Table. The Age cell (age_column) is recomputed when served.
  std::vector<std::string> cells;
  int age_column = -1;
  int64_t created_unix = 0;
  /// When the edge printed the cells: relative times in them ("2 (5m ago)") are moved on by
  /// the time since.
  int64_t printed_unix = 0;
  k8s::Labels labels;
  size_t bytes() const;
};
using ObjectPtr = std::shared_ptr<const CachedObject>;

enum class EventType { kAdded, kModified, kDeleted };
std::string_view eventTypeName(EventType t);

struct Event {
  EventType type;
  ObjectPtr object;
  uint64_t rv;
  /// The object's previous state (null for ADDED): lets a filtered watch turn a change that
  /// moves an object out of its selection into DELETED, as the API server does.
  ObjectPtr prev;
};

/// One watcher's bounded queue. The store appends; the consumer takes.
class WatchQueue {
 public:
  WatchQueue(Filter filter, size_t capacity, std::function<void()> notify)
      : filter_(std::move(filter)), capacity_(capacity), notify_(std::move(notify)) {}

  /// Takes everything pending. `closed` becomes true once the store has closed the watch
  /// (`reason` says why: the consumer fell too far behind, or the store was relisted).
  std::vector<Event> take(bool* closed, std::string* reason);
  /// Highest resourceVersion the store has reached while this watch was open (for bookmarks).
  uint64_t storeRv() const;

 private:
  friend class ResourceStore;
  void push(const Event& e);
  void close(std::string reason);

  const Filter filter_;
  const size_t capacity_;
  std::function<void()> notify_;
  mutable std::mutex mu_;
  std::deque<Event> pending_;
  bool closed_ = false;
  std::string reason_;
  uint64_t store_rv_ = 0;
};

struct ListPage {
  std::vector<ObjectPtr> items;
  uint64_t rv = 0;
  /// Opaque token for the next page, empty on the last page.
  std::string continue_token;
  /// Matching objects after this page (only when a continue token is returned).
  size_t remaining = 0;
};

/// How much history the event window may keep. Whichever bound is hit first evicts the oldest
/// events; a watch resuming from before the oldest event kept gets 410 Gone.
struct WindowLimits {
  size_t max_events = 10000;
  /// Bytes held by the window alone: old versions and deleted objects the index no longer
  /// holds, plus kWindowEventOverhead per event. Versions still in the index are shared with
  /// it (one immutable buffer behind a shared_ptr) and counted once, as index bytes.
  size_t max_bytes = SIZE_MAX;
};

class ResourceStore {
 public:
  /// Bookkeeping per event kept in the window: the Event itself and about one node of the
  /// reference counts below.
  static constexpr size_t kWindowEventOverhead = sizeof(Event) + 48;

  ResourceStore(TypeInfo info, WindowLimits window);
  /// A window bounded in events only.
  ResourceStore(TypeInfo info, size_t window_events)
      : ResourceStore(std::move(info), WindowLimits{window_events}) {}

  const TypeInfo& info() const { return info_; }

  // Writer side (the reflector).
  /// Replaces everything at once (initial list or relist after 410): readers see either the old
  /// or the new state, never a mix. Open watches are closed (they cannot be continued
  /// consistently across a relist) and the event window restarts at `rv`.
  void replace(std::vector<ObjectPtr> objects, uint64_t rv, std::string columns);
  void apply(EventType type, ObjectPtr object);
  void bookmark(uint64_t rv);
  /// Lets go of every object and event (the type stopped being cached): closes watches with
  /// `reason`, fails resourceVersion waiters; reads see an unsynced, empty store.
  void clear(const std::string& reason);
  /// The reflector lost the edge: keep the data, but consistent reads must not trust it.
  void setLive(bool live);
  /// Whether the edge's typed lists carry kind/apiVersion on each item (answers mimic it). A
  /// real API server leaves them out for built-in types and keeps them for custom resources;
  /// unknown until the edge listed at least one object of the type.
  void setItemsHaveTypeMeta(bool v) { items_type_meta_ = v ? 1 : 0; }
  bool itemsHaveTypeMeta() const { return items_type_meta_.load() != 0; }
  bool itemsTypeMetaKnown() const { return items_type_meta_.load() >= 0; }
  /// A consistent read found the store behind the edge; until the store moves again, further
  /// consistent reads are forwarded without waiting.
  /// A write to this type that went through this hub (or through it for a peer) was
  /// acknowledged at `rv`: a read only the cache can answer waits for the store to reach it.
  void noteWrite(uint64_t rv) {
    uint64_t seen = written_rv_.load();
    while (rv > seen && !written_rv_.compare_exchange_weak(seen, rv)) {
    }
  }
  uint64_t writtenRv() const { return written_rv_.load(); }
  void markBehind() { behind_at_rv_.store(rv()); }
  bool knownBehind() const { return behind_at_rv_.load() == rv(); }
  /// Shares the edge-resourceVersion probes of concurrent consistent reads of this type.
  ProbeGate& probeGate() { return probe_gate_; }

  // Reader side.
  bool synced() const;
  bool live() const;
  uint64_t rv() const;
  std::string columns() const;
  size_t objectCount() const;
  /// Everything this store holds: indexBytes() + windowBytes().
  size_t bytes() const;
  /// Bytes of the objects in the index (the current state).
  size_t indexBytes() const;
  /// Bytes held only because of the event window (see WindowLimits::max_bytes).
  size_t windowBytes() const;
  size_t windowEvents() const;
  /// Full lists applied since the store was made (the initial sync, then each relist). A tunnel
  /// that comes back resumes the watch from rv() and does not add one.
  uint64_t lists() const { return lists_.load(); }
  ObjectPtr get(std::string_view ns, std::string_view name, uint64_t* rv) const;
  /// One page of matching objects in key order. `limit` 0 means everything. A continue token
  /// resumes the snapshot the first page was taken from (kept for a while, like the API
  /// server's continue tokens); OutOfRange (410) when it expired, InvalidArgument when it is
  /// not one of ours.
  absl::StatusOr<ListPage> list(const Filter& filter, size_t limit,
                                std::string_view continue_token);
  /// Starts a watch after `from_rv` (nullopt: from now, with the current objects as synthetic
  /// ADDED events in `initial`). OutOfRange (410) when `from_rv` is older than the window.
  absl::StatusOr<std::shared_ptr<WatchQueue>> watch(Filter filter, std::optional<uint64_t> from_rv,
                                                    std::vector<Event>* initial,
                                                    std::function<void()> notify,
                                                    size_t queue_capacity = 1000);
  void unwatch(const std::shared_ptr<WatchQueue>& w);
  /// Calls `done(true)` once rv() >= target, or `done(false)` when the store is relisted or
  /// goes stale. Called at once when already there.
  void whenRv(uint64_t target, std::function<void(bool)> done);

  /// Key of an object: "namespace/name" or "name".
  static std::string key(std::string_view ns, std::string_view name);

 private:
  struct Snapshot {
    std::vector<ObjectPtr> items;  // already filtered, in key order
    uint64_t rv;
    std::chrono::steady_clock::time_point created;
  };
  void dispatchLocked(const Event& e);
  void fireRvWaitersLocked();
  void trimSnapshotsLocked();
  bool indexedLocked(const ObjectPtr& o) const;
  void windowRetainLocked(const ObjectPtr& o);
  void windowReleaseLocked(const ObjectPtr& o);
  void evictWindowLocked();

  const TypeInfo info_;
  const WindowLimits window_limits_;
  std::atomic<int> items_type_meta_{-1};  // -1 unknown, 0 without, 1 with
  std::atomic<uint64_t> behind_at_rv_{UINT64_MAX};
  std::atomic<uint64_t> written_rv_{0};
  std::atomic<uint64_t> lists_{0};
  ProbeGate probe_gate_;
  mutable std::shared_mutex mu_;
  std::map<std::string, ObjectPtr, std::less<>> objects_;
  std::deque<Event> window_;
  uint64_t window_floor_rv_ = 0;  // watches from an rv >= this can resume
  uint64_t rv_ = 0;
  bool synced_ = false;
  bool live_ = false;
  size_t bytes_ = 0;  // of the index
  /// References from window_ (as event object or previous state) per object. An object some
  /// event refers to and the index does not hold is counted in window_bytes_, once.
  std::unordered_map<const CachedObject*, uint32_t> window_refs_;
  size_t window_bytes_ = 0;
  std::string columns_;
  std::vector<std::shared_ptr<WatchQueue>> watchers_;
  std::vector<std::pair<uint64_t, std::function<void(bool)>>> rv_waiters_;
  std::map<uint64_t, Snapshot> snapshots_;  // id -> paging snapshot
  uint64_t next_snapshot_id_ = 1;
};

}  // namespace kubehub::hub::cache
