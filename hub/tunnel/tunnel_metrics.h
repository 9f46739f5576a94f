#pragma once
/// The tunnels' figures read at scrape time from the multiplexers' atomic counters and the
/// agents' last status reports (so the data path pays nothing for them), and whether the hub
/// drains.

#include <memory>

#include "common/tunnel/ws_transport.h"
#include "hub/metrics/hub_metrics.h"
#include "hub/tunnel/tunnel_mover.h"
#include "hub/tunnel/tunnel_registry.h"

namespace kubehub::hub {

/// Per tunnel: bytes, frames, streams, flow-control stalls, discovered types, connected, nodes,
/// versions and round trip.
ScrapeSource tunnelScrapeSource(std::shared_ptr<const TunnelRegistry> tunnels);

/// kubehub_hub_draining. Weak: the mover reports its moves into the metrics, so a strong
/// reference from them would make a cycle.
ScrapeSource moverScrapeSource(std::weak_ptr<const TunnelMover> mover);

/// kubehub_hub_tunnel_handshakes_in_progress: connections to the tunnel endpoint still in TLS
/// or the upgrade (a crowd of stalled peers shows here). `listener` must outlive every scrape:
/// the hub's admin endpoint, the only scraper, stops and goes first.
ScrapeSource handshakeScrapeSource(const tunnel::TunnelListener* listener);

}  // namespace kubehub::hub
