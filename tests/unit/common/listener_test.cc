#include "common/net/listener.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <vector>

namespace kubehub::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

TEST(AcceptQueued, TakesWhatIsWaitingUpToTheLimitWithoutBlocking) {
  asio::io_context io;
  tcp::acceptor acceptor(io);
  auto bound = openListener(acceptor, {"127.0.0.1", 0});
  ASSERT_TRUE(bound.ok()) << bound.status();
  tcp::endpoint endpoint(asio::ip::make_address(bound->host), static_cast<uint16_t>(bound->port));

  std::vector<tcp::socket> clients;
  for (int i = 0; i < 5; ++i) {
    clients.emplace_back(io);
    clients.back().connect(endpoint);
  }
  std::vector<tcp::socket> accepted;
  auto make = [&] { return tcp::socket(io); };
  auto keep = [&](tcp::socket s) { accepted.push_back(std::move(s)); };
  tcp::socket spare = make();
  EXPECT_EQ(acceptQueued(acceptor, 3, spare, make, keep), 3);
  EXPECT_EQ(acceptQueued(acceptor, 3, spare, make, keep), 2);
  // Nothing left: returns at once instead of waiting for a sixth connection.
  EXPECT_EQ(acceptQueued(acceptor, 3, spare, make, keep), 0);
  ASSERT_EQ(accepted.size(), 5u);
  for (const auto& s : accepted) EXPECT_TRUE(s.is_open());
  EXPECT_FALSE(spare.is_open()) << "the spare socket waits for the next connection";
}

TEST(AcceptQueued, ARoundRobinOfContextsAdvancesOncePerConnection) {
  // The accept loops choose each socket's context round robin (IoPool::next). A try that finds
  // the queue empty must not use up a turn: with two contexts, one wasted turn per wake-up put
  // every connection that arrived alone on the same context.
  asio::io_context io;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  contexts.push_back(std::make_unique<asio::io_context>());
  contexts.push_back(std::make_unique<asio::io_context>());
  unsigned turn = 0;
  auto make = [&] { return tcp::socket(*contexts[turn++ % contexts.size()]); };
  tcp::acceptor acceptor(io);
  auto bound = openListener(acceptor, {"127.0.0.1", 0});
  ASSERT_TRUE(bound.ok()) << bound.status();
  tcp::endpoint endpoint(asio::ip::make_address(bound->host), static_cast<uint16_t>(bound->port));

  std::vector<asio::io_context*> placed;
  auto keep = [&](tcp::socket s) {
    placed.push_back(
        &static_cast<asio::io_context&>(asio::query(s.get_executor(), asio::execution::context)));
  };
  tcp::socket spare = make();
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 4; ++i) {  // one connection per wake-up, as users connect one at a time
    clients.emplace_back(io);
    clients.back().connect(endpoint);
    EXPECT_EQ(acceptQueued(acceptor, 8, spare, make, keep), 1);
  }
  ASSERT_EQ(placed.size(), 4u);
  EXPECT_EQ(turn, 5u) << "one turn per connection, plus the spare";
  for (size_t i = 0; i < placed.size(); ++i) {
    EXPECT_EQ(placed[i], contexts[i % 2].get()) << "connection " << i;
  }
}

}  // namespace
}  // namespace kubehub::net
