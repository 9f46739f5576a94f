#include "tests/standin/port_forward.h"

#include <gtest/gtest.h>

namespace kubehub::standin {
namespace {

TEST(PortForwardTest, DeclaredTcpPortsOfEveryContainer) {
  Json pod = Json::parse(R"({"spec":{"containers":[
      {"name":"a","ports":[{"containerPort":80},{"containerPort":53,"protocol":"UDP"}]},
      {"name":"b","ports":[{"containerPort":9187,"protocol":"TCP"}]},
      {"name":"c"}]}})");
  EXPECT_EQ(declaredPorts(pod), (std::vector<int>{80, 9187}));
  EXPECT_TRUE(declaredPorts(Json::object()).empty());
}

TEST(PortForwardTest, StreamHeadersAreCheckedLikeTheKubelet) {
  auto ok = parsePortForwardStream({{"streamtype", "data"}, {"port", "80"}, {"requestid", "7"}}, 3);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->port, 80);
  EXPECT_FALSE(ok->error_stream);
  EXPECT_EQ(ok->request_id, "7");
  // Clients that send no requestID: ids derived from consecutive stream ids.
  EXPECT_EQ(parsePortForwardStream({{"streamtype", "error"}, {"port", "80"}}, 5)->request_id, "5");
  EXPECT_EQ(parsePortForwardStream({{"streamtype", "data"}, {"port", "80"}}, 7)->request_id, "5");
  EXPECT_EQ(parsePortForwardStream({{"streamtype", "data"}}, 1).status().message(),
            "\"port\" header is required");
  EXPECT_EQ(parsePortForwardStream({{"streamtype", "data"}, {"port", "0"}}, 1).status().message(),
            "port \"0\" must be > 0");
  EXPECT_FALSE(parsePortForwardStream({{"streamtype", "data"}, {"port", "70000"}}, 1).ok());
  EXPECT_EQ(parsePortForwardStream({{"streamtype", "x"}, {"port", "1"}}, 1).status().message(),
            "invalid stream type \"x\"");
}

TEST(PortForwardTest, PairsByRequestIdInAnyOrder) {
  StreamPairs pairs;
  PortForwardStream err{80, true, "0"};
  PortForwardStream data{80, false, "0"};
  PortForwardStream other{81, false, "1"};
  EXPECT_FALSE(pairs.add(err, 1)->has_value());
  EXPECT_FALSE(pairs.add(other, 3)->has_value());
  auto done = pairs.add(data, 5);
  ASSERT_TRUE(done.ok());
  ASSERT_TRUE(done->has_value());
  EXPECT_EQ((*done)->error, 1u);
  EXPECT_EQ((*done)->data, 5u);
  EXPECT_EQ((*done)->port, 80);
  EXPECT_FALSE(pairs.add(PortForwardStream{81, false, "1"}, 7).ok());  // data already assigned
}

TEST(PortForwardTest, RefusedPortIsWordedLikeKubeletAndContainerd) {
  PortForwardPlan plan{"default", "web-1", "0b1c", {80}, false, kPortForwardProtocol, nullptr};
  EXPECT_TRUE(plan.listensOn(80));
  EXPECT_FALSE(plan.listensOn(81));
  std::string msg = plan.connectionRefused(81);
  EXPECT_EQ(plan.sandboxId().size(), 64u);
  EXPECT_EQ(msg.rfind("error forwarding port 81 to pod " + plan.sandboxId() + ", uid : ", 0), 0u);
  EXPECT_NE(msg.find("failed to connect to localhost:81 inside namespace"), std::string::npos);
  EXPECT_NE(msg.find("dial tcp4 127.0.0.1:81: connect: connection refused"), std::string::npos);
}

}  // namespace
}  // namespace kubehub::standin
