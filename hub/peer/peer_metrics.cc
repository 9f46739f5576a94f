#include "hub/peer/peer_metrics.h"

namespace kubehub::hub {

ScrapeSource peerLinksScrapeSource(std::shared_ptr<const PeerLinks> peers) {
  return [peers = std::move(peers)](std::vector<prometheus::MetricFamily>* out) {
    prometheus::MetricFamily links{"kubehub_hub_peer_links",
                                   "Peer links this hub holds to others, by state.",
                                   prometheus::MetricType::Gauge,
                                   {}};
    size_t up = 0, total = 0;
    for (const auto& l : peers->snapshot()) {
      ++total;
      up += l.up ? 1 : 0;
    }
    for (auto [state, n] : {std::pair<const char*, size_t>{"up", up}, {"down", total - up}}) {
      prometheus::ClientMetric m;
      m.label.push_back({"state", state});
      m.gauge.value = static_cast<double>(n);
      links.metric.push_back(m);
    }
    out->push_back(links);
  };
}

}  // namespace kubehub::hub
