#include "hub/tunnel/tunnel_metrics.h"

namespace kubehub::hub {

namespace {

void collectTunnels(const TunnelRegistry& tunnels, std::vector<prometheus::MetricFamily>* out) {
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
  for (const auto& t : tunnels.snapshot()) {
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
      auto i = metric({{"kind", t.kind},
                       {"kubernetes_version", r.kubernetes_version.empty() ? std::string("unknown")
                                                                           : r.kubernetes_version},
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
  for (auto* f :
       {&bytes, &frames, &streams, &opened, &stalls, &up, &discovered, &nodes, &info, &rtt}) {
    out->push_back(std::move(*f));
  }
}

}  // namespace

ScrapeSource tunnelScrapeSource(std::shared_ptr<const TunnelRegistry> tunnels) {
  return [tunnels = std::move(tunnels)](std::vector<prometheus::MetricFamily>* out) {
    collectTunnels(*tunnels, out);
  };
}

ScrapeSource moverScrapeSource(std::weak_ptr<const TunnelMover> mover) {
  return [mover = std::move(mover)](std::vector<prometheus::MetricFamily>* out) {
    if (auto m = mover.lock()) {
      out->push_back(gaugeFamily("kubehub_hub_draining",
                                 "1 while this hub drains (an admin's drain or SIGTERM).",
                                 m->draining() ? 1 : 0));
    }
  };
}

ScrapeSource handshakeScrapeSource(const tunnel::TunnelListener* listener) {
  return [listener](std::vector<prometheus::MetricFamily>* out) {
    out->push_back(gaugeFamily("kubehub_hub_tunnel_handshakes_in_progress",
                               "Connections to the tunnel endpoint in the TLS handshake or the "
                               "WebSocket upgrade.",
                               listener->handshakesInProgress()));
  };
}

}  // namespace kubehub::hub
