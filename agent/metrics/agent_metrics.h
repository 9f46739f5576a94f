#pragma once
/// Every metric the agent exports, declared in one place (names kubehub_agent_<what>_<unit>).
/// Thread-safe.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace kubehub::agent {

class AgentMetrics {
 public:
  AgentMetrics();
  std::string serialize() const;

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
  /// While a tunnel is up, `live` returns its byte counts so far (in, out) and each scrape
  /// reports them; set nullptr when it ends (its final counts are kept).
  void setLiveTunnelBytes(std::function<std::pair<uint64_t, uint64_t>()> live);

 private:
  void syncLiveLocked() const;

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge* tunnel_up_;
  prometheus::Counter* connects_;
  prometheus::Counter* dial_failures_;
  prometheus::Gauge* backoff_seconds_;
  prometheus::Gauge* api_reachable_;
  prometheus::Family<prometheus::Counter>* upstream_requests_;
  prometheus::Histogram* upstream_seconds_;
  prometheus::Gauge* active_streams_;
  prometheus::Counter* bytes_in_;
  prometheus::Counter* bytes_out_;
  mutable std::mutex live_mu_;
  std::function<std::pair<uint64_t, uint64_t>()> live_;
  mutable uint64_t live_in_reported_ = 0;
  mutable uint64_t live_out_reported_ = 0;
};

}  // namespace kubehub::agent
