#pragma once
/// The metaserver sync's figures read at scrape time: reachability, revoked tokens, the routing
/// table's hubs and age.

#include <memory>

#include "hub/auth/metaserver_sync.h"
#include "hub/metrics/hub_metrics.h"

namespace kubehub::hub {

ScrapeSource metaserverScrapeSource(std::shared_ptr<const MetaserverSync> metaserver);

}  // namespace kubehub::hub
