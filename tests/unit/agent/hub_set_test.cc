#include "agent/dialer/hub_set.h"

#include <gtest/gtest.h>

#include <set>

namespace kubehub::agent {
namespace {

const std::string kA = "wss://hub-a:443/tunnel";
const std::string kB = "wss://hub-b:443/tunnel";
const std::string kC = "wss://hub-c:443/tunnel";
const std::string kLb = "wss://hubs.example.com:443/tunnel";

TEST(HubSet, SlotsReachDistinctHubsFromTheBootstrapUrls) {
  HubSet hubs({kA, kB}, 2);
  auto first = hubs.pick(0, 0);
  ASSERT_TRUE(first.has_value());
  // Where the first handshake lands is not known yet: the second slot waits for it.
  EXPECT_FALSE(hubs.pick(1, 0).has_value());
  EXPECT_TRUE(hubs.othersDialing(1));
  EXPECT_FALSE(hubs.othersDialing(0));
  EXPECT_FALSE(hubs.hold(0, *first == kA ? "hub-a" : "hub-b").has_value());
  auto second = hubs.pick(1, 0);
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(*second, *first);
  EXPECT_FALSE(hubs.hold(1, *second == kA ? "hub-a" : "hub-b").has_value());
  EXPECT_EQ(hubs.heldCount(), 2);
}

TEST(HubSet, TheSameUrlTwiceGivesOneTunnelAndTheExtraSlotWaits) {
  HubSet hubs({kA, kA}, 2);
  EXPECT_EQ(hubs.addresses(), std::vector<std::string>{kA});
  ASSERT_EQ(hubs.pick(0, 0), kA);
  EXPECT_FALSE(hubs.pick(1, 0).has_value());  // being dialed
  hubs.hold(0, "hub-a");
  EXPECT_FALSE(hubs.pick(1, 0).has_value());  // leads to a held hub
  EXPECT_FALSE(hubs.pick(1, 7).has_value());
  // Once the tunnel drops, either slot may take the hub again.
  hubs.release(0);
  EXPECT_EQ(hubs.pick(1, 0), kA);
  EXPECT_FALSE(hubs.pick(0, 0).has_value());
}

TEST(HubSet, TwoSlotsNeverDialTheSameUnknownAddressAtOnce) {
  // Behind a load balancer both could land on one hub, which would replace one tunnel with the
  // other: one handshake at a time until the address is known.
  HubSet hubs({kLb}, 3);
  ASSERT_EQ(hubs.pick(0, 0), kLb);
  EXPECT_FALSE(hubs.pick(1, 0).has_value());
  EXPECT_FALSE(hubs.pick(2, 0).has_value());
  // Even an address announced for another hub waits: the unknown one may lead there.
  hubs.setLearned({{"hub-b", kB}});
  EXPECT_FALSE(hubs.pick(1, 0).has_value());
  hubs.hold(0, "hub-a");
  EXPECT_EQ(hubs.pick(1, 0), kB);
  // The load balancer last led to hub-a, held: it is not dialed again while hub-a is held.
  EXPECT_FALSE(hubs.pick(2, 0).has_value());
}

TEST(HubSet, AnnouncedHubsNobodyHoldsComeFirstAndAreSpreadAtRandom) {
  HubSet hubs({kLb}, 2);
  ASSERT_EQ(hubs.pick(0, 0), kLb);
  hubs.hold(0, "hub-a");
  EXPECT_TRUE(hubs.setLearned({{"hub-a", kA}, {"hub-b", kB}, {"hub-c", kC}}));
  EXPECT_FALSE(hubs.setLearned({{"hub-c", kC}, {"hub-b", kB}, {"hub-a", kA}}));
  std::set<std::string> chosen;
  for (uint64_t r = 0; r < 8; ++r) {
    auto url = hubs.pick(1, r);
    ASSERT_TRUE(url.has_value());
    chosen.insert(*url);
    hubs.release(1);
  }
  // Never hub-a (held) by either of its addresses.
  EXPECT_EQ(chosen, (std::set<std::string>{kB, kC}));
}

TEST(HubSet, AnnouncedAddressesOfDistinctHubsAreDialedConcurrently) {
  HubSet hubs({}, 3);
  hubs.setLearned({{"hub-a", kA}, {"hub-b", kB}, {"hub-c", kC}});
  auto a = hubs.pick(0, 0);
  auto b = hubs.pick(1, 0);
  auto c = hubs.pick(2, 0);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ((std::set<std::string>{*a, *b, *c}).size(), 3u);
}

TEST(HubSet, ASlotThatLostItsHubTriesAnotherFirst) {
  HubSet hubs({}, 1);
  hubs.setLearned({{"hub-a", kA}, {"hub-b", kB}});
  ASSERT_EQ(hubs.pick(0, 0), kA);
  hubs.hold(0, "hub-a");
  hubs.release(0);
  // The hub just lost may be down: the other one first, then back (each failed dial counts as
  // the last try), whatever the random choice.
  for (uint64_t r = 0; r < 4; ++r) {
    EXPECT_EQ(hubs.pick(0, r), kB);
    hubs.release(0);
    EXPECT_EQ(hubs.pick(0, r), kA);
    hubs.release(0);
  }
  // With nothing else known, the lost hub is dialed again.
  HubSet single({kA}, 1);
  ASSERT_EQ(single.pick(0, 0), kA);
  single.hold(0, "hub-a");
  single.release(0);
  EXPECT_EQ(single.pick(0, 0), kA);
}

TEST(HubSet, BootstrapUrlsComeAfterAnnouncedOnesAndAreNeverForgotten) {
  HubSet hubs({kLb}, 1);
  hubs.setLearned({{"hub-b", kB}, {"hub-c", kC}});
  for (uint64_t r = 0; r < 4; ++r) {
    auto url = hubs.pick(0, r);
    EXPECT_TRUE(url == kB || url == kC);
    hubs.release(0);
  }
  EXPECT_TRUE(hubs.setLearned({}));
  EXPECT_EQ(hubs.addresses(), std::vector<std::string>{kLb});
  EXPECT_EQ(hubs.pick(0, 0), kLb);
}

TEST(HubSet, AHandshakeAtAHeldHubHandsTheHubToTheNewerTunnel) {
  HubSet hubs({kA, kLb}, 2);
  ASSERT_EQ(hubs.pick(0, 0), kA);
  hubs.hold(0, "hub-a");
  ASSERT_EQ(hubs.pick(1, 0), kLb);
  // The load balancer led to hub-a too: the hub keeps the newer tunnel, slot 0 loses it.
  EXPECT_EQ(hubs.hold(1, "hub-a"), 0);
  EXPECT_EQ(hubs.holder("hub-a"), 1);
  EXPECT_EQ(hubs.heldBy(0), "");
  EXPECT_EQ(hubs.heldCount(), 1);
  // Both addresses now lead to a held hub: slot 0 waits instead of knocking slot 1 off.
  hubs.release(0);
  EXPECT_FALSE(hubs.pick(0, 0).has_value());
}

TEST(HubSet, AnAddressThatLedToAnotherHubThanAnnouncedIsNoLongerTrusted) {
  HubSet hubs({}, 2);
  hubs.setLearned({{"hub-a", kA}, {"hub-b", kB}});
  // kA turns out to lead to hub-z (a balancer, or a stale list).
  while (hubs.pick(0, 0) != kA) hubs.release(0);
  hubs.hold(0, "hub-z");
  hubs.release(0);
  while (hubs.pick(0, 1) != kA) hubs.release(0);
  // Its handshake may land anywhere: no other handshake meanwhile.
  EXPECT_FALSE(hubs.pick(1, 0).has_value());
  hubs.hold(0, "hub-b");
  // And it led to hub-b this time, so kB (announced for hub-b) is not dialed.
  EXPECT_FALSE(hubs.pick(1, 0).has_value());
}

TEST(HubSet, ACertificateNamingAHeldHubKeepsTheAddressFromBeingDialed) {
  HubSet hubs({kA, kB}, 2);
  ASSERT_EQ(hubs.pick(0, 0), kA);
  hubs.hold(0, "hub-a");
  ASSERT_EQ(hubs.pick(1, 0), kB);
  EXPECT_EQ(hubs.holder("hub-a"), 0);
  hubs.noteSeen(kB, "hub-a");  // kB is another name of hub-a
  hubs.release(1);
  EXPECT_FALSE(hubs.pick(1, 0).has_value());
  EXPECT_EQ(hubs.knownHubs(), 1u);
  // Addresses nobody knows are not remembered.
  hubs.noteSeen("wss://elsewhere:443/tunnel", "hub-x");
  EXPECT_EQ(hubs.knownHubs(), 1u);
}

}  // namespace
}  // namespace kubehub::agent

