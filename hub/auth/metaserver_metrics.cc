#include "hub/auth/metaserver_metrics.h"

namespace kubehub::hub {

ScrapeSource metaserverScrapeSource(std::shared_ptr<const MetaserverSync> metaserver) {
  return [metaserver = std::move(metaserver)](std::vector<prometheus::MetricFamily>* out) {
    out->push_back(gaugeFamily("kubehub_hub_metaserver_reachable",
                               "1 while the last exchange with the metaserver succeeded.",
                               metaserver->health() == "ok" ? 1 : 0));
    out->push_back(gaugeFamily("kubehub_hub_revoked_tokens",
                               "Revoked, unexpired tokens the hub refuses.",
                               static_cast<double>(metaserver->snapshot()->revoked->size())));
    out->push_back(gaugeFamily("kubehub_hub_routing_table_hubs",
                               "Live hubs in the routing table (this one included).",
                               static_cast<double>(metaserver->routes()->hubs.size())));
    out->push_back(
        gaugeFamily("kubehub_hub_routing_table_age_seconds",
                    "Seconds since the metaserver last confirmed the routing table (-1: never).",
                    metaserver->routesAgeSeconds()));
  };
}

}  // namespace kubehub::hub
