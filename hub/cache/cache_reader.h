#pragma once
/// Decides whether a user's read can be answered from the cache, with which consistency, and
/// renders plain answers (GET and LIST). LIST and WATCH options are decoded and validated as
/// the API server does (common/k8s/list_options.h): what it refuses, the cache refuses with
/// the same code and Status body. Requests the cache cannot answer exactly as the edge would
/// (subresources, protobuf-only clients, field selectors beyond name/namespace, unknown
/// parameters, exact historical resourceVersions, other servers' continue tokens) are
/// forwarded. Pure, except for reading the store.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/k8s/request_info.h"
#include "hub/cache/cache_decision.h"
#include "hub/cache/cluster_cache.h"
#include "hub/cache/object_codec.h"
#include "hub/cache/resource_store.h"

namespace kubehub::hub::cache {

CacheDecision decideCachedRead(const ClusterCache& cluster, const k8s::RequestInfo& info,
                               std::string_view method, std::string_view query,
                               std::string_view accept);

struct CacheAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
  /// Set instead of `body` for large lists: the caller streams them with a ListEncoder.
  std::shared_ptr<ListPage> page;
  Encoding encoding;
  std::string columns;
};

/// Lists with more items than this are streamed rather than encoded into one string.
inline constexpr size_t kStreamListItems = 256;

/// Renders a GET or LIST from the store (after the consistency wait).
CacheAnswer answerFromCache(const CacheDecision& d, int64_t now_unix);

/// Content-Type of the cache's answers for this decision.
std::string contentType(const CacheDecision& d);

/// The API server's NotFound body for an object of a type.
std::string notFoundBody(const TypeInfo& t, std::string_view name);

}  // namespace kubehub::hub::cache
