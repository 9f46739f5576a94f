#include "hub/cache/cluster_cache.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/log/log.h"

namespace kubehub::hub::cache {

namespace asio = boost::asio;

namespace {

/// Checks the cluster's memory budget every few seconds while its tunnel is up.
asio::awaitable<void> budgetLoop(std::weak_ptr<ClusterCache> weak_cache,
                                 std::weak_ptr<tunnel::Mux> weak_mux) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::seconds(2));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    auto cache = weak_cache.lock();
    auto mux = weak_mux.lock();
    if (!cache || !mux || mux->closed()) co_return;
    cache->enforceBudget();
  }
}

std::string typeKey(std::string_view group, std::string_view version, std::string_view resource) {
  std::string k(group);
  k += '/';
  k += version;
  k += '/';
  k += resource;
  return k;
}

}  // namespace

std::set<std::string> CachePolicy::defaults() {
  return {"namespaces",
          "pods",
          "services",
          "endpoints",
          "configmaps",
          "nodes",
          "events",
          "serviceaccounts",
          "persistentvolumeclaims",
          "deployments.apps",
          "replicasets.apps",
          "statefulsets.apps",
          "daemonsets.apps",
          "jobs.batch",
          "cronjobs.batch"};
}

absl::StatusOr<CachePolicy> CachePolicy::parse(std::string_view spec) {
  CachePolicy p;
  if (spec.empty()) {
    p.resources = defaults();
    return p;
  }
  if (spec == "none") {
    p.enabled = false;
    return p;
  }
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t end = spec.find(',', pos);
    if (end == std::string_view::npos) end = spec.size();
    std::string item(spec.substr(pos, end - pos));
    pos = end + 1;
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) continue;
    if (item == "defaults") {
      auto d = defaults();
      p.resources.insert(d.begin(), d.end());
      continue;
    }
    for (char c : item) {
      if (!(std::islower(static_cast<unsigned char>(c)) ||
            std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-')) {
        return absl::InvalidArgumentError("cache resource \"" + item +
                                          "\" is not of the form resource[.group]");
      }
    }
    p.resources.insert(item);
  }
  return p;
}

bool CachePolicy::wants(const std::string& group, const std::string& resource) const {
  if (!enabled) return false;
  return resources.count(group.empty() ? resource : resource + "." + group) > 0;
}

WindowLimits CachePolicy::windowLimits() const {
  WindowLimits w;
  w.max_events = window_events;
  if (window_max_bytes > 0) {
    w.max_bytes = window_max_bytes;
  } else if (max_bytes_per_cluster > 0) {
    w.max_bytes = max_bytes_per_cluster / 4;
  }
  return w;
}

ClusterCache::ClusterCache(std::string cluster, std::shared_ptr<const CachePolicy> policy)
    : cluster_(std::move(cluster)), policy_(std::move(policy)) {}

ClusterCache::~ClusterCache() {
  for (auto& [k, e] : types_) e.stop->store(true);
}

void ClusterCache::attach(std::shared_ptr<tunnel::Mux> mux, const proto::DiscoveryReport& report) {
  if (!policy_->enabled) return;
  std::vector<std::pair<std::shared_ptr<ResourceStore>, std::shared_ptr<std::atomic<bool>>>> start;
  {
    std::lock_guard lock(mu_);
    mux_ = mux;
    for (const proto::DiscoveredType& r : report.resources) {
      const std::string& group = r.group;
      const std::string& version = r.version;
      const std::string& resource = r.resource;
      if (version.empty() || resource.empty() || !policy_->wants(group, resource)) continue;
      if (!r.hasVerb("list") || !r.hasVerb("watch")) continue;
      std::string key = typeKey(group, version, resource);
      auto& entry = types_[key];
      if (entry.dropped) continue;
      if (!entry.store) {
        TypeInfo info{group, version, resource, r.kind, r.namespaced};
        entry.store = std::make_shared<ResourceStore>(info, policy_->windowLimits());
      }
      if (entry.stop) entry.stop->store(true);  // the previous tunnel's reflector, if any
      entry.stop = std::make_shared<std::atomic<bool>>(false);
      start.emplace_back(entry.store, entry.stop);
    }
  }
  for (auto& [store, stop] : start) {
    mux->spawn(runReflector(mux, store, policy_->reflector, stop));
  }
  if (!start.empty() && policy_->max_bytes_per_cluster > 0) {
    mux->spawn(budgetLoop(weak_from_this(), mux));
  }
  log::info("cache attached", {{"cluster", cluster_}, {"types", start.size()}});
}

std::shared_ptr<ResourceStore> ClusterCache::store(std::string_view group, std::string_view version,
                                                   std::string_view resource) const {
  std::lock_guard lock(mu_);
  auto it = types_.find(typeKey(group, version, resource));
  if (it == types_.end() || it->second.dropped || !it->second.store ||
      !it->second.store->synced()) {
    return nullptr;
  }
  return it->second.store;
}

