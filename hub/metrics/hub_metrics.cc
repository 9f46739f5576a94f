#include "hub/metrics/hub_metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <charconv>
#include <sstream>
#include <unordered_set>

namespace kubehub::hub {

namespace {

const prometheus::Histogram::BucketBoundaries& latencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries b = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return b;
}

}  // namespace

prometheus::MetricFamily gaugeFamily(const char* name, const char* help, double value) {
  prometheus::MetricFamily f{name, help, prometheus::MetricType::Gauge, {}};
  prometheus::ClientMetric m;
  m.gauge.value = value;
  f.metric.push_back(m);
  return f;
}

HubMetrics::HubMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  connected_ = &prometheus::BuildGauge()
                    .Name("kubehub_hub_connected_agents")
                    .Help("Agents with an open tunnel to this hub.")
                    .Register(*registry_)
                    .Add({});
  tunnel_up_total_ = &prometheus::BuildCounter()
                          .Name("kubehub_hub_tunnel_up_total")
                          .Help("Tunnels established.")
                          .Register(*registry_);
  tunnel_down_total_ = &prometheus::BuildCounter()
                            .Name("kubehub_hub_tunnel_down_total")
                            .Help("Tunnels closed, by reason.")
                            .Register(*registry_);
  agent_refused_total_ = &prometheus::BuildCounter()
                              .Name("kubehub_hub_agent_refused_total")
                              .Help("Agent connections refused, by reason.")
                              .Register(*registry_);
  requests_total_ =
      &prometheus::BuildCounter()
           .Name("kubehub_hub_requests_total")
           .Help("Users' requests by cluster, verb, code and where they were served from.")
           .Register(*registry_);
  request_seconds_ =
      &prometheus::BuildHistogram()
           .Name("kubehub_hub_request_duration_seconds")
           .Help("Time to the end of users' requests (watches and streams: their lifetime).")
           .Register(*registry_);
  response_bytes_total_ = &prometheus::BuildCounter()
                               .Name("kubehub_hub_response_bytes_total")
                               .Help("Response body bytes sent to users.")
                               .Register(*registry_);
  auth_failures_total_ = &prometheus::BuildCounter()
                              .Name("kubehub_hub_auth_failures_total")
                              .Help("Requests refused for missing or invalid credentials.")
                              .Register(*registry_);
  active_streams_ = &prometheus::BuildGauge()
                         .Name("kubehub_hub_active_streams")
                         .Help("Users' requests in flight through tunnels.")
                         .Register(*registry_)
                         .Add({});
  token_verifications_total_ =
      &prometheus::BuildCounter()
           .Name("kubehub_hub_token_verifications_total")
           .Help("Bearer tokens checked: cached verdicts, signature checks, rejections.")
           .Register(*registry_);
  denials_total_ =
      &prometheus::BuildCounter()
           .Name("kubehub_hub_denials_total")
           .Help(
               "Authenticated requests refused, by tenant and reason (grant, ban, rate_limit, "
               "stream_quota).")
           .Register(*registry_);
  // Counters with a fixed set of labels start at zero, so rate() and dashboards see them at once.
  for (const char* r : {"missing", "invalid", "banned"}) auth_failures_total_->Add({{"reason", r}});
  for (const char* r : {"hello", "version", "identity", "draining"})
    agent_refused_total_->Add({{"reason", r}});
  for (const char* r : {"closed", "replaced", "protocol_error", "timeout", "shutdown"}) {
    tunnel_down_total_->Add({{"reason", r}});
  }
  for (const char* r : {"cached", "verified", "rejected"})
    token_verifications_total_->Add({{"result", r}});
  tunnel_up_total_->Add({});
  active_watches_ = &prometheus::BuildGauge()
                         .Name("kubehub_hub_active_watches")
                         .Help("Watches, followed logs and upgraded streams open now.")
                         .Register(*registry_)
                         .Add({});
  user_connections_ = &prometheus::BuildGauge()
                           .Name("kubehub_hub_user_connections")
                           .Help("Users' connections open now (TLS handshakes included).")
                           .Register(*registry_)
                           .Add({});
  user_connections_refused_total_ =
      &prometheus::BuildCounter()
           .Name("kubehub_hub_user_connections_refused_total")
           .Help(
               "Users' connections closed at accept: over --max-connections with none idle "
               "(total), over --max-connections-per-client (per_client), or out of "
               "descriptors; and idle connections (handshake, request head or keep-alive) "
               "closed at --max-connections to make room for a new one (idle_shed).")
           .Register(*registry_);
  for (const char* r : {"total", "per_client", "descriptors", "idle_shed"})
    user_connections_refused_total_->Add({{"reason", r}});
  user_connections_moved_total_ =
      &prometheus::BuildCounter()
           .Name("kubehub_hub_user_connections_moved_total")
           .Help(
               "Users' connections moved to the thread of the tunnel their request uses (or of "
               "the peer link it used), so that their streams and next requests cross no thread "
               "in the hub.")
           .Register(*registry_)
           .Add({});
  auto& cache_waits = prometheus::BuildHistogram()
                          .Name("kubehub_hub_cache_wait_seconds")
                          .Help(
                              "Reads that must be at least as new as a resourceVersion (the "
                              "edge's current one when resourceVersion is unset): how long each "
                              "waited for the cache to reach it, by outcome (current, caught_up: "
                              "from the cache; edge_first: also sent to the edge, which answered "
                              "first; timed_out; known_behind; probe_failed: forwarded).")
                          .Register(*registry_);
  {
    static const prometheus::Histogram::BucketBoundaries kWaitBuckets = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
    const char* names[kCacheWaitOutcomes] = {"current",   "caught_up",    "edge_first",
                                             "timed_out", "known_behind", "probe_failed"};
    for (int i = 0; i < kCacheWaitOutcomes; ++i)
      cache_waits_[i] = &cache_waits.Add({{"outcome", names[i]}}, kWaitBuckets);
  }
  peer_requests_total_ = &prometheus::BuildCounter()
                              .Name("kubehub_hub_peer_requests_total")
                              .Help(
                                  "Requests between hubs. direction=out: routed by this hub to "
                                  "the hub holding the tunnel; in: served for another hub.")
                              .Register(*registry_);
  for (const char* o : {"forwarded", "stale", "unreachable"})
    peer_requests_total_->Add({{"direction", "out"}, {"outcome", o}});
  for (const char* o : {"served", "stale"})
    peer_requests_total_->Add({{"direction", "in"}, {"outcome", o}});
  agent_moves_total_ = &prometheus::BuildCounter()
                            .Name("kubehub_hub_agent_moves_requested_total")
                            .Help(
                                "Agents this hub asked to move to another hub (make-before-break): "
                                "while draining, or to rebalance the fleet.")
                            .Register(*registry_);
  for (const char* r : {"draining", "rebalancing"}) agent_moves_total_->Add({{"reason", r}});
  peer_links_in_ = &prometheus::BuildGauge()
                        .Name("kubehub_hub_peer_links_accepted")
                        .Help("Peer links other hubs hold to this one now.")
                        .Register(*registry_)
                        .Add({});
  peer_links_refused_total_ = &prometheus::BuildCounter()
                                   .Name("kubehub_hub_peer_links_refused_total")
                                   .Help("Peer links refused: the certificate was not a hub's.")
                                   .Register(*registry_)
                                   .Add({});
  tls_reloads_total_ = &prometheus::BuildCounter()
                            .Name("kubehub_hub_tls_reloads_total")
                            .Help(
                                "TLS material rebuilt after its files or CA changed, by source "
                                "(users, tunnel, peer server, peer client) and result (ok; "
                                "error: unusable, the old one stays in force).")
                            .Register(*registry_);
  peer_enrolments_total_ = &prometheus::BuildCounter()
                                .Name("kubehub_hub_peer_certificate_enrolments_total")
                                .Help(
                                    "Peer certificates this hub asked the metaserver for (at "
                                    "start and on renewal), by result.")
                                .Register(*registry_);
}

