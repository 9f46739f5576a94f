#include "agent/metrics/agent_metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>

namespace kubehub::agent {

AgentMetrics::AgentMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  tunnel_up_ = &prometheus::BuildGauge()
                    .Name("kubehub_agent_tunnel_up")
                    .Help("1 while the tunnel to the hub is up.")
                    .Register(r)
                    .Add({});
  connects_ = &prometheus::BuildCounter()
                   .Name("kubehub_agent_tunnel_connects_total")
                   .Help("Tunnels established to the hub.")
                   .Register(r)
                   .Add({});
  dial_failures_ = &prometheus::BuildCounter()
                        .Name("kubehub_agent_dial_failures_total")
                        .Help("Attempts to reach the hub that failed.")
                        .Register(r)
                        .Add({});
  backoff_seconds_ = &prometheus::BuildGauge()
                          .Name("kubehub_agent_reconnect_backoff_seconds")
                          .Help("The delay chosen before the latest reconnect attempt.")
                          .Register(r)
                          .Add({});
  api_reachable_ = &prometheus::BuildGauge()
                        .Name("kubehub_agent_api_server_reachable")
                        .Help("1 when the last discovery of the edge API server succeeded.")
                        .Register(r)
                        .Add({});
  upstream_requests_ = &prometheus::BuildCounter()
                            .Name("kubehub_agent_upstream_requests_total")
                            .Help("Requests executed against the edge API server, by status code.")
                            .Register(r);
  upstream_seconds_ =
      &prometheus::BuildHistogram()
           .Name("kubehub_agent_upstream_response_seconds")
           .Help("Time from sending a request to the API server to its response head.")
           .Register(r)
           .Add({},
                prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  active_streams_ = &prometheus::BuildGauge()
                         .Name("kubehub_agent_active_streams")
                         .Help("Streams the agent is executing now.")
                         .Register(r)
                         .Add({});
  auto& bytes = prometheus::BuildCounter()
                    .Name("kubehub_agent_tunnel_bytes_total")
                    .Help("Bytes carried by the tunnel to the hub.")
                    .Register(r);
  bytes_in_ = &bytes.Add({{"direction", "in"}});
  bytes_out_ = &bytes.Add({{"direction", "out"}});
}

std::string AgentMetrics::serialize() const {
  {
    std::lock_guard lock(live_mu_);
    syncLiveLocked();
  }
  return prometheus::TextSerializer{}.Serialize(registry_->Collect());
}

void AgentMetrics::tunnelUp() {
  tunnel_up_->Set(1);
  connects_->Increment();
}
void AgentMetrics::tunnelDown() { tunnel_up_->Set(0); }
void AgentMetrics::dialFailed() { dial_failures_->Increment(); }
void AgentMetrics::backoff(double seconds) { backoff_seconds_->Set(seconds); }
void AgentMetrics::apiReachable(bool reachable) { api_reachable_->Set(reachable ? 1 : 0); }
void AgentMetrics::upstreamRequest(int code, double seconds) {
  upstream_requests_->Add({{"code", std::to_string(code)}}).Increment();
  if (code > 0) upstream_seconds_->Observe(seconds);
}
void AgentMetrics::streamOpened() { active_streams_->Increment(); }
void AgentMetrics::streamClosed() { active_streams_->Decrement(); }
void AgentMetrics::syncLiveLocked() const {
  if (!live_) return;
  auto [in, out] = live_();
  if (in > live_in_reported_) bytes_in_->Increment(static_cast<double>(in - live_in_reported_));
  if (out > live_out_reported_) {
    bytes_out_->Increment(static_cast<double>(out - live_out_reported_));
  }
  live_in_reported_ = std::max(in, live_in_reported_);
  live_out_reported_ = std::max(out, live_out_reported_);
}

void AgentMetrics::setLiveTunnelBytes(std::function<std::pair<uint64_t, uint64_t>()> live) {
  std::lock_guard lock(live_mu_);
  syncLiveLocked();  // the ending tunnel's last bytes
  live_ = std::move(live);
  live_in_reported_ = 0;
  live_out_reported_ = 0;
}

}  // namespace kubehub::agent
