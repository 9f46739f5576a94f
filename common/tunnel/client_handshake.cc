#include "common/tunnel/client_handshake.h"

namespace kubehub::tunnel {

using proto::FrameType;

boost::asio::awaitable<ClientHandshake> clientHandshake(Transport& transport, proto::Hello hello,
                                                        std::chrono::milliseconds welcome_timeout) {
  ClientHandshake out;
  std::string hello_frame = proto::encodeFrame(FrameType::kHello, 0, 0, proto::encodeHello(hello));
  auto ec = co_await transport.write(hello_frame);
  if (ec) {
    out.error = "sending HELLO failed: " + ec.message();
    co_return out;
  }
  transport.setReadDeadline(welcome_timeout);
  ec = co_await transport.read();
  transport.setReadDeadline(std::chrono::milliseconds(0));
  if (ec) {
    out.error = "no WELCOME from the hub: " + ec.message();
    co_return out;
  }
  auto frame = proto::decodeSingleFrame(transport.message());
  if (!frame.ok()) {
    out.error = "malformed frame from the hub: " + std::string(frame.status().message());
    co_return out;
  }
  if (frame->type == FrameType::kGoAway) {
    auto info = proto::decodeGoAway(frame->payload);
    out.error = "the hub refused the agent: " +
                (info.ok() ? info->reason : std::string("(unreadable reason)"));
    if (info.ok()) out.refusal = std::move(*info);
    co_return out;
  }
  if (frame->type != FrameType::kWelcome) {
    out.error = "the hub did not answer HELLO with WELCOME";
    co_return out;
  }
  auto welcome = proto::decodeWelcome(frame->payload);
  if (!welcome.ok()) {
    out.error = "malformed WELCOME: " + std::string(welcome.status().message());
    co_return out;
  }
  out.welcome = std::move(*welcome);
  co_return out;
}

MuxOptions agentMuxOptions(const proto::Welcome& welcome, std::string name) {
  MuxOptions mo;
  mo.opens_streams = false;
  mo.max_frame = welcome.max_frame;
  mo.stream_window = welcome.stream_window;
  mo.connection_window = welcome.connection_window;
  mo.ping_interval = std::chrono::milliseconds(welcome.ping_interval_ms);
  mo.idle_timeout = mo.ping_interval * 3;
  mo.max_streams = welcome.max_streams;
  mo.name = std::move(name);
  return mo;
}

}  // namespace kubehub::tunnel
