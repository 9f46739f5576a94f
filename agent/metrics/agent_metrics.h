#pragma once
/// Every metric the agent exports, declared in one place (names kubehub_agent_<what>_<unit>).
/// Thread-safe.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace kubehub::agent {

class AgentMetrics {
 public:
  AgentMetrics();
  std::string serialize() const;

  /// A tunnel to a hub came up / went down (the agent may hold several).
  void tunnelUp();
  void tunnelDown();
  void dialFailed();
  void backoff(double seconds);
  void apiReachable(bool reachable);
  /// One request executed against the API server: its status (0: no answer) and the time to
  /// the response head.
  void upstreamRequest(int code, double seconds);
  void streamOpened();
  void streamClosed();
  /// A new connection to the API server was made (its TLS handshake done): requests beyond the
  /// pooled connections, or after the pool closed idle ones.
  void upstreamConnectionOpened();
  /// Keep-alive connections to the API server waiting in the pool for the next request.
  void upstreamIdleConnections(size_t count);
  /// An upgraded stream (the API server answered 101: exec, attach, port-forward, a WebSocket
  /// through a proxy) started / ended carrying raw bytes; `kind` is one of kUpgradeKinds.
  void upgradeOpened(std::string_view kind);
  void upgradeClosed(std::string_view kind);
  /// The values of the `subresource` label of kubehub_agent_upgraded_streams.
  static constexpr std::string_view kUpgradeKinds[] = {"exec", "attach", "portforward", "proxy",
                                                       "other"};
  /// While a tunnel is up, `live` returns its byte counts so far (in, out) and each scrape
  /// reports them. Returns a handle for removeLiveTunnel, called when the tunnel ends (its
  /// final counts are kept).
  uint64_t addLiveTunnel(std::function<std::pair<uint64_t, uint64_t>()> live);
  void removeLiveTunnel(uint64_t handle);
  /// notAfter (seconds since the epoch) of the client certificate new tunnels present.
  void certificateExpiry(int64_t not_after);
  /// A renewal of the enrolled certificate with the metaserver succeeded or failed.
  void certificateRenewal(bool ok);
  /// The --tls-cert/--tls-key files changed: reloaded (ok) or not usable (the old pair kept).
  void tlsReload(bool ok);
  /// A native command call ended: its name (from the agent's own commands file, so bounded),
  /// its outcome (CommandResult's outcomeName, or "rejected" for bad parameters) and how long
  /// it ran.
  void commandRun(std::string_view command, std::string_view outcome, double seconds);

 private:
  struct LiveTunnel {
    std::function<std::pair<uint64_t, uint64_t>()> counts;
    uint64_t in_reported = 0;
    uint64_t out_reported = 0;
  };
  void syncLiveLocked(LiveTunnel& tunnel) const;

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge* tunnel_up_;
  prometheus::Gauge* tunnels_up_;
  prometheus::Counter* connects_;
  prometheus::Counter* dial_failures_;
  prometheus::Gauge* backoff_seconds_;
  prometheus::Gauge* api_reachable_;
  prometheus::Family<prometheus::Counter>* upstream_requests_;
  prometheus::Histogram* upstream_seconds_;
  prometheus::Counter* upstream_connections_;
  prometheus::Gauge* upstream_idle_;
  prometheus::Gauge* active_streams_;
  prometheus::Family<prometheus::Gauge>* upgraded_streams_;
  prometheus::Counter* bytes_in_;
  prometheus::Counter* bytes_out_;
  prometheus::Gauge* certificate_expiry_;
  prometheus::Family<prometheus::Counter>* renewals_;
  prometheus::Family<prometheus::Counter>* tls_reloads_;
  prometheus::Family<prometheus::Counter>* commands_;
  prometheus::Family<prometheus::Histogram>* command_seconds_;
  mutable std::mutex mu_;
  // Guarded by mu_.
  int tunnels_ = 0;
  mutable std::map<uint64_t, LiveTunnel> live_;
  uint64_t next_live_ = 1;
};

}  // namespace kubehub::agent
