#include "hub/metrics/hub_metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <charconv>
#include <sstream>

#include "hub/peer/peer_links.h"
#include "hub/tunnel/tunnel_mover.h"

namespace kubehub::hub {

namespace {

/// Per-tunnel figures read at scrape time from the multiplexers' atomic counters, so the data
/// path pays nothing for them.
class TunnelCollector : public prometheus::Collectable {
 public:
  explicit TunnelCollector(std::shared_ptr<TunnelRegistry> tunnels)
      : tunnels_(std::move(tunnels)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    prometheus::MetricFamily bytes{"kubehub_hub_tunnel_bytes_total",
                                   "Bytes carried by agent tunnels (frames, both directions).",
                                   MetricType::Counter,
                                   {}};
    prometheus::MetricFamily frames{"kubehub_hub_tunnel_frames_total",
                                    "Frames carried by agent tunnels.",
                                    MetricType::Counter,
                                    {}};
    prometheus::MetricFamily streams{
        "kubehub_hub_tunnel_streams", "Open streams per tunnel.", MetricType::Gauge, {}};
    prometheus::MetricFamily opened{"kubehub_hub_tunnel_streams_opened_total",
                                    "Streams opened per tunnel.",
                                    MetricType::Counter,
                                    {}};
    prometheus::MetricFamily stalls{"kubehub_hub_flow_control_stalls_total",
                                    "Times a sender waited for flow-control credit.",
                                    MetricType::Counter,
                                    {}};
    prometheus::MetricFamily discovered{"kubehub_hub_discovery_resources",
                                        "Resource types the cluster's agent reported in discovery.",
                                        MetricType::Gauge,
                                        {}};
    prometheus::MetricFamily up{"kubehub_hub_cluster_connected",
                                "1 for each cluster whose agent holds a tunnel to this hub.",
                                MetricType::Gauge,
                                {}};
    prometheus::MetricFamily nodes{
        "kubehub_hub_cluster_nodes",
        "Nodes of each cluster whose agent holds a tunnel here, by readiness (its last status "
        "report).",
        MetricType::Gauge,
        {}};
    prometheus::MetricFamily info{
        "kubehub_hub_cluster_info",
        "1 for each cluster whose agent holds a tunnel here, labelled with its kind (kubernetes "
        "or host) and the Kubernetes and agent versions of its last status report.",
        MetricType::Gauge,
        {}};
    prometheus::MetricFamily rtt{"kubehub_hub_cluster_tunnel_rtt_seconds",
                                 "The tunnel round trip the agent measured (its last status "
                                 "report).",
                                 MetricType::Gauge,
                                 {}};
    for (const auto& t : tunnels_->snapshot()) {
      const auto& s = t.mux->stats();
      auto metric = [&](std::vector<prometheus::ClientMetric::Label> extra) {
        prometheus::ClientMetric m;
        m.label.push_back({"cluster", t.cluster});
        for (auto& l : extra) m.label.push_back(std::move(l));
        return m;
      };
      auto in = metric({{"direction", "in"}});
      in.counter.value = static_cast<double>(s.bytes_in.load());
      auto out = metric({{"direction", "out"}});
      out.counter.value = static_cast<double>(s.bytes_out.load());
      bytes.metric.push_back(in);
      bytes.metric.push_back(out);
      auto fin = metric({{"direction", "in"}});
      fin.counter.value = static_cast<double>(s.frames_in.load());
      auto fout = metric({{"direction", "out"}});
      fout.counter.value = static_cast<double>(s.frames_out.load());
      frames.metric.push_back(fin);
      frames.metric.push_back(fout);
      auto st = metric({});
      st.gauge.value = static_cast<double>(t.mux->streamCount());
      streams.metric.push_back(st);
      auto op = metric({});
      op.counter.value = static_cast<double>(s.streams_opened.load());
      opened.metric.push_back(op);
      auto sl = metric({});
      sl.counter.value = static_cast<double>(s.credit_stalls.load());
      stalls.metric.push_back(sl);
      auto u = metric({});
      u.gauge.value = 1;
      up.metric.push_back(u);
      auto d = metric({});
      d.gauge.value = static_cast<double>(t.discovered_types);
      discovered.metric.push_back(d);
      if (t.status) {
        const proto::ClusterStatusReport& r = *t.status;
        if (r.nodes) {
          auto ready = metric({{"state", "ready"}});
          ready.gauge.value = static_cast<double>(r.nodes->ready);
          auto not_ready = metric({{"state", "notready"}});
          not_ready.gauge.value = static_cast<double>(r.nodes->total - r.nodes->ready);
          nodes.metric.push_back(ready);
          nodes.metric.push_back(not_ready);
        }
        auto i =
            metric({{"kind", t.kind},
                    {"kubernetes_version",
                     r.kubernetes_version.empty() ? std::string("unknown") : r.kubernetes_version},
                    {"agent_version", r.agent_version}});
        i.gauge.value = 1;
        info.metric.push_back(i);
        if (r.rtt_ms) {
          auto m = metric({});
          m.gauge.value = *r.rtt_ms / 1000.0;
          rtt.metric.push_back(m);
        }
      }
    }
    return {bytes, frames, streams, opened, stalls, up, discovered, nodes, info, rtt};
  }