std::shared_ptr<tunnel::Mux> ClusterCache::mux() const {
  std::lock_guard lock(mu_);
  return mux_.lock();
}

bool ClusterCache::attached() const {
  auto mux = this->mux();
  return mux && !mux->closed();
}

std::pair<size_t, size_t> ClusterCache::totals() const {
  std::lock_guard lock(mu_);
  size_t objects = 0;
  size_t bytes = 0;
  for (const auto& [k, e] : types_) {
    if (!e.store) continue;
    objects += e.store->objectCount();
    bytes += e.store->bytes();
  }
  return {objects, bytes};
}

bool ClusterCache::detachedFor(std::chrono::steady_clock::time_point now,
                               std::chrono::steady_clock::duration keep) {
  bool open = attached();
  std::lock_guard lock(mu_);
  if (open) {
    detached_since_.reset();
    return false;
  }
  if (!detached_since_) detached_since_ = now;
  return now - *detached_since_ >= keep;
}

std::vector<std::string> ClusterCache::enforceBudget() {
  std::vector<std::string> dropped;
  std::vector<std::shared_ptr<ResourceStore>> released;
  {
    std::lock_guard lock(mu_);
    for (;;) {
      size_t total = 0;
      Entry* largest = nullptr;
      std::string largest_key;
      for (auto& [k, e] : types_) {
        if (e.dropped || !e.store) continue;
        size_t b = e.store->bytes();
        total += b;
        if (!largest || b > largest->store->bytes()) {
          largest = &e;
          largest_key = k;
        }
      }
      if (total <= policy_->max_bytes_per_cluster || largest == nullptr) break;
      largest->dropped = true;
      largest->stop->store(true);
      log::warn("cache over its memory budget: type falls back to forwarding",
                {{"cluster", cluster_},
                 {"type", largest_key},
                 {"bytes", largest->store->bytes()},
                 {"window_bytes", largest->store->windowBytes()},
                 {"budget", policy_->max_bytes_per_cluster}});
      released.push_back(std::move(largest->store));
      dropped.push_back(largest_key);
      ++dropped_total_;
    }
  }
  // Its reflector lets go of the store only when its watch next wakes: free the memory now
  // (outside our lock: closing watches and failing waiters calls out).
  for (auto& store : released) {
    store->clear("the hub stopped caching this resource (memory budget)");
  }
  return dropped;
}

std::vector<ClusterCache::TypeState> ClusterCache::state() const {
  std::vector<TypeState> out;
  std::lock_guard lock(mu_);
  for (const auto& [k, e] : types_) {
    if (!e.store) continue;
    const TypeInfo& t = e.store->info();
    out.push_back(TypeState{t.group.empty() ? t.resource : t.resource + "." + t.group, t.version,
                            e.store->synced(), e.store->live(), e.store->objectCount(),
                            e.store->bytes(), e.store->windowBytes(), e.store->windowEvents(),
                            e.store->rv(), e.store->lists(), e.store->writtenRv()});
  }
  return out;
}

std::shared_ptr<ClusterCache> CacheRegistry::cluster(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& c = clusters_[name];
  if (!c) c = std::make_shared<ClusterCache>(name, policy_);
  return c;
}

std::shared_ptr<ClusterCache> CacheRegistry::attach(const std::string& name,
                                                    std::shared_ptr<tunnel::Mux> mux,
                                                    const proto::DiscoveryReport& report) {
  std::shared_ptr<ClusterCache> c;
  {
    std::lock_guard lock(mu_);
    auto& slot = clusters_[name];
    if (!slot) slot = std::make_shared<ClusterCache>(name, policy_);
    c = slot;
    // Attached from here on for dropDetached, which takes this lock too. The rest of attach()
    // runs outside it: it starts reflectors, which may run at once on this thread.
    std::lock_guard cache_lock(c->mu_);
    c->mux_ = mux;
    c->detached_since_.reset();
  }
  c->attach(std::move(mux), report);
  return c;
}

std::vector<CacheRegistry::Dropped> CacheRegistry::dropDetached(
    std::chrono::steady_clock::time_point now, std::chrono::steady_clock::duration keep) {
  std::vector<Dropped> out;
  // Freed after the lock: the last reference to a large cache takes a while to release.
  std::vector<std::shared_ptr<ClusterCache>> released;
  {
    std::lock_guard lock(mu_);
    for (auto it = clusters_.begin(); it != clusters_.end();) {
      if (!it->second->detachedFor(now, keep)) {
        ++it;
        continue;
      }
      auto [objects, bytes] = it->second->totals();
      out.push_back(Dropped{it->first, objects, bytes});
      released.push_back(std::move(it->second));
      it = clusters_.erase(it);
    }
  }
  dropped_clusters_ += out.size();
  return out;
}

std::shared_ptr<ClusterCache> CacheRegistry::find(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = clusters_.find(name);
  return it == clusters_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<ClusterCache>> CacheRegistry::all() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<ClusterCache>> out;
  for (const auto& [k, c] : clusters_) out.push_back(c);
  return out;
}

}  // namespace kubehub::hub::cache
