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
  PortForwardPlan plan;
  plan.ns = "default";
  plan.pod = "web-1";
  plan.uid = "0b1c";
  plan.ports = {80};
  plan.protocol = kPortForwardProtocol;
  EXPECT_TRUE(plan.listensOn(80));
  EXPECT_FALSE(plan.listensOn(81));
  std::string msg = plan.connectionRefused(81);
  EXPECT_EQ(plan.sandboxId().size(), 64u);
  EXPECT_EQ(msg.rfind("error forwarding port 81 to pod " + plan.sandboxId() + ", uid : ", 0), 0u);
  EXPECT_NE(msg.find("failed to connect to localhost:81 inside namespace"), std::string::npos);
  EXPECT_NE(msg.find("dial tcp4 127.0.0.1:81: connect: connection refused"), std::string::npos);
}

TEST(PortForwardTest, ChannelPortsAreReadLikeTheKubelet) {
  EXPECT_EQ(*parseChannelPorts({"80"}), (std::vector<int>{80}));
  EXPECT_EQ(*parseChannelPorts({"80,8080", "443"}), (std::vector<int>{80, 8080, 443}));
  EXPECT_EQ(parseChannelPorts({}).status().message(), "query parameter \"ports\" is required");
  EXPECT_EQ(parseChannelPorts({""}).status().message(),
            "query parameter \"ports\" cannot be empty");
  EXPECT_EQ(parseChannelPorts({"80,x"}).status().message(), "unable to parse \"80,x\" as a port");
  EXPECT_EQ(parseChannelPorts({"80,"}).status().message(), "unable to parse \"80,\" as a port");
  EXPECT_EQ(parseChannelPorts({"-1"}).status().message(), "unable to parse \"-1\" as a port");
  EXPECT_EQ(parseChannelPorts({"65536"}).status().message(), "unable to parse \"65536\" as a port");
  EXPECT_EQ(parseChannelPorts({"0"}).status().message(), "port \"0\" must be > 0");
  EXPECT_EQ(*parseChannelPorts({"65535"}), (std::vector<int>{65535}));
}

TEST(PortForwardTest, ChannelProtocolIsTheFirstOfferedThatIsServed) {
  EXPECT_EQ(*chooseChannelProtocol({}), "");
  EXPECT_EQ(*chooseChannelProtocol({"v4.channel.k8s.io"}), "v4.channel.k8s.io");
  EXPECT_EQ(*chooseChannelProtocol(
                {"v5.channel.k8s.io", "v4.base64.channel.k8s.io", "v4.channel.k8s.io"}),
            "v4.base64.channel.k8s.io");
  auto refused = chooseChannelProtocol({"portforward.k8s.io"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message().rfind(
                "requested protocol(s) are not supported: [portforward.k8s.io]", 0),
            0u);
}

TEST(PortForwardTest, ChannelMessagesCarryTheChannelByteThenData) {
  PortForwardChannels codec(2, false);
  EXPECT_EQ(PortForwardChannels::dataChannel(1), 2u);
  EXPECT_EQ(PortForwardChannels::errorChannel(1), 3u);
  // The port, little-endian, as the first message of each channel: 8080 = 0x1f90.
  EXPECT_EQ(codec.portPrefix(0, 8080), std::string("\x00\x90\x1f", 3));
  EXPECT_EQ(codec.portPrefix(3, 80), std::string("\x03\x50\x00", 3));
  EXPECT_EQ(codec.encode(2, "hello"), std::string("\x02hello", 6));

  auto in =
      codec.decode(std::string("\x02"
                               "abc",
                               4));
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->port_index, 1u);
  EXPECT_EQ(in->data, "abc");
  EXPECT_EQ(codec.decode(std::string("\x00", 1))->data, "");
  EXPECT_FALSE(codec.decode("").has_value());
  EXPECT_FALSE(codec.decode(std::string("\x01x", 2)).has_value());  // error channels: write-only
  EXPECT_FALSE(codec.decode(std::string("\x04x", 2)).has_value());  // past the last port
}

TEST(PortForwardTest, Base64ChannelMessagesUseDigitsAndBase64) {
  PortForwardChannels codec(1, true);
  EXPECT_EQ(codec.portPrefix(1, 80), "1UAA=");
  EXPECT_EQ(codec.encode(0, "hi"), "0aGk=");
  EXPECT_EQ(codec.decode("0aGk=")->data, "hi");
  EXPECT_FALSE(codec.decode("1aGk=").has_value());
  EXPECT_FALSE(codec.decode("/aGk=").has_value());  // '/' - '0' wraps past the last channel
  EXPECT_FALSE(codec.decode("0!!!").has_value());
}

}  // namespace
}  // namespace kubehub::standin