void HubMetrics::tlsReload(std::string_view source, bool ok) {
  tls_reloads_total_->Add({{"source", std::string(source)}, {"result", ok ? "ok" : "error"}})
      .Increment();
}

void HubMetrics::peerCertificateEnrolment(bool ok) {
  peer_enrolments_total_->Add({{"result", ok ? "ok" : "error"}}).Increment();
}

void HubMetrics::cacheWait(CacheWaitOutcome outcome, double seconds) {
  cache_waits_[static_cast<size_t>(outcome)]->Observe(seconds);
}

void HubMetrics::peerRequest(std::string_view direction, std::string_view outcome) {
  peer_requests_total_
      ->Add({{"direction", std::string(direction)}, {"outcome", std::string(outcome)}})
      .Increment();
}

void HubMetrics::peerLinkAccepted(int delta) {
  if (delta > 0) {
    peer_links_in_->Increment();
  } else {
    peer_links_in_->Decrement();
  }
}

void HubMetrics::peerLinkRefused() { peer_links_refused_total_->Increment(); }

void HubMetrics::agentMovesRequested(std::string_view reason, size_t n) {
  agent_moves_total_->Add({{"reason", std::string(reason)}}).Increment(static_cast<double>(n));
}

void HubMetrics::addScrapeSource(ScrapeSource source) {
  std::lock_guard lock(sources_mu_);
  sources_.push_back(std::move(source));
}

