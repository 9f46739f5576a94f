#pragma once
/// The hub's cache of one cluster: which resource types are cached (policy applied to the
/// agent's discovery report), their stores, and their reflectors. Survives tunnel reconnects,
/// so a returning agent resumes from the last resourceVersion instead of relisting.
/// Thread-safe.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
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
    uint64_t lists;  // full lists applied (see ResourceStore::lists)
  };
  std::vector<TypeState> state() const;
  /// Types dropped to forwarding because of the memory budget, since start.
  size_t droppedTypes() const { return dropped_total_.load(); }
  const std::string& cluster() const { return cluster_; }

 private:
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
  std::atomic<size_t> dropped_total_{0};
};

/// cluster name -> ClusterCache, hub-wide.
class CacheRegistry {
 public:
  explicit CacheRegistry(CachePolicy policy)
      : policy_(std::make_shared<const CachePolicy>(std::move(policy))) {}
  std::shared_ptr<ClusterCache> cluster(const std::string& name);  // creates on first use
  std::shared_ptr<ClusterCache> find(std::string_view name) const;
  std::vector<std::shared_ptr<ClusterCache>> all() const;
  const CachePolicy& policy() const { return *policy_; }

 private:
  const std::shared_ptr<const CachePolicy> policy_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<ClusterCache>, std::less<>> clusters_;
};

}  // namespace kubehub::hub::cache
