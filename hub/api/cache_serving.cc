#include "hub/api/cache_serving.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "common/k8s/response_compression.h"
#include "common/log/log.h"
#include "common/net/async_signal.h"
#include "common/net/http_chunks.h"
#include "hub/cache/cluster_cache.h"
#include "hub/cache/object_codec.h"
#include "hub/cache/reflector.h"

namespace kubehub::hub {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using cache::Consistency;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
/// How long a consistent read waits for a shared probe of the edge's resourceVersion before it
/// is forwarded instead.
constexpr std::chrono::seconds kProbeWait{10};

int64_t nowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Waits until the store reached `target` (true) or the deadline passed / the store went
/// stale (false).
asio::awaitable<bool> waitForRv(std::shared_ptr<cache::ResourceStore> store, uint64_t target,
                                std::chrono::milliseconds timeout) {
  if (store->rv() >= target) co_return true;
  auto ex = co_await asio::this_coro::executor;
  auto signal = std::make_shared<net::AsyncSignal>(ex);
  auto result = std::make_shared<std::atomic<int>>(-1);
  store->whenRv(target, [signal, result](bool ok) {
    result->store(ok ? 1 : 0);
    signal->notify();
  });
  asio::steady_timer timer(ex);
  timer.expires_after(timeout);
  co_await (signal->wait() || timer.async_wait(kUseTuple));
  co_return result->load() == 1;
}

constexpr std::string_view kStaleWarning =
    "Warning: 299 - \"kubehub: answered from the hub cache, which could not confirm it is up to "
    "date with the edge in time\"\r\n";

/// `gzip`: the body goes gzipped (chunked then).
std::string head(int status, const std::string& content_type, size_t length, bool keep_alive,
                 bool chunked, bool stale = false, bool gzip = false) {
  std::string reason = status == 200   ? "OK"
                       : status == 404 ? "Not Found"
                       : status == 410 ? "Gone"
                                       : "Bad Request";
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                  "\r\nContent-Type: " + content_type +
                  "\r\nCache-Control: no-cache, private\r\nX-Kubehub-Served-From: cache\r\n";
  if (gzip) h += "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n";
  if (chunked) {
    h += "Transfer-Encoding: chunked\r\n";
  } else {
    h += "Content-Length: " + std::to_string(length) + "\r\n";
  }
  if (!keep_alive) h += "Connection: close\r\n";
  if (stale) h += kStaleWarning;
  h += "\r\n";
  return h;
}

asio::awaitable<bool> writeChunk(ClientConnection* client, const std::string& data) {
  if (data.empty()) co_return true;
  net::ChunkSizeLine size_line(data.size());
  co_return co_await client->write(size_line.view(), data, net::kChunkEnd);
}

/// The most a cached watch encodes before writing (as a cached list's pieces).
constexpr size_t kWatchPieceBytes = 256 * 1024;

/// The body of a watch served from the cache, until timeout, a closed queue, or a dead client.
asio::awaitable<uint64_t> streamWatch(ClientConnection* client, cache::CacheDecision d,
                                      std::shared_ptr<cache::WatchQueue> queue,
                                      std::shared_ptr<net::AsyncSignal> signal,
                                      std::vector<cache::Event> initial, CacheServeOptions o) {
  const cache::TypeInfo& t = d.store->info();
  cache::Encoding enc = d.encoding;
  std::string columns = enc.table ? d.store->columns() : std::string();
  bool first = true;
  uint64_t bytes = 0;
  uint64_t last_rv = d.store->rv();
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  auto deadline = std::chrono::steady_clock::now() + d.timeout;
  auto next_bookmark = std::chrono::steady_clock::now() + o.bookmark_interval;

  // Encodes events from `from` on into `out` until it holds a piece's worth; returns where it
  // stopped. A watch from "now" or from 0 starts with every object of the type: it goes out a
  // piece at a time, as a cached list does, never as one string the size of the collection.
  auto send = [&](const std::vector<cache::Event>& events, size_t from, std::string* out) {
    enc.now_unix = nowUnix();
    size_t i = from;
    for (; i < events.size() && out->size() < kWatchPieceBytes; ++i) {
      out->append(cache::encodeWatchEvent(t, events[i], enc, columns, first && enc.table));
      first = false;
      last_rv = std::max(last_rv, events[i].rv);
    }
    return i;
  };
  std::string batch;
  size_t sent = 0;
  do {
    batch.clear();
    sent = send(initial, sent, &batch);
    if (sent == initial.size() && d.send_initial_events) {
      batch += cache::encodeBookmark(t, last_rv, enc, true);
    }
    if (!batch.empty()) {
      if (!co_await writeChunk(client, batch)) co_return bytes;
      bytes += batch.size();
    }
  } while (sent < initial.size());
  initial = {};
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    auto wake = deadline;
    if (d.bookmarks) wake = std::min(wake, next_bookmark);
    timer.expires_at(wake);
    co_await (signal->wait() || timer.async_wait(kUseTuple));
    bool closed = false;
    std::string reason;
    auto events = queue->take(&closed, &reason);
    batch.clear();
    for (size_t done = send(events, 0, &batch); done < events.size();
         done = send(events, done, &batch)) {
      if (!co_await writeChunk(client, batch)) co_return bytes;
      bytes += batch.size();
      batch.clear();
    }
    now = std::chrono::steady_clock::now();
    if (d.bookmarks && now >= next_bookmark) {
      uint64_t rv = std::max(last_rv, queue->storeRv());
      batch += cache::encodeBookmark(t, rv, enc, false);
      last_rv = rv;
      next_bookmark = now + o.bookmark_interval;
    }
    if (!batch.empty()) {
      if (!co_await writeChunk(client, batch)) co_return bytes;
      bytes += batch.size();
    }
    if (closed) {
      log::debug("cached watch closed", {{"reason", reason}});
      break;
    }
  }
  co_await client->write(net::kLastChunk);
  co_return bytes;
}

