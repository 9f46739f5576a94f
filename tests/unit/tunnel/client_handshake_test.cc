#include "common/tunnel/client_handshake.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "tests/unit/tunnel/memory_transport.h"

namespace kubehub::tunnel {
namespace {

namespace asio = boost::asio;

/// The hub's end: reads the first message, then answers `answer` (or closes when it is empty).
asio::awaitable<void> fakeHub(MemoryTransport* hub, std::string answer,
                              std::shared_ptr<std::string> first_message) {
  auto ec = co_await hub->read();
  if (ec) co_return;
  *first_message = std::string(hub->message());
  if (answer.empty()) {
    co_await hub->close("no answer");
    co_return;
  }
  co_await hub->write(answer);
}

asio::awaitable<void> runClient(MemoryTransport* agent, proto::Hello hello,
                                std::shared_ptr<ClientHandshake> out) {
  const std::chrono::milliseconds timeout(10000);
  *out = co_await clientHandshake(*agent, hello, timeout);
}

proto::Hello sampleHello() {
  proto::Hello hello;
  hello.protocol = proto::kProtocolVersion;
  hello.cluster = "edge-1";
  hello.agent_version = "1.2.3";
  hello.capabilities.emplace_back("stream.v1");
  hello.capabilities.emplace_back(proto::kCapabilityConnections);
  hello.instance = "0123abcd";
  hello.connection = 1;
  return hello;
}

proto::Welcome sampleWelcome() {
  proto::Welcome w;
  w.protocol = proto::kProtocolVersion;
  w.hub_id = "hub-1";
  w.max_frame = 64 * 1024;
  w.stream_window = 128 * 1024;
  w.connection_window = 1024 * 1024;
  w.ping_interval_ms = 2000;
  w.max_streams = 100;
  w.capabilities.emplace_back(proto::kCapabilityConnections);
  return w;
}

struct Exchange {
  ClientHandshake result;
  std::string hub_saw;
};

/// One handshake against a hub that answers `answer`.
Exchange exchange(const std::string& answer) {
  asio::io_context io;
  auto [agent, hub] = MemoryTransport::pair(io.get_executor());
  auto seen = std::make_shared<std::string>();
  auto out = std::make_shared<ClientHandshake>();
  asio::co_spawn(io, fakeHub(hub.get(), answer, seen), asio::detached);
  proto::Hello hello = sampleHello();
  asio::co_spawn(io, runClient(agent.get(), hello, out), asio::detached);
  io.run();
  return Exchange{*out, *seen};
}

TEST(ClientHandshake, SendsHelloAloneAndReadsWelcome) {
  proto::Welcome welcome = sampleWelcome();
  auto e =
      exchange(proto::encodeFrame(proto::FrameType::kWelcome, 0, 0, proto::encodeWelcome(welcome)));
  EXPECT_EQ(e.hub_saw,
            proto::encodeFrame(proto::FrameType::kHello, 0, 0, proto::encodeHello(sampleHello())));
  ASSERT_TRUE(e.result.welcome) << e.result.error;
  EXPECT_TRUE(e.result.error.empty());
  EXPECT_FALSE(e.result.refusal);
  EXPECT_EQ(e.result.welcome->hub_id, "hub-1");
  EXPECT_EQ(e.result.welcome->capabilities, welcome.capabilities);

  MuxOptions mo = agentMuxOptions(*e.result.welcome, "edge-1");
  EXPECT_FALSE(mo.opens_streams);
  EXPECT_EQ(mo.max_frame, welcome.max_frame);
  EXPECT_EQ(mo.stream_window, welcome.stream_window);
  EXPECT_EQ(mo.connection_window, welcome.connection_window);
  EXPECT_EQ(mo.ping_interval, std::chrono::milliseconds(2000));
  EXPECT_EQ(mo.idle_timeout, std::chrono::milliseconds(6000));
  EXPECT_EQ(mo.max_streams, 100u);
  EXPECT_EQ(mo.name, "edge-1");
}

TEST(ClientHandshake, ReportsTheHubsRefusal) {
  proto::GoAwayInfo info;
  info.code = proto::GoAwayCode::kAlreadyConnected;
  info.reason = "this agent holds a tunnel to hub \"hub-1\" already";
  auto e = exchange(proto::encodeFrame(proto::FrameType::kGoAway, 0, 0, proto::encodeGoAway(info)));
  EXPECT_FALSE(e.result.welcome);
  ASSERT_TRUE(e.result.refusal);
  EXPECT_EQ(e.result.refusal->code, proto::GoAwayCode::kAlreadyConnected);
  EXPECT_EQ(e.result.error, "the hub refused the agent: " + info.reason);

  auto unreadable = exchange(proto::encodeFrame(proto::FrameType::kGoAway, 0, 0, "x"));
  EXPECT_FALSE(unreadable.result.welcome);
  EXPECT_FALSE(unreadable.result.refusal);
  EXPECT_EQ(unreadable.result.error, "the hub refused the agent: (unreadable reason)");
}

TEST(ClientHandshake, SaysWhatWasWrongWithAnythingButWelcome) {
  auto ping = exchange(proto::encodeFrame(proto::FrameType::kPing, 0, 0, std::string(8, '\0')));
  EXPECT_FALSE(ping.result.welcome);
  EXPECT_EQ(ping.result.error, "the hub did not answer HELLO with WELCOME");

  auto bad = exchange(proto::encodeFrame(proto::FrameType::kWelcome, 0, 0, R"({"protocol":1})"));
  EXPECT_FALSE(bad.result.welcome);
  EXPECT_EQ(bad.result.error.rfind("malformed WELCOME: ", 0), 0u) << bad.result.error;

  auto garbage = exchange("not a frame");
  EXPECT_FALSE(garbage.result.welcome);
  EXPECT_EQ(garbage.result.error.rfind("malformed frame from the hub: ", 0), 0u)
      << garbage.result.error;

  auto silent = exchange("");
  EXPECT_FALSE(silent.result.welcome);
  EXPECT_FALSE(silent.result.refusal);
  EXPECT_EQ(silent.result.error.rfind("no WELCOME from the hub: ", 0), 0u) << silent.result.error;
}

}  // namespace
}  // namespace kubehub::tunnel
