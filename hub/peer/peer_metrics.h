#pragma once
/// The peer links' figures read at scrape time: links this hub holds to others, by state.

#include <memory>

#include "hub/metrics/hub_metrics.h"
#include "hub/peer/peer_links.h"

namespace kubehub::hub {

ScrapeSource peerLinksScrapeSource(std::shared_ptr<const PeerLinks> peers);

}  // namespace kubehub::hub