/// streamWatch, then closes the connection: that also ends the waitClosed() racing with it.
asio::awaitable<uint64_t> streamWatchAndClose(ClientConnection* client, cache::CacheDecision d,
                                              std::shared_ptr<cache::WatchQueue> queue,
                                              std::shared_ptr<net::AsyncSignal> signal,
                                              std::vector<cache::Event> initial,
                                              CacheServeOptions o) {
  uint64_t bytes = co_await streamWatch(client, d, queue, signal, std::move(initial), o);
  client->close();
  co_return bytes;
}

}  // namespace

std::shared_ptr<cache::ResourceStore> writtenStore(const cache::CacheRegistry* cache,
                                                   const RequestTarget& target) {
  const k8s::RequestInfo& info = target.info;
  if (cache == nullptr || !info.is_resource_request || info.resource.empty() ||
      (info.verb != "create" && info.verb != "update" && info.verb != "patch" &&
       info.verb != "delete")) {
    return nullptr;
  }
  auto cluster = cache->find(target.route.cluster);
  return cluster ? cluster->store(info.api_group, info.api_version, info.resource) : nullptr;
}

void noteWrite(cache::ResourceStore& store, std::string_view answer_prefix) {
  if (auto rv = cache::leadingResourceVersion(answer_prefix)) store.noteWrite(*rv);
}

