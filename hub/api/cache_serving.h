#pragma once
/// Answers a user's GET, LIST or WATCH from the hub cache (see hub/cache/cache_reader.h for
/// which ones qualify): waits for the consistency the request asks for (probing the edge's
/// current resourceVersion through the tunnel for resourceVersion=""), then writes the answer,
/// or streams watch events with bookmarks until the timeout or the client leaves. Falls back
/// to forwarding when the cache cannot catch up in time. A read that waits may also be sent to
/// the edge (a hedge): whichever comes first, the cache catching up or the edge's answer,
/// serves it, so waiting for the cache never makes a read much slower than forwarding it.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "common/tunnel/mux.h"
#include "hub/api/client_connection.h"
#include "hub/api/hedged_read.h"
#include "hub/cache/cache_reader.h"
#include "hub/metrics/hub_metrics.h"

namespace kubehub::hub {

namespace cache {
class CacheRegistry;
}  // namespace cache

struct CacheServeOptions {
  /// How long a read waits for the cache to reach the required resourceVersion before it is
  /// forwarded instead.
  std::chrono::milliseconds consistency_timeout{100};
  /// How long a read waits for the cache alone before it is also sent to the edge (when the
  /// caller can forward it): from then on, the first of the two answers it.
  std::chrono::milliseconds hedge_after{2};
  /// Where waits are counted (kubehub_hub_cache_wait_seconds); may be null. Outlives the server.
  HubMetrics* metrics = nullptr;
  /// Bookmark cadence for watches that allow bookmarks.
  std::chrono::milliseconds bookmark_interval{60000};
  /// Answers over 128 KiB go gzipped to clients that ask, as the API server's do (--cache-gzip).
  bool gzip = true;
};

struct CacheServeResult {
  enum class Kind { kServed, kForward, kConnectionLost } kind = Kind::kForward;
  int status = 0;
  uint64_t bytes = 0;
  /// The connection must not be reused (watch streams end with the connection).
  bool close = false;
  /// kForward: the request already went to the edge (the hedge, answered first or still to
  /// answer); the caller carries on with its stream instead of sending the request again.
  std::shared_ptr<SentRead> hedged;
};

/// Sends the read to the edge as the caller would forward it (hedged_read.h), or returns null
/// when it cannot (not a plain short read, no stream allowed now, the tunnel closing): the read
/// then waits for the cache alone.
using OpenForward = std::function<std::shared_ptr<SentRead>()>;

/// The store of the type a write through this hub to `target` changes, when this hub caches it
/// (null otherwise, and for anything but create, update, patch and delete). The resourceVersion
/// of the write's answer is noted there (noteWrite), so that a read only the cache can answer
/// waits for the write's own event: read-your-writes through kubehub, whatever the watch's delay.
std::shared_ptr<cache::ResourceStore> writtenStore(const cache::CacheRegistry* cache,
                                                   const RequestTarget& target);
/// How much of a write's answer noteWrite is given: its metadata.resourceVersion comes early.
inline constexpr size_t kWrittenPrefix = 4096;
/// Notes the resourceVersion at the start of a successful write's answer (a Status has none).
void noteWrite(cache::ResourceStore& store, std::string_view answer_prefix);

/// `allow_stale`: when the cache cannot catch up in time, answer anyway instead of forwarding;
/// for answers only the cache can give, such as an all-namespaces list trimmed to the namespaces
/// a user is granted. A consistent one waits `hedge_after` for an event in flight, and up to
/// the timeout for the writes noted through this hub (noteWrite), and carries a Warning header
/// only when the store's watch is down, the edge could not be probed or a noted write did not
/// show (a store behind the edge's resourceVersion on a busy edge is still milliseconds behind
/// the type's own changes); one at a resourceVersion the store has not reached always does.
boost::asio::awaitable<CacheServeResult> serveFromCache(
    ClientConnection* client, std::shared_ptr<tunnel::Mux> mux, cache::CacheDecision decision,
    CacheServeOptions options, bool keep_alive, bool allow_stale = false, OpenForward hedge = {});

}  // namespace kubehub::hub
