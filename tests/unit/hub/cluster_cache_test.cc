#include "hub/cache/cluster_cache.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "tests/unit/tunnel/memory_transport.h"

namespace kubehub::hub::cache {
namespace {

using std::chrono::seconds;

/// A tunnel's multiplexer that is never run: open until dropped.
std::shared_ptr<tunnel::Mux> tunnelTo(boost::asio::io_context& io) {
  auto [a, b] = tunnel::MemoryTransport::pair(io.get_executor());
  tunnel::MuxOptions o;
  o.opens_streams = true;
  o.name = "cache-test";
  return std::make_shared<tunnel::Mux>(std::move(a), o);
}

boost::asio::awaitable<void> runInto(std::shared_ptr<tunnel::Mux> mux, std::string* reason) {
  *reason = co_await mux->run();
}

std::vector<std::string> names(const std::vector<CacheRegistry::Dropped>& dropped) {
  std::vector<std::string> out;
  for (const auto& d : dropped) out.push_back(d.cluster);
  return out;
}

TEST(CacheRegistry, DropsAClusterOnlyAfterItsTunnelStayedAwayForKeep) {
  boost::asio::io_context io;
  CacheRegistry registry(CachePolicy{});
  const proto::DiscoveryReport report;
  auto tunnel = tunnelTo(io);
  auto first = registry.attach("edge-1", tunnel, report);
  registry.cluster("edge-2");  // looked up, never attached: detached from the start
  const auto keep = seconds(60);
  const auto t0 = std::chrono::steady_clock::now();

  EXPECT_TRUE(registry.dropDetached(t0, keep).empty());
  EXPECT_TRUE(registry.dropDetached(t0 + seconds(59), keep).empty());
  EXPECT_EQ(names(registry.dropDetached(t0 + seconds(60), keep)),
            std::vector<std::string>{"edge-2"})
      << "edge-2 had no tunnel for 60 s; edge-1's tunnel is open";
  EXPECT_EQ(registry.find("edge-2"), nullptr);
  EXPECT_EQ(registry.find("edge-1"), first);
  EXPECT_TRUE(first->attached());

  // The tunnel goes: the time counts from the first sweep that sees it gone, not from t0.
  tunnel.reset();
  EXPECT_FALSE(first->attached());
  EXPECT_TRUE(registry.dropDetached(t0 + seconds(100), keep).empty());
  // Back within `keep` (a link down for a while): same cache, and the time is forgotten.
  tunnel = tunnelTo(io);
  EXPECT_EQ(registry.attach("edge-1", tunnel, report), first);
  EXPECT_TRUE(registry.dropDetached(t0 + seconds(200), keep).empty());
  tunnel.reset();
  EXPECT_TRUE(registry.dropDetached(t0 + seconds(210), keep).empty());
  EXPECT_TRUE(registry.dropDetached(t0 + seconds(269), keep).empty());
  auto dropped = registry.dropDetached(t0 + seconds(270), keep);
  ASSERT_EQ(names(dropped), std::vector<std::string>{"edge-1"});
  EXPECT_EQ(dropped[0].objects, 0u);
  EXPECT_EQ(registry.droppedClusters(), 2u);
  EXPECT_TRUE(registry.all().empty());

  // A cluster that comes back after that starts with a fresh cache.
  tunnel = tunnelTo(io);
  auto fresh = registry.attach("edge-1", tunnel, report);
  EXPECT_NE(fresh, first);
  EXPECT_EQ(registry.find("edge-1"), fresh);
}

TEST(CacheRegistry, AClosedTunnelCountsAsGoneEvenWhileItsObjectLives) {
  boost::asio::io_context io;
  CacheRegistry registry(CachePolicy{});
  auto [a, b] = tunnel::MemoryTransport::pair(io.get_executor());
  tunnel::MuxOptions o;
  o.opens_streams = true;
  auto tunnel = std::make_shared<tunnel::Mux>(std::move(a), o);
  std::string reason;
  boost::asio::co_spawn(io, runInto(tunnel, &reason), boost::asio::detached);
  auto cache = registry.attach("edge-1", tunnel, proto::DiscoveryReport{});
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(cache->attached());
  // The agent's end goes away: the hub's run() ends and the multiplexer is closed, though a
  // request in flight may still hold it.
  b->abort();
  io.run_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(tunnel->closed()) << "the tunnel did not end: " << reason;
  EXPECT_FALSE(cache->attached());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(registry.dropDetached(t0, seconds(5)).empty());
  EXPECT_EQ(names(registry.dropDetached(t0 + seconds(5), seconds(5))),
            std::vector<std::string>{"edge-1"});
}

}  // namespace
}  // namespace kubehub::hub::cache
