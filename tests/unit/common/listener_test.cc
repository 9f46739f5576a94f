#include "common/net/listener.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
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
  EXPECT_EQ(acceptQueued(acceptor, 3, make, keep), 3);
  EXPECT_EQ(acceptQueued(acceptor, 3, make, keep), 2);
  // Nothing left: returns at once instead of waiting for a sixth connection.
  EXPECT_EQ(acceptQueued(acceptor, 3, make, keep), 0);
  ASSERT_EQ(accepted.size(), 5u);
  for (const auto& s : accepted) EXPECT_TRUE(s.is_open());
}

}  // namespace
}  // namespace kubehub::net