namespace kubehub::agent {
namespace {

TEST(HubSet, AMoveIsMadeThroughAShadowSlotAndKeptByTheSlot) {
  // Two tunnels (slots 0 and 1) and their shadows (2 and 3), three announced hubs.
  HubSet hubs({}, 4);
  hubs.setLearned({{"hub-a", kA}, {"hub-b", kB}, {"hub-c", kC}});
  ASSERT_EQ(hubs.pick(0, 0), kA);
  hubs.hold(0, "hub-a");
  ASSERT_EQ(hubs.pick(1, 0), kB);
  hubs.hold(1, "hub-b");
  // hub-a asks slot 0 to move: the shadow may reach only the hub nobody holds.
  auto replacement = hubs.pick(2, 0);
  ASSERT_EQ(replacement, kC);
  EXPECT_FALSE(hubs.hold(2, "hub-c").has_value());
  hubs.transfer(2, 0);
  EXPECT_EQ(hubs.heldBy(0), "hub-c");
  EXPECT_EQ(hubs.heldBy(2), "");
  EXPECT_EQ(hubs.holder("hub-a"), std::nullopt) << "the hub left is held by nobody";
  EXPECT_EQ(hubs.holder("hub-c"), 0);
  // A move away from hub-b may go to hub-a, free now; one away from hub-a has nowhere to go
  // (hub-b and hub-c are held): the tunnel stays where it is.
  EXPECT_EQ(hubs.pick(3, 0, "hub-b"), kA);
  hubs.release(3);
  hubs.release(0);
  // A suggestion (the least loaded hub) wins over a random free hub.
  for (uint64_t r = 0; r < 4; ++r) {
    EXPECT_EQ(hubs.pick(3, r, "hub-b", {"hub-c"}), kC) << r;
    hubs.release(3);
  }
  hubs.hold(0, "hub-c");
  EXPECT_FALSE(hubs.pick(3, 0, "hub-a").has_value());
}

TEST(HubSet, ARebalancingMoveGoesOnlyWhereItWasSentOrNowhere) {
  // One tunnel (slot 0, shadow 1) on hub-a; hub-b and hub-c announced, hub-d not yet.
  HubSet hubs({}, 2);
  hubs.setLearned({{"hub-a", kA}, {"hub-b", kB}, {"hub-c", kC}});
  ASSERT_EQ(hubs.pick(0, 0), kA);
  hubs.hold(0, "hub-a");
  for (uint64_t r = 0; r < 4; ++r) {
    EXPECT_EQ(hubs.pick(1, r, "hub-a", {"hub-c"}, true), kC) << r;
    hubs.release(1);
  }
  // Sent to a hub this agent does not know yet: it stays (and tries again when hubs are
  // announced), where a suggestion alone would take any free hub.
  EXPECT_FALSE(hubs.pick(1, 0, "hub-a", {"hub-d"}, true).has_value());
  auto any = hubs.pick(1, 0, "hub-a", {"hub-d"});
  ASSERT_TRUE(any.has_value());
  EXPECT_TRUE(*any == kB || *any == kC);
  hubs.release(1);
  const std::string kD = "wss://hub-d:443/tunnel";
  hubs.setLearned({{"hub-a", kA}, {"hub-b", kB}, {"hub-c", kC}, {"hub-d", kD}});
  EXPECT_EQ(hubs.pick(1, 0, "hub-a", {"hub-d"}, true), kD);
}

}  // namespace
}  // namespace kubehub::agent