void HubMetrics::setTlsSources(std::vector<std::shared_ptr<net::TlsSource>> sources) {
  if (sources.empty()) return;
  addScrapeSource([sources = std::move(sources)](std::vector<prometheus::MetricFamily>* out) {
    prometheus::MetricFamily expiry{
        "kubehub_hub_certificate_expiry_timestamp_seconds",
        "notAfter of the certificate each TLS source presents now (alert well before it).",
        prometheus::MetricType::Gauge,
        {}};
    prometheus::MetricFamily generation{
        "kubehub_hub_certificate_generation",
        "Times each TLS source's material was loaded (1 at start, +1 per reload or renewal).",
        prometheus::MetricType::Gauge,
        {}};
    for (const auto& source : sources) {
      prometheus::ClientMetric m;
      m.label = {{"source", source->name()}};
      m.gauge.value = static_cast<double>(source->notAfter());
      expiry.metric.push_back(m);
      m.gauge.value = static_cast<double>(source->generation());
      generation.metric.push_back(m);
    }
    out->push_back(std::move(expiry));
    out->push_back(std::move(generation));
  });
}

std::string HubMetrics::serialize() const {
  auto families = registry_->Collect();
  {
    std::lock_guard lock(sources_mu_);
    for (const auto& source : sources_) source(&families);
  }
  return prometheus::TextSerializer{}.Serialize(families);
}

void HubMetrics::tokenVerification(std::string_view result) {
  token_verifications_total_->Add({{"result", std::string(result)}}).Increment();
}

void HubMetrics::denial(std::string_view tenant, std::string_view reason) {
  denials_total_->Add({{"tenant", std::string(tenant)}, {"reason", std::string(reason)}})
      .Increment();
}

void HubMetrics::tunnelUp() {
  connected_->Increment();
  tunnel_up_total_->Add({}).Increment();
}

void HubMetrics::tunnelDown(std::string_view reason) {
  connected_->Decrement();
  tunnel_down_total_->Add({{"reason", std::string(reason)}}).Increment();
}

void HubMetrics::agentRefused(std::string_view reason) {
  agent_refused_total_->Add({{"reason", std::string(reason)}}).Increment();
}

