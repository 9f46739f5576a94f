#include "agent/metrics/agent_metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>

namespace kubehub::agent {

AgentMetrics::AgentMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  tunnel_up_ = &prometheus::BuildGauge()
                    .Name("kubehub_agent_tunnel_up")
                    .Help("1 while at least one tunnel to a hub is up.")
                    .Register(r)
                    .Add({});
  tunnels_up_ = &prometheus::BuildGauge()
                     .Name("kubehub_agent_tunnels_up")
                     .Help("Tunnels to distinct hubs up now.")
                     .Register(r)
                     .Add({});
  connects_ = &prometheus::BuildCounter()
                   .Name("kubehub_agent_tunnel_connects_total")
                   .Help("Tunnels established to a hub.")
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
  upstream_connections_ = &prometheus::BuildCounter()
                               .Name("kubehub_agent_upstream_connections_opened_total")
                               .Help("Connections made to the edge API server (TLS handshakes).")
                               .Register(r)
                               .Add({});
  upstream_idle_ = &prometheus::BuildGauge()
                        .Name("kubehub_agent_upstream_connections_idle")
                        .Help(
                            "Keep-alive connections to the edge API server waiting in the pool "
                            "(closed after --upstream-idle-timeout unused).")
                        .Register(r)
                        .Add({});
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
  upgraded_streams_ =
      &prometheus::BuildGauge()
           .Name("kubehub_agent_upgraded_streams")
           .Help(
               "Upgraded streams (101 from the API server) the agent carries now, by "
               "subresource: from the 101 until both directions have ended.")
           .Register(r);
  for (std::string_view kind : kUpgradeKinds) {
    upgraded_streams_->Add({{"subresource", std::string(kind)}});
  }
  auto& bytes = prometheus::BuildCounter()
                    .Name("kubehub_agent_tunnel_bytes_total")
                    .Help("Bytes carried by the tunnels to hubs.")
                    .Register(r);
  bytes_in_ = &bytes.Add({{"direction", "in"}});
  bytes_out_ = &bytes.Add({{"direction", "out"}});
  certificate_expiry_ =
      &prometheus::BuildGauge()
           .Name("kubehub_agent_certificate_expiry_timestamp_seconds")
           .Help(
               "notAfter of the client certificate new tunnels present (seconds since the "
               "epoch).")
           .Register(r)
           .Add({});
  renewals_ = &prometheus::BuildCounter()
                   .Name("kubehub_agent_certificate_renewals_total")
                   .Help("Renewals of the enrolled certificate with the metaserver, by result.")
                   .Register(r);
  tls_reloads_ = &prometheus::BuildCounter()
                      .Name("kubehub_agent_tls_reloads_total")
                      .Help(
                          "Changes of the --tls-cert/--tls-key files: reloaded (ok) or not "
                          "usable, the pair in force kept (error).")
                      .Register(r);
  commands_ = &prometheus::BuildCounter()
                   .Name("kubehub_agent_commands_total")
                   .Help("Native command calls, by command and outcome.")
                   .Register(r);
  command_seconds_ = &prometheus::BuildHistogram()
                          .Name("kubehub_agent_command_duration_seconds")
                          .Help("How long native command calls ran, by command.")
                          .Register(r);
}

void AgentMetrics::certificateExpiry(int64_t not_after) {
  certificate_expiry_->Set(static_cast<double>(not_after));
}
void AgentMetrics::certificateRenewal(bool ok) {
  renewals_->Add({{"result", ok ? "ok" : "error"}}).Increment();
}
void AgentMetrics::tlsReload(bool ok) {
  tls_reloads_->Add({{"result", ok ? "ok" : "error"}}).Increment();
}

void AgentMetrics::commandRun(std::string_view command, std::string_view outcome, double seconds) {
  commands_->Add({{"command", std::string(command)}, {"outcome", std::string(outcome)}})
      .Increment();
  command_seconds_
      ->Add({{"command", std::string(command)}},
            prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60,
                                                    300, 900, 3600})
      .Observe(seconds);
}

std::string AgentMetrics::serialize() const {
  {
    std::lock_guard lock(mu_);
    for (auto& [handle, tunnel] : live_) syncLiveLocked(tunnel);
  }
  return prometheus::TextSerializer{}.Serialize(registry_->Collect());
}

void AgentMetrics::tunnelUp() {
  std::lock_guard lock(mu_);
  ++tunnels_;
  tunnels_up_->Set(static_cast<double>(tunnels_));
  tunnel_up_->Set(1);
  connects_->Increment();
}
void AgentMetrics::tunnelDown() {
  std::lock_guard lock(mu_);
  tunnels_ = std::max(tunnels_ - 1, 0);
  tunnels_up_->Set(static_cast<double>(tunnels_));
  tunnel_up_->Set(tunnels_ > 0 ? 1 : 0);
}
void AgentMetrics::dialFailed() { dial_failures_->Increment(); }
void AgentMetrics::backoff(double seconds) { backoff_seconds_->Set(seconds); }
void AgentMetrics::apiReachable(bool reachable) { api_reachable_->Set(reachable ? 1 : 0); }

void AgentMetrics::upstreamConnectionOpened() { upstream_connections_->Increment(); }
void AgentMetrics::upstreamIdleConnections(size_t count) {
  upstream_idle_->Set(static_cast<double>(count));
}
void AgentMetrics::upstreamRequest(int code, double seconds) {
  upstream_requests_->Add({{"code", std::to_string(code)}}).Increment();
  if (code > 0) upstream_seconds_->Observe(seconds);
}
void AgentMetrics::streamOpened() { active_streams_->Increment(); }
void AgentMetrics::streamClosed() { active_streams_->Decrement(); }
void AgentMetrics::upgradeOpened(std::string_view kind) {
  upgraded_streams_->Add({{"subresource", std::string(kind)}}).Increment();
}
void AgentMetrics::upgradeClosed(std::string_view kind) {
  upgraded_streams_->Add({{"subresource", std::string(kind)}}).Decrement();
}
void AgentMetrics::syncLiveLocked(LiveTunnel& tunnel) const {
  auto [in, out] = tunnel.counts();
  if (in > tunnel.in_reported) bytes_in_->Increment(static_cast<double>(in - tunnel.in_reported));
  if (out > tunnel.out_reported) {
    bytes_out_->Increment(static_cast<double>(out - tunnel.out_reported));
  }
  tunnel.in_reported = std::max(in, tunnel.in_reported);
  tunnel.out_reported = std::max(out, tunnel.out_reported);
}

uint64_t AgentMetrics::addLiveTunnel(std::function<std::pair<uint64_t, uint64_t>()> live) {
  std::lock_guard lock(mu_);
  uint64_t handle = next_live_++;
  live_.emplace(handle, LiveTunnel{std::move(live)});
  return handle;
}

void AgentMetrics::removeLiveTunnel(uint64_t handle) {
  std::lock_guard lock(mu_);
  auto it = live_.find(handle);
  if (it == live_.end()) return;
  syncLiveLocked(it->second);  // the ending tunnel's last bytes
  live_.erase(it);
}

}  // namespace kubehub::agent