asio::awaitable<CacheServeResult> serveFromCache(ClientConnection* client,
                                                 std::shared_ptr<tunnel::Mux> mux,
                                                 cache::CacheDecision d, CacheServeOptions o,
                                                 bool keep_alive, bool allow_stale,
                                                 OpenForward hedge) {
  CacheServeResult result;
  uint64_t target = 0;
  bool stale = false;
  auto counted = [&o](CacheWaitOutcome outcome, std::chrono::steady_clock::time_point since) {
    if (o.metrics == nullptr) return;
    o.metrics->cacheWait(
        outcome, std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count());
  };
  if (d.consistency == Consistency::kConsistent) {
    // A store found behind that has not moved since will not be current now either: the API
    // offers clients no on-demand progress notification, so a quiet type catches up only at its
    // next event or bookmark. Forward at once instead of probing and waiting again.
    // A read only the cache can answer probes all the same: the probe's round trip through the
    // tunnel is about the time an event in flight needs (the watch event of the user's own
    // write takes the same path), and it is all that read waits for then.
    if (!allow_stale && d.store->knownBehind()) {
      counted(CacheWaitOutcome::kKnownBehind, std::chrono::steady_clock::now());
      co_return result;
    }
    absl::StatusOr<uint64_t> probed = absl::UnavailableError("no tunnel");
    if (mux) {
      // Concurrent consistent reads of the type share probes (at most one in flight).
      cache::ProbeGate::Probe probe = [mux, info = d.store->info()]() {
        return cache::probeEdgeRv(mux, info);
      };
      probed = co_await d.store->probeGate().run(std::move(probe), kProbeWait);
    }
    if (!probed.ok()) {
      counted(CacheWaitOutcome::kProbeFailed, std::chrono::steady_clock::now());
      if (!allow_stale) co_return result;  // forward: the edge's own answer (or error) is truth
      stale = true;
    } else {
      target = *probed;
    }
  } else if (d.consistency == Consistency::kAtLeast) {
    target = d.min_rv;
  }
  if (target > 0 && d.store->rv() >= target) {
    counted(CacheWaitOutcome::kCurrent, std::chrono::steady_clock::now());
  } else if (target > 0) {
    const auto since = std::chrono::steady_clock::now();
    // What is left of the timeout for the cache.
    auto left = [&] {
      return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                          o.consistency_timeout - (std::chrono::steady_clock::now() - since)),
                      std::chrono::milliseconds::zero());
    };
    // Not a watch: its head comes from the edge at once and says nothing about who would have
    // been first with the data; a watch the cache can serve after a short wait spares the edge
    // a watcher.
    const bool may_hedge =
        hedge && !allow_stale && !d.watch && o.hedge_after < o.consistency_timeout;
    // A consistent read only the cache can answer (an all-namespaces list trimmed to a user's
    // namespaces) cannot go to the edge: it waits as long as another read waits alone, for an
    // event in flight, and for the events of the writes acknowledged through this hub (below),
    // then is answered as the store is.
    const bool cache_only = allow_stale && d.consistency == Consistency::kConsistent;
    bool caught_up =
        co_await waitForRv(d.store, target,
                           may_hedge || cache_only ? std::min(o.hedge_after, o.consistency_timeout)
                                                   : o.consistency_timeout);
    std::shared_ptr<SentRead> sent;
    if (!caught_up && may_hedge) sent = hedge();
    bool edge_first = false;
    if (!caught_up && sent != nullptr) {
      // The read is on its way to the edge too: the first of the cache catching up (within
      // what is left of the timeout) and the edge's answer serves it.
      auto first = co_await (waitForRv(d.store, target, left()) || sent->stream->responseHead());
      if (first.index() == 0) {
        caught_up = std::get<0>(first);
      } else if (std::get<1>(first).ok()) {
        edge_first = true;
      } else {
        // No answer will come on it (the tunnel closing, the stream refused): the read is
        // forwarded the ordinary way, which may find the cluster elsewhere.
        sent.reset();
        caught_up = co_await waitForRv(d.store, target, left());
      }
      if (caught_up && sent != nullptr) {
        sent->stream->reset(proto::ResetCode::kCancel, "answered from the hub cache");
        sent.reset();  // and its share of the streams with it, before the answer is written
      }
    } else if (!caught_up && may_hedge) {
      caught_up = co_await waitForRv(d.store, target, left());  // no hedge now: the cache alone
    }
    bool own_writes = true;  // the store holds every write acknowledged through this hub
    if (!caught_up && cache_only) {
      // Short of the edge (other types moved it), but never of what the user wrote through
      // kubehub: wait for the last such write's event, within what is left of the timeout.
      uint64_t written = d.store->writtenRv();
      if (written > d.store->rv()) own_writes = co_await waitForRv(d.store, written, left());
    }
    counted(caught_up    ? CacheWaitOutcome::kCaughtUp
            : edge_first ? CacheWaitOutcome::kEdgeFirst
                         : CacheWaitOutcome::kTimedOut,
            since);
    if (!caught_up) {
      if (d.consistency == Consistency::kConsistent) d.store->markBehind();
      if (!allow_stale) {
        result.hedged = std::move(sent);  // forward, or carry on with the hedge's stream
        co_return result;
      }
      // On an edge whose other types move (every real cluster: kubelets renew their Leases) a
      // quiet type's store is never confirmed current, yet it follows the edge's watch of the
      // type within milliseconds: answered as it is, with the Warning only when that watch is
      // down. A store short of a resourceVersion the client named is always stale.
      stale = !cache_only || !d.store->live() || !own_writes;
    }
  }

  if (!d.watch) {
    cache::CacheAnswer a = cache::answerFromCache(d, nowUnix());
    result.status = a.status;
    const bool gzip_ok = o.gzip && d.accepts_gzip;
    if (a.page) {
      // A large list: encoded and written a chunk at a time, never as one giant string. As the
      // API server decides on its first write, the first chunk decides on compression.
      cache::ListEncoder encoder(d.store->info(), *a.page, a.encoding, a.columns);
      std::string chunk = encoder.head();
      bool more = encoder.next(&chunk, 256 * 1024);
      if (!more) chunk += encoder.tail();
      std::optional<k8s::GzipWriter> gzip;
      if (gzip_ok && (more || chunk.size() > k8s::kGzipThresholdBytes)) gzip.emplace();
      std::string h = head(a.status, a.content_type, 0, keep_alive, true, stale, gzip.has_value());
      if (!co_await client->write(h)) {
        result.kind = CacheServeResult::Kind::kConnectionLost;
        co_return result;
      }
      std::string zipped;
      for (;;) {
        const std::string* out = &chunk;
        if (gzip) {
          zipped.clear();
          if (!gzip->write(chunk, !more, &zipped)) {
            // Out of memory in zlib: the head is gone, so the answer can only end here.
            log::error("gzip of a cached answer failed; the connection is closed");
            result.kind = CacheServeResult::Kind::kConnectionLost;
            co_return result;
          }
          out = &zipped;
        }
        if (!co_await writeChunk(client, *out)) {
          result.kind = CacheServeResult::Kind::kConnectionLost;
          co_return result;
        }
        result.bytes += out->size();
        if (!more) break;
        chunk.clear();
        more = encoder.next(&chunk, 256 * 1024);
        if (!more) chunk += encoder.tail();
      }
      if (!co_await client->write(net::kLastChunk)) {
        result.kind = CacheServeResult::Kind::kConnectionLost;
        co_return result;
      }
      result.kind = CacheServeResult::Kind::kServed;
      result.close = !keep_alive;
      co_return result;
    }
    if (gzip_ok && a.body.size() > k8s::kGzipThresholdBytes) {
      if (std::string zipped = k8s::gzipFast(a.body); !zipped.empty()) {
        std::string h =
            head(a.status, a.content_type, zipped.size(), keep_alive, false, stale, true);
        if (!co_await client->write(h, zipped)) {
          result.kind = CacheServeResult::Kind::kConnectionLost;
          co_return result;
        }
        result.kind = CacheServeResult::Kind::kServed;
        result.bytes = zipped.size();
        result.close = !keep_alive;
        co_return result;
      }
    }
    std::string h = head(a.status, a.content_type, a.body.size(), keep_alive, false, stale);
    if (!co_await client->write(h, a.body)) {
      result.kind = CacheServeResult::Kind::kConnectionLost;
      co_return result;
    }
    result.kind = CacheServeResult::Kind::kServed;
    result.bytes = a.body.size();
    result.close = !keep_alive;
    co_return result;
  }

  auto ex = co_await asio::this_coro::executor;
  auto signal = std::make_shared<net::AsyncSignal>(ex);
  std::vector<cache::Event> initial;
  std::optional<uint64_t> from = d.watch_from;
  auto queue = d.store->watch(d.filter, from, &initial, [signal] { signal->notify(); });
  result.kind = CacheServeResult::Kind::kServed;
  result.status = 200;
  result.close = true;
  std::string h = head(200, cache::contentType(d), 0, false, true);
  if (!queue.ok()) {
    // A resourceVersion older than the window: the API server answers 200 and an ERROR event.
    std::string message(queue.status().message());
    std::string ev = cache::encodeErrorEvent(410, "Expired", message);
    if (co_await client->write(h) && co_await writeChunk(client, ev)) {
      co_await client->write(net::kLastChunk);
    }
    client->close();
    co_return result;
  }
  if (!co_await client->write(h)) {
    d.store->unwatch(*queue);
    result.kind = CacheServeResult::Kind::kConnectionLost;
    co_return result;
  }
  auto bytes = co_await (streamWatchAndClose(client, d, *queue, signal, std::move(initial), o) ||
                         client->waitClosed());
  d.store->unwatch(*queue);
  if (bytes.index() == 0) result.bytes = std::get<0>(bytes);
  client->close();
  co_return result;
}

}  // namespace kubehub::hub
