#pragma once
/// Keeps one ResourceStore in sync with the edge through the cluster's tunnel, the way an
/// informer does: a paged LIST (Table rows with their objects, so cached Tables keep the edge's
/// exact columns), then a WATCH with bookmarks from the list's resourceVersion. A dropped watch
/// resumes from the last resourceVersion applied; 410 Gone relists and replaces the store at
/// once. The hub, not the agent, runs this loop: the agent stays stateless and every byte goes
/// through ordinary flow-controlled streams.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/tunnel/mux.h"
#include "hub/cache/resource_store.h"

namespace kubehub::hub::cache {

struct ReflectorOptions {
  size_t page_size = 500;
  /// Server-side timeout of each watch request; the watch is re-opened after it.
  std::chrono::seconds watch_timeout{300};
  /// Largest LIST page or watch event accepted.
  size_t max_body = 256u << 20;
};

/// The collection path of a type: /api/v1/pods, /apis/apps/v1/deployments.
std::string collectionPath(const TypeInfo& t);

/// Runs until the tunnel closes or `stop` is set. The store stays (stale, not live) after.
boost::asio::awaitable<void> runReflector(std::shared_ptr<tunnel::Mux> mux,
                                          std::shared_ptr<ResourceStore> store,
                                          ReflectorOptions options,
                                          std::shared_ptr<std::atomic<bool>> stop);

/// Where probeEdgeRv asks: for a namespaced type, one empty namespace of it (kProbeNamespace);
/// for a cluster-scoped one, the collection with limit=1.
std::string probePath(const TypeInfo& t);
inline constexpr std::string_view kProbeNamespace = "kubehub-rv-probe";

/// The edge's current resourceVersion (a consistent LIST through the tunnel, at probePath):
/// what a consistent read must wait for.
boost::asio::awaitable<absl::StatusOr<uint64_t>> probeEdgeRv(std::shared_ptr<tunnel::Mux> mux,
                                                             TypeInfo type);

}  // namespace kubehub::hub::cache
