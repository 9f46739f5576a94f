#pragma once
/// What cache_reader.h decided about one read: the store that answers it and how, or why it is
/// forwarded. Apart from the reader and the store so that the request planner
/// (hub/api/request_plan.h) can carry a decision without their Asio types.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "hub/cache/selection.h"

namespace kubehub::hub::cache {

class ResourceStore;

enum class Consistency {
  kAny,         // resourceVersion=0: whatever the cache has
  kAtLeast,     // resourceVersion=N (NotOlderThan): wait until the cache reached N
  kConsistent,  // resourceVersion unset: wait until the cache reached the edge's current version
};

struct CacheDecision {
  /// Null when the request must be forwarded; `why_not` says why (for debug logs).
  std::shared_ptr<ResourceStore> store;
  std::string why_not;
  /// Set when the request is refused exactly as the API server refuses it (bad query
  /// parameters): the store is set, and the answer is this error, at once.
  std::optional<int> reject_code;
  std::string reject_body;
  Consistency consistency = Consistency::kAny;
  uint64_t min_rv = 0;
  // GET/LIST
  std::string name;  // GET of one object
  Filter filter;
  size_t limit = 0;
  std::string continue_token;
  Encoding encoding;
  /// The client's Accept-Encoding asks for gzip: an answer over 128 KiB may go compressed
  /// (common/k8s/response_compression.h; never a watch).
  bool accepts_gzip = false;
  // WATCH
  bool watch = false;
  std::optional<uint64_t> watch_from;
  bool bookmarks = false;
  bool send_initial_events = false;
  std::chrono::seconds timeout{1800};
};

}  // namespace kubehub::hub::cache