void HubMetrics::request(std::string_view cluster, std::string_view tenant, std::string_view verb,
                         int code, std::string_view served_from, double seconds, uint64_t bytes_out,
                         std::chrono::steady_clock::time_point now) {
  char code_text[16];
  auto [end, ec] = std::to_chars(code_text, code_text + sizeof(code_text), code);
  std::string_view code_sv(code_text, ec == std::errc() ? static_cast<size_t>(end - code_text) : 0);
  std::string key;
  key.reserve(cluster.size() + tenant.size() + verb.size() + code_sv.size() + served_from.size() +
              4);
  key.append(cluster).append(1, '\0').append(tenant).append(1, '\0').append(verb);
  key.append(1, '\0').append(code_sv).append(1, '\0').append(served_from);
  // Counted under the lock: forgetIdleRequestSeries may free a series the moment it is released.
  std::lock_guard lock(series_mu_);
  auto it = series_.find(key);
  if (it == series_.end()) {
    std::string c(cluster), v(verb), s(served_from);
    RequestSeries fresh{
        &requests_total_->Add({{"cluster", c},
                               {"tenant", std::string(tenant)},
                               {"verb", v},
                               {"code", std::string(code_sv)},
                               {"served_from", s}}),
        &request_seconds_->Add({{"cluster", c}, {"verb", v}, {"served_from", s}}, latencyBuckets()),
        &response_bytes_total_->Add({{"cluster", c}, {"served_from", s}}), now};
    it = series_.emplace(std::move(key), fresh).first;
  }
  RequestSeries& series = it->second;
  series.last_used = std::max(series.last_used, now);
  series.requests->Increment();
  series.seconds->Observe(seconds);
  if (bytes_out > 0) series.bytes->Increment(static_cast<double>(bytes_out));
}

size_t HubMetrics::forgetIdleRequestSeries(std::chrono::steady_clock::time_point now,
                                           std::chrono::steady_clock::duration idle) {
  std::lock_guard lock(series_mu_);
  std::vector<RequestSeries> gone;
  for (auto it = series_.begin(); it != series_.end();) {
    if (now - it->second.last_used >= idle) {
      gone.push_back(it->second);
      it = series_.erase(it);
    } else {
      ++it;
    }
  }
  if (gone.empty()) return 0;
  // A histogram or byte counter shared with a series still in use stays.
  std::unordered_set<const void*> kept;
  for (const auto& [k, s] : series_) {
    kept.insert(s.seconds);
    kept.insert(s.bytes);
  }
  std::unordered_set<const void*> removed;
  for (const RequestSeries& s : gone) {
    requests_total_->Remove(s.requests);
    if (!kept.count(s.seconds) && removed.insert(s.seconds).second) {
      request_seconds_->Remove(s.seconds);
    }
    if (!kept.count(s.bytes) && removed.insert(s.bytes).second) {
      response_bytes_total_->Remove(s.bytes);
    }
  }
  return gone.size();
}

void HubMetrics::authFailure(std::string_view reason) {
  auth_failures_total_->Add({{"reason", std::string(reason)}}).Increment();
}

void HubMetrics::streamOpened() { active_streams_->Increment(); }
void HubMetrics::streamClosed() { active_streams_->Decrement(); }
void HubMetrics::watchOpened() { active_watches_->Increment(); }
void HubMetrics::watchClosed() { active_watches_->Decrement(); }
void HubMetrics::userConnectionOpened() { user_connections_->Increment(); }
void HubMetrics::userConnectionClosed() { user_connections_->Decrement(); }
void HubMetrics::userConnectionMoved() { user_connections_moved_total_->Increment(); }

void HubMetrics::userConnectionRefused(std::string_view reason) {
  user_connections_refused_total_->Add({{"reason", std::string(reason)}}).Increment();
}

}  // namespace kubehub::hub
