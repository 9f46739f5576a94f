#include "common/net/http_headers.h"

#include <gtest/gtest.h>

namespace kubehub::net {
namespace {

TEST(HttpHeaders, ForwardDropsCredentialsImpersonationAndHopByHop) {
  HeaderList in = {{"Authorization", "Bearer secret"},
                   {"impersonate-user", "admin"},
                   {"Impersonate-Group", "system:masters"},
                   {"Impersonate-Extra-scopes", "x"},
                   {"Impersonate-Uid", "0"},
                   {"kubehub-peer-identity", "{\"user\":\"admin\"}"},
                   {"Connection", "keep-alive, X-Private"},
                   {"X-Private", "drop me"},
                   {"Keep-Alive", "timeout=5"},
                   {"Transfer-Encoding", "chunked"},
                   {"Host", "hub.example.com"},
                   {"Expect", "100-continue"},
                   {"Accept", "application/json"},
                   {"Content-Length", "12"}};
  std::vector<std::string> removed;
  HeaderList out = forwardableRequestHeaders(in, &removed);
  EXPECT_EQ(out, (HeaderList{{"Accept", "application/json"}, {"Content-Length", "12"}}));
  EXPECT_EQ(removed.size(), 6u);
}

TEST(HttpHeaders, UpgradeKeepsConnectionAndUpgrade) {
  HeaderList in = {{"Connection", "Upgrade"},
                   {"Upgrade", "websocket"},
                   {"Sec-WebSocket-Protocol", "v5.channel.k8s.io"},
                   {"Sec-WebSocket-Key", "abc"}};
  ASSERT_TRUE(isUpgrade(in));
  HeaderList out = forwardableRequestHeaders(in, nullptr);
  EXPECT_EQ(out.size(), 4u);
  EXPECT_EQ(findHeader(out, "upgrade").value(), "websocket");
  HeaderList res = forwardableResponseHeaders(in, 101);
  EXPECT_EQ(res.size(), 4u);
  HeaderList plain = forwardableResponseHeaders(in, 200);
  EXPECT_EQ(plain.size(), 2u);
}

TEST(HttpHeaders, Tokens) {
  EXPECT_TRUE(headerHasToken("keep-alive, Upgrade", "upgrade"));
  EXPECT_FALSE(headerHasToken("upgraded", "upgrade"));
  EXPECT_TRUE(iequals("Content-Type", "content-type"));
  EXPECT_FALSE(isUpgrade({{"Upgrade", "websocket"}}));
}

}  // namespace
}  // namespace kubehub::net
