#pragma once
/// The hub's cache of one cluster: which resource types are cached (policy applied to the
/// agent's discovery report), their stores, and their reflectors. Survives tunnel reconnects,
/// so a returning agent resumes from the last resourceVersion instead of relisting; a cluster
/// whose tunnel stays away (moved to another hub, deleted) is dropped after a while
/// (CacheRegistry::dropDetached). Thread-safe.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/tunnel/mux.h"
#include "hub/cache/reflector.h"
#include "hub/cache/resource_store.h"
#include "proto/discovery_report.h"

namespace kubehub::hub::cache {

/// Which types to cache: names as "resource" (core group) or "resource.group".
struct CachePolicy {
  bool enabled = true;
  std::set<std::string> resources;
  /// Above this many bytes per cluster (objects in the index and history in the event windows,
  /// see ResourceStore::bytes), the largest type falls back to forwarding (with a log line and a
  /// metric). 0: no budget.
  size_t max_bytes_per_cluster = 512u << 20;
  /// Each type's event window keeps at most this many events and this many bytes of history
  /// (0: a quarter of max_bytes_per_cluster, or no byte bound without a budget).
  size_t window_events = 10000;
  size_t window_max_bytes = 0;
  ReflectorOptions reflector;

  /// Read-heavy built-ins; never Secrets unless named explicitly.
  static std::set<std::string> defaults();
  /// Parses "pods,configmaps,deployments.apps,widgets.example.com" ("" keeps the defaults,
  /// "none" disables the cache).
  static absl::StatusOr<CachePolicy> parse(std::string_view spec);
  bool wants(const std::string& group, const std::string& resource) const;
  WindowLimits windowLimits() const;
};

class ClusterCache : public std::enable_shared_from_this<ClusterCache> {
 public:
  /// `policy` is the registry's, shared by every cluster (a copy each cost a kilobyte per
  /// connected cluster: the set of resource names).
  ClusterCache(std::string cluster, std::shared_ptr<const CachePolicy> policy);
  ~ClusterCache();

  /// A tunnel is up and its discovery report arrived: create stores for the types the policy
  /// wants and (re)start their reflectors on this tunnel.
  void attach(std::shared_ptr<tunnel::Mux> mux, const proto::DiscoveryReport& report);
  /// The store serving reads of a type, if cached and synced; null otherwise.
  std::shared_ptr<ResourceStore> store(std::string_view group, std::string_view version,
                                       std::string_view resource) const;
  std::shared_ptr<tunnel::Mux> mux() const;
  /// Drops types while the cluster is over its memory budget; returns what was dropped.
  std::vector<std::string> enforceBudget();

  struct TypeState {
    std::string resource;  // "pods" or "deployments.apps"
    std::string version;
    bool synced;
    bool live;
    size_t objects;
    size_t bytes;  // index and window together
    size_t window_bytes;
    size_t window_events;
    uint64_t rv;
    uint64_t lists;       // full lists applied (see ResourceStore::lists)
    uint64_t written_rv;  // the newest write acknowledged through this hub (noteWrite)
  };
  std::vector<TypeState> state() const;
  /// Types dropped to forwarding because of the memory budget, since start.
  size_t droppedTypes() const { return dropped_total_.load(); }
  const std::string& cluster() const { return cluster_; }
  /// Whether a tunnel is attached: the last one attach() was given is still open.
  bool attached() const;
  /// Objects and bytes held over all types (what dropping the cache frees).
  std::pair<size_t, size_t> totals() const;

 private:
  friend class CacheRegistry;
  /// Whether the cache has had no open tunnel for `keep` or longer, counted from the first call
  /// that found it detached (`now`); an attached cache forgets that time.
  bool detachedFor(std::chrono::steady_clock::time_point now,
                   std::chrono::steady_clock::duration keep);

  struct Entry {
    std::shared_ptr<ResourceStore> store;
    std::shared_ptr<std::atomic<bool>> stop;
    bool dropped = false;
  };
  const std::string cluster_;
  const std::shared_ptr<const CachePolicy> policy_;
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> types_;  // "group/version/resource"
  std::weak_ptr<tunnel::Mux> mux_;
  std::optional<std::chrono::steady_clock::time_point> detached_since_;
  std::atomic<size_t> dropped_total_{0};
};

/// cluster name -> ClusterCache, hub-wide.
class CacheRegistry {
 public:
  explicit CacheRegistry(CachePolicy policy)
      : policy_(std::make_shared<const CachePolicy>(std::move(policy))) {}
  std::shared_ptr<ClusterCache> cluster(const std::string& name);  // creates on first use
  /// cluster(name)->attach(...), the cache marked attached under the registry's lock, so that
  /// dropDetached never drops a cache between its lookup and its attach (the tunnel would then
  /// feed a cache nobody reads).
  std::shared_ptr<ClusterCache> attach(const std::string& name, std::shared_ptr<tunnel::Mux> mux,
                                       const proto::DiscoveryReport& report);
  std::shared_ptr<ClusterCache> find(std::string_view name) const;
  std::vector<std::shared_ptr<ClusterCache>> all() const;
  const CachePolicy& policy() const { return *policy_; }

  struct Dropped {
    std::string cluster;
    size_t objects = 0;
    size_t bytes = 0;
  };
  /// Drops the caches of clusters that have had no tunnel here for `keep` or longer (counted
  /// from the first call that found each detached, so call it every fraction of `keep`). A
  /// cluster that comes back later starts with a fresh cache (one LIST per type); reads in
  /// flight keep the stores they hold until they end.
  std::vector<Dropped> dropDetached(std::chrono::steady_clock::time_point now,
                                    std::chrono::steady_clock::duration keep);
  /// Caches dropped by dropDetached since start.
  uint64_t droppedClusters() const { return dropped_clusters_.load(); }

 private:
  const std::shared_ptr<const CachePolicy> policy_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<ClusterCache>, std::less<>> clusters_;
  std::atomic<uint64_t> dropped_clusters_{0};
};

}  // namespace kubehub::hub::cache
