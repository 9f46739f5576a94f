#include "hub/tunnel/tunnel_mover.h"

#include <gtest/gtest.h>

#include "hub/metrics/hub_metrics.h"
#include "hub/tunnel/tunnel_metrics.h"

namespace kubehub::hub {
namespace {

using std::chrono::seconds;

/// Hubs hub-1..hub-n, all peering; `held[i]` clusters on hub-(i+1).
RoutingTable fleet(const std::vector<size_t>& held, std::set<std::string> draining = {}) {
  RoutingTable t;
  t.loaded = true;
  int cluster = 0;
  for (size_t i = 0; i < held.size(); ++i) {
    std::string id = "hub-" + std::to_string(i + 1);
    t.hubs[id] =
        HubRoute{id, "wss://" + id + "/peer", "wss://" + id + "/tunnel", draining.contains(id)};
    for (size_t k = 0; k < held[i]; ++k) t.clusters["c" + std::to_string(cluster++)] = {id};
  }
  return t;
}

std::vector<HeldTunnel> tunnels(size_t n, seconds age = seconds(600)) {
  std::vector<HeldTunnel> out;
  for (size_t i = 0; i < n; ++i) out.push_back({"c" + std::to_string(i), age - seconds(i), {}, {}});
  return out;
}

MoverOptions options() {
  MoverOptions o;
  o.hub_id = "hub-1";
  return o;
}

TEST(TunnelMover, DrainingAsksEveryAgentWithinTheRate) {
  auto plan = planMoves(tunnels(10), true, 4, fleet({10, 0, 0}, {"hub-1"}), options());
  EXPECT_EQ(plan.reason, "draining");
  EXPECT_EQ(plan.clusters, (std::vector<std::string>{"c0", "c1", "c2", "c3"})) << "oldest first";
  auto all = planMoves(tunnels(10), true, 100, fleet({10, 0, 0}, {"hub-1"}), options());
  EXPECT_EQ(all.clusters.size(), 10u);
}

TEST(TunnelMover, NowhereToGoMeansStay) {
  // The only other hub drains too, or does not peer: agents stay.
  EXPECT_TRUE(planMoves(tunnels(5), true, 10, fleet({5, 0}, {"hub-1", "hub-2"}), options())
                  .clusters.empty());
  RoutingTable lone = fleet({5, 0});
  lone.hubs["hub-2"].peer.clear();
  EXPECT_TRUE(planMoves(tunnels(5), true, 10, lone, options()).clusters.empty());
}

TEST(TunnelMover, AskedAgentsAreAskedAgainOnlyLater) {
  auto held = tunnels(3);
  held[0].asked_ago = seconds(2);
  held[1].asked_ago = seconds(20);
  auto plan = planMoves(held, true, 10, fleet({3, 0}, {"hub-1"}), options());
  EXPECT_EQ(plan.clusters, (std::vector<std::string>{"c1", "c2"}));
}

TEST(TunnelMover, RebalancesOnlyTheExcessOverTheFairShareAndOnlySettledTunnels) {
  // 30 tunnels on hub-1, none on the two new hubs: fair share 10, 20 to move at 2 a round.
  auto plan = planMoves(tunnels(30), false, 2, fleet({30, 0, 0}), options());
  EXPECT_EQ(plan.reason, "rebalancing");
  EXPECT_EQ(plan.clusters.size(), 2u);
  EXPECT_EQ(plan.only_to, (std::vector<std::string>{"hub-2", "hub-3"})) << "one each";
  EXPECT_TRUE(plan.to.empty());
  // Each agent to the hub lacking most: hub-3 lacks 12, hub-2 7.
  auto uneven = planMoves(tunnels(30), false, 2, fleet({30, 5, 0}), options());
  EXPECT_EQ(uneven.only_to, (std::vector<std::string>{"hub-3", "hub-3"}));
  // Agents asked a moment ago are still moving: they count against the excess.
  auto asked = tunnels(30);
  for (size_t i = 0; i < 19; ++i) asked[i].asked_ago = seconds(1);
  EXPECT_EQ(planMoves(asked, false, 5, fleet({30, 0, 0}), options()).clusters.size(), 1u);
  // Balanced within the slack: nothing moves.
  EXPECT_TRUE(planMoves(tunnels(11), false, 5, fleet({11, 10, 10}), options()).clusters.empty());
  // Young tunnels (maybe just moved here) stay.
  EXPECT_TRUE(
      planMoves(tunnels(30, seconds(10)), false, 5, fleet({30, 0, 0}), options()).clusters.empty());
  // Rebalancing off.
  MoverOptions off = options();
  off.rebalance_rate = 0;
  EXPECT_TRUE(planMoves(tunnels(30), false, 5, fleet({30, 0, 0}), off).clusters.empty());
}

TEST(TunnelMover, AgentsOnTheirWayCountWhereTheyWereSent) {
  // 10 of hub-1's 30 agents were sent to hub-2 a second ago and have not arrived (the routing
  // table does not name them there): hub-2 lacks nothing more, so the rest go to hub-3 only.
  auto held = tunnels(30);
  for (size_t i = 0; i < 10; ++i) {
    held[i].asked_ago = seconds(1);
    held[i].asked_to = "hub-2";
  }
  auto plan = planMoves(held, false, 20, fleet({30, 0, 0}), options());
  EXPECT_EQ(plan.clusters.size(), 10u);
  EXPECT_EQ(plan.only_to, std::vector<std::string>(10, "hub-3"));
  // Once the routing table names them on hub-2 they are counted there once, not twice.
  RoutingTable arrived = fleet({30, 0, 0});
  for (size_t i = 0; i < 10; ++i) arrived.clusters["c" + std::to_string(i)].push_back("hub-2");
  auto after = planMoves(held, false, 20, arrived, options());
  // Fair share 14 (40 routes over 3 hubs, counting both tunnels of those on their way): 30 - 14
  // - 10 still leaving = 6, all to hub-3, which lacks 14 where hub-2 lacks 4.
  EXPECT_EQ(after.clusters.size(), 6u);
  EXPECT_EQ(after.only_to, std::vector<std::string>(6, "hub-3"));
}

TEST(TunnelMover, AHubAtItsShareIsNeverSentAgents) {
  // hub-2's view after agents arrived from hub-1 (the ping-pong this prevents: hub-2 over its
  // share sent them back to hub-1, itself over its share, which sent them on again).
  RoutingTable t = fleet({3, 3, 0});
  std::vector<HeldTunnel> held;
  for (int i = 3; i < 6; ++i) held.push_back({"c" + std::to_string(i), seconds(600), {}, {}});
  MoverOptions o = options();
  o.hub_id = "hub-2";
  auto plan = planMoves(held, false, 5, t, o);
  EXPECT_EQ(plan.clusters.size(), 1u);
  EXPECT_EQ(plan.only_to, (std::vector<std::string>{"hub-3"}));
  // Nobody short: nothing moves, even with hub-2 over the share by one.
  EXPECT_TRUE(planMoves(held, false, 5, fleet({2, 3, 1}), o).clusters.empty());
}

TEST(TunnelMover, AnAgentIsNeverSentWhereItHasAnotherTunnel) {
  // c0 has a second tunnel on hub-3, the only short hub: it stays, c1 goes.
  RoutingTable t = fleet({4, 3, 0});
  t.clusters["c0"].push_back("hub-3");
  auto plan = planMoves(tunnels(4), false, 1, t, options());
  EXPECT_EQ(plan.clusters, (std::vector<std::string>{"c1"}));
  EXPECT_EQ(plan.only_to, (std::vector<std::string>{"hub-3"}));
}

// The hub's metrics export the mover's state and the mover counts its moves there: wired both
// ways as in the hub's main, the two are still freed when the hub lets go of them (a strong
// reference both ways leaked them, and everything they hold, at every exit with peering).
TEST(TunnelMover, MoverAndMetricsFreeEachOther) {
  auto registry = std::make_shared<TunnelRegistry>();
  auto metrics = std::make_shared<HubMetrics>();
  auto mover = std::make_shared<TunnelMover>(registry, nullptr, options(), metrics);
  metrics->addScrapeSource(moverScrapeSource(mover));
  EXPECT_NE(metrics->serialize().find("kubehub_hub_draining 0"), std::string::npos);
  std::weak_ptr<TunnelMover> mover_left = mover;
  std::weak_ptr<HubMetrics> metrics_left = metrics;
  mover.reset();
  metrics.reset();
  EXPECT_TRUE(mover_left.expired());
  EXPECT_TRUE(metrics_left.expired());
}

}  // namespace
}  // namespace kubehub::hub
