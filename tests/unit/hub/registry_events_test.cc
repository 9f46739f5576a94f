// The hub tells the metaserver which clusters' tunnels it holds. While the metaserver cannot be
// reached those events wait; only each cluster's latest state is kept, so an agent reconnecting
// in a loop during an outage cannot grow the queue without bound.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "hub/auth/metaserver_sync.h"

namespace kubehub::hub {
namespace {

MetaserverSyncOptions unreachable() {
  MetaserverSyncOptions o;
  o.url = "https://127.0.0.1:1";  // nothing listens on port 1
  o.token = "unused";
  o.hub_id = "hub-1";
  o.change_wait = std::chrono::seconds(0);
  o.revocation_poll = std::chrono::milliseconds(5);
  o.request_timeout = std::chrono::milliseconds(200);
  return o;
}

TEST(RegistryEvents, OnlyEachClustersLatestStateWaits) {
  MetaserverSync sync(unreachable());
  for (int i = 0; i < 10000; ++i) {
    sync.clusterConnected("edge-1");
    sync.clusterDisconnected("edge-1");
    sync.clusterConnected("edge-2");
  }
  sync.clusterDisconnected("edge-3");
  EXPECT_EQ(sync.pendingRegistryEvents(), 3u);
}

TEST(RegistryEvents, EventsPutBackAfterAFailedSendNeverDuplicateNewerOnes) {
  MetaserverSync sync(unreachable());
  sync.start();
  // The sync thread keeps trying (and failing) to send while more events arrive: what it puts
  // back must not pile up beside the newer events of the same clusters.
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(600);
  while (std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 100; ++i) {
      sync.clusterConnected("edge-" + std::to_string(i % 4));
      sync.clusterDisconnected("edge-" + std::to_string(i % 4));
    }
    EXPECT_LE(sync.pendingRegistryEvents(), 4u);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  sync.stop();
  EXPECT_EQ(sync.pendingRegistryEvents(), 4u);
}

}  // namespace
}  // namespace kubehub::hub
