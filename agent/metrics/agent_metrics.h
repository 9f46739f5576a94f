#pragma once
/// Every metric the agent exports, declared in one place (names kubehub_agent_<what>_<unit>).
/// Thread-safe.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

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
  void tunnelBytes(uint64_t in, uint64_t out);

 private:
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
};

}  // namespace kubehub::agent
