#pragma once
/// Every metric the hub exports: the counters the data path moves, declared here (names
/// kubehub_hub_<what>_<unit>; labels bounded: cluster names, verbs, codes, never addresses or
/// token ids), and the figures read at scrape time, which their own modules register as
/// sources (hub/tunnel/tunnel_metrics.h, hub/cache/cache_metrics.h, ...). A leaf: it includes
/// nothing of the hub's, so every folder may report into it. Thread-safe.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/net/tls_source.h"

namespace kubehub::hub {

/// Figures read at scrape time, so the data path pays nothing for them: appends its families.
/// Called on the scraping thread; it must only read what is safe to read from any thread.
using ScrapeSource = std::function<void(std::vector<prometheus::MetricFamily>* out)>;

/// One family of one unlabelled gauge, for scrape sources.
prometheus::MetricFamily gaugeFamily(const char* name, const char* help, double value);

/// How the cache met a read that must be at least as new as a resourceVersion: the edge's
/// current one (a consistent read, resourceVersion unset) or the one the request named.
enum class CacheWaitOutcome {
  /// The store had reached it already: answered from the cache at once.
  kCurrent,
  /// The store caught up while the read waited: answered from the cache.
  kCaughtUp,
  /// The read went to the edge as well (after --cache-hedge-after) and the edge answered first.
  kEdgeFirst,
  /// The store did not catch up within --cache-consistency-timeout: forwarded, or answered
  /// stale where only the cache can answer.
  kTimedOut,
  /// Forwarded without probing: the store was found behind before and has not moved since.
  kKnownBehind,
  /// The edge's resourceVersion could not be probed: forwarded.
  kProbeFailed,
};
inline constexpr int kCacheWaitOutcomes = 6;

class HubMetrics {
 public:
  HubMetrics();
  /// Adds a source read at every scrape, after the counters and the sources added before it.
  /// A source that holds an object the object's own owner also hands this registry should
  /// capture it weakly (the mover reports into here).
  void addScrapeSource(ScrapeSource source);
  /// The TLS material whose expiry and generation are exported at scrape time.
  void setTlsSources(std::vector<std::shared_ptr<net::TlsSource>> s);

  /// The Prometheus text exposition of everything.
  std::string serialize() const;

  void tunnelUp();
  /// `reason` is a small fixed vocabulary: closed, replaced, protocol_error, timeout, shutdown.
  void tunnelDown(std::string_view reason);
  /// `reason`: tls, hello, identity, version, draining.
  void agentRefused(std::string_view reason);
  /// One finished user request. `served_from`: forward, cache, or hub (answered by the hub
  /// itself: auth failures, unknown clusters, bad paths).
  void request(std::string_view cluster, std::string_view tenant, std::string_view verb, int code,
               std::string_view served_from, double seconds, uint64_t bytes_out,
               std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  /// Drops the request series (requests_total, request_seconds, response_bytes_total) no request
  /// used for `idle` (a latency histogram or a byte counter goes with the last series sharing
  /// it). Without it a hub kept, and exported at every scrape, a series for every cluster ever
  /// asked through it: deleted clusters, clusters moved to other hubs, clusters reached once
  /// through a peer. A series used again starts from zero, which rate() and increase() read as
  /// a counter reset. Returns how many request series went.
  size_t forgetIdleRequestSeries(std::chrono::steady_clock::time_point now,
                                 std::chrono::steady_clock::duration idle);
  /// The `idle` the hub passes to forgetIdleRequestSeries.
  static constexpr std::chrono::hours kRequestSeriesIdle{1};
  /// `result`: cached (verdict remembered), verified (signature checked), rejected.
  void tokenVerification(std::string_view result);
  /// `reason`: grant, ban, rate_limit.
  void denial(std::string_view tenant, std::string_view reason);
  /// `reason`: missing, invalid.
  void authFailure(std::string_view reason);
  void streamOpened();
  void streamClosed();
  void watchOpened();
  void watchClosed();
  /// Users' connections: one accepted (held) or closed, or one refused at accept (reason:
  /// "total" or "per_client" limit, "descriptors" when the process ran out of them).
  void userConnectionOpened();
  void userConnectionClosed();
  void userConnectionRefused(std::string_view reason);
  /// A read that waited (or not) for the cache to reach a resourceVersion; `seconds` from the
  /// probe's answer (or the request, when it named the version) to the decision.
  void cacheWait(CacheWaitOutcome outcome, double seconds);
  /// A user's connection moved to the thread of the tunnel (or peer link) its request used.
  void userConnectionMoved();
  /// A request between hubs. direction "out" (this hub is the entry): outcome forwarded,
  /// stale (the owner no longer held the tunnel), unreachable (no link to the owner);
  /// "in" (this hub owns the tunnel): served, stale.
  void peerRequest(std::string_view direction, std::string_view outcome);
  /// Peer links other hubs opened to this one: +1 accepted, -1 closed.
  void peerLinkAccepted(int delta);
  /// A peer link refused: its certificate was not a hub's.
  void peerLinkRefused();
  /// Agents asked to move to another hub; `reason`: draining, rebalancing.
  void agentMovesRequested(std::string_view reason, size_t n);
  /// A TLS source rebuilt after its files (or the CA) changed; ok false: the new material was
  /// unusable and the old one stays in force.
  void tlsReload(std::string_view source, bool ok);
  /// The hub asked the metaserver for its peer certificate (start or renewal).
  void peerCertificateEnrolment(bool ok);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex sources_mu_;
  std::vector<ScrapeSource> sources_;
  prometheus::Family<prometheus::Counter>* tls_reloads_total_;
  prometheus::Family<prometheus::Counter>* peer_enrolments_total_;
  prometheus::Family<prometheus::Counter>* agent_moves_total_;
  prometheus::Family<prometheus::Counter>* peer_requests_total_;
  prometheus::Gauge* peer_links_in_;
  prometheus::Counter* peer_links_refused_total_;
  prometheus::Family<prometheus::Counter>* token_verifications_total_;
  prometheus::Family<prometheus::Counter>* denials_total_;
  prometheus::Gauge* connected_;
  prometheus::Family<prometheus::Counter>* tunnel_up_total_;
  prometheus::Family<prometheus::Counter>* tunnel_down_total_;
  prometheus::Family<prometheus::Counter>* agent_refused_total_;
  prometheus::Family<prometheus::Counter>* requests_total_;
  prometheus::Family<prometheus::Histogram>* request_seconds_;
  prometheus::Family<prometheus::Counter>* response_bytes_total_;
  prometheus::Family<prometheus::Counter>* auth_failures_total_;
  prometheus::Gauge* active_streams_;
  prometheus::Gauge* active_watches_;
  prometheus::Gauge* user_connections_;
  prometheus::Family<prometheus::Counter>* user_connections_refused_total_;
  prometheus::Counter* user_connections_moved_total_;
  /// kubehub_hub_cache_wait_seconds, one series per CacheWaitOutcome (in its order).
  std::array<prometheus::Histogram*, kCacheWaitOutcomes> cache_waits_{};

  /// The series of one (cluster, tenant, verb, code, served_from): looked up once, then reused
  /// (building label maps for three families on every request showed in profiles). Used and
  /// removed only under series_mu_ (forgetIdleRequestSeries frees what the pointers name).
  struct RequestSeries {
    prometheus::Counter* requests;
    prometheus::Histogram* seconds;
    prometheus::Counter* bytes;
    std::chrono::steady_clock::time_point last_used;
  };
  std::mutex series_mu_;
  std::unordered_map<std::string, RequestSeries> series_;
};

}  // namespace kubehub::hub