 private:
  std::shared_ptr<TunnelRegistry> tunnels_;
};

const prometheus::Histogram::BucketBoundaries& latencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries b = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return b;
}

}  // namespace

HubMetrics::HubMetrics(std::shared_ptr<TunnelRegistry> tunnels)
    : registry_(std::make_shared<prometheus::Registry>()),
      tunnel_collector_(std::make_shared<TunnelCollector>(std::move(tunnels))) {
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

std::string HubMetrics::serialize() const {
  auto families = registry_->Collect();
  auto tunnel = tunnel_collector_->Collect();
  families.insert(families.end(), tunnel.begin(), tunnel.end());
  using prometheus::MetricType;
  if (cache_) {
    prometheus::MetricFamily objects{
        "kubehub_hub_cache_objects", "Objects in the hub cache.", MetricType::Gauge, {}};
    prometheus::MetricFamily bytes{
        "kubehub_hub_cache_bytes",
        "Bytes held by the hub cache: current objects plus the event window's history (what "
        "--cache-max-bytes counts).",
        MetricType::Gauge,
        {}};
    prometheus::MetricFamily window_bytes{
        "kubehub_hub_cache_window_bytes",
        "Part of kubehub_hub_cache_bytes held only by the event window (old versions and "
        "deleted objects kept for watches resuming from a resourceVersion).",
        MetricType::Gauge,
        {}};
    prometheus::MetricFamily window_events{
        "kubehub_hub_cache_window_events",
        "Events in the window a watch can resume from (bounded by --cache-window and "
        "--cache-window-bytes).",
        MetricType::Gauge,
        {}};
    prometheus::MetricFamily synced{
        "kubehub_hub_cache_synced",
        "1 when a cached type finished its initial list (reads are served from it).",
        MetricType::Gauge,
        {}};
    prometheus::MetricFamily live{"kubehub_hub_cache_live",
                                  "1 while a cached type's watch on the edge runs.",
                                  MetricType::Gauge,
                                  {}};
    prometheus::MetricFamily lists{
        "kubehub_hub_cache_lists_total",
        "Full LISTs of a cached type applied from the edge: the initial sync, then one per "
        "relist (410 Gone). A tunnel that comes back resumes its watches from their "
        "resourceVersion without one.",
        MetricType::Counter,
        {}};
    for (const auto& c : cache_->all()) {
      for (const auto& t : c->state()) {
        auto metric = [&](double v) {
          prometheus::ClientMetric m;
          m.label = {{"cluster", c->cluster()}, {"resource", t.resource}};
          m.gauge.value = v;
          return m;
        };
        objects.metric.push_back(metric(static_cast<double>(t.objects)));
        bytes.metric.push_back(metric(static_cast<double>(t.bytes)));
        window_bytes.metric.push_back(metric(static_cast<double>(t.window_bytes)));
        window_events.metric.push_back(metric(static_cast<double>(t.window_events)));
        synced.metric.push_back(metric(t.synced ? 1 : 0));
        live.metric.push_back(metric(t.live ? 1 : 0));
        prometheus::ClientMetric m;
        m.label = {{"cluster", c->cluster()}, {"resource", t.resource}};
        m.counter.value = static_cast<double>(t.lists);
        lists.metric.push_back(m);
      }
    }
    prometheus::MetricFamily dropped{
        "kubehub_hub_cache_budget_drops_total",
        "Cached types that fell back to forwarding because the cluster's cache "
        "exceeded --cache-max-bytes.",
        MetricType::Counter,
        {}};
    for (const auto& c : cache_->all()) {
      prometheus::ClientMetric m;
      m.label = {{"cluster", c->cluster()}};
      m.counter.value = static_cast<double>(c->droppedTypes());
      dropped.metric.push_back(m);
    }
    families.push_back(dropped);
    families.push_back(objects);
    families.push_back(bytes);
    families.push_back(window_bytes);
    families.push_back(window_events);
    families.push_back(synced);
    families.push_back(live);
    families.push_back(lists);
  }
  // One unlabelled gauge, read at scrape time.
  auto gauge = [&families](const char* name, const char* help, double value) {
    prometheus::MetricFamily f{name, help, MetricType::Gauge, {}};
    prometheus::ClientMetric m;
    m.gauge.value = value;
    f.metric.push_back(m);
    families.push_back(std::move(f));
  };
  if (metaserver_) {
    gauge("kubehub_hub_metaserver_reachable",
          "1 while the last exchange with the metaserver succeeded.",
          metaserver_->health() == "ok" ? 1 : 0);
    gauge("kubehub_hub_revoked_tokens", "Revoked, unexpired tokens the hub refuses.",
          static_cast<double>(metaserver_->snapshot()->revoked->size()));
    gauge("kubehub_hub_routing_table_hubs", "Live hubs in the routing table (this one included).",
          static_cast<double>(metaserver_->routes()->hubs.size()));
    gauge("kubehub_hub_routing_table_age_seconds",
          "Seconds since the metaserver last confirmed the routing table (-1: never).",
          metaserver_->routesAgeSeconds());
  }
  if (!tls_sources_.empty()) {
    prometheus::MetricFamily expiry{
        "kubehub_hub_certificate_expiry_timestamp_seconds",
        "notAfter of the certificate each TLS source presents now (alert well before it).",
        MetricType::Gauge,
        {}};
    prometheus::MetricFamily generation{
        "kubehub_hub_certificate_generation",
        "Times each TLS source's material was loaded (1 at start, +1 per reload or renewal).",
        MetricType::Gauge,
        {}};
    for (const auto& source : tls_sources_) {
      prometheus::ClientMetric m;
      m.label = {{"source", source->name()}};
      m.gauge.value = static_cast<double>(source->notAfter());
      expiry.metric.push_back(m);
      m.gauge.value = static_cast<double>(source->generation());
      generation.metric.push_back(m);
    }
    families.push_back(std::move(expiry));
    families.push_back(std::move(generation));
  }
  if (auto mover = mover_.lock()) {
    gauge("kubehub_hub_draining", "1 while this hub drains (an admin's drain or SIGTERM).",
          mover->draining() ? 1 : 0);
  }
  if (peers_) {
    prometheus::MetricFamily links{"kubehub_hub_peer_links",
                                   "Peer links this hub holds to others, by state.",
                                   MetricType::Gauge,
                                   {}};
    size_t up = 0, total = 0;
    for (const auto& l : peers_->snapshot()) {
      ++total;
      up += l.up ? 1 : 0;
    }
    for (auto [state, n] : {std::pair<const char*, size_t>{"up", up}, {"down", total - up}}) {
      prometheus::ClientMetric m;
      m.label.push_back({"state", state});
      m.gauge.value = static_cast<double>(n);
      links.metric.push_back(m);
    }
    families.push_back(links);
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
                         int code, std::string_view served_from, double seconds,
                         uint64_t bytes_out) {
  char code_text[16];
  auto [end, ec] = std::to_chars(code_text, code_text + sizeof(code_text), code);
  std::string_view code_sv(code_text, ec == std::errc() ? static_cast<size_t>(end - code_text) : 0);
  std::string key;
  key.reserve(cluster.size() + tenant.size() + verb.size() + code_sv.size() + served_from.size() +
              4);
  key.append(cluster).append(1, '\0').append(tenant).append(1, '\0').append(verb);
  key.append(1, '\0').append(code_sv).append(1, '\0').append(served_from);
  RequestSeries series{};
  {
    std::lock_guard lock(series_mu_);
    auto it = series_.find(key);
    if (it == series_.end()) {
      std::string c(cluster), v(verb), s(served_from);
      RequestSeries fresh{&requests_total_->Add({{"cluster", c},
                                                 {"tenant", std::string(tenant)},
                                                 {"verb", v},
                                                 {"code", std::string(code_sv)},
                                                 {"served_from", s}}),
                          &request_seconds_->Add({{"cluster", c}, {"verb", v}, {"served_from", s}},
                                                 latencyBuckets()),
                          &response_bytes_total_->Add({{"cluster", c}, {"served_from", s}})};
      it = series_.emplace(std::move(key), fresh).first;
    }
    series = it->second;
  }
  series.requests->Increment();
  series.seconds->Observe(seconds);
  if (bytes_out > 0) series.bytes->Increment(static_cast<double>(bytes_out));
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
void HubMetrics::userConnectionRefused(std::string_view reason) {
  user_connections_refused_total_->Add({{"reason", std::string(reason)}}).Increment();
}

}  // namespace kubehub::hub
