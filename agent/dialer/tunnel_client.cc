#include "agent/dialer/tunnel_client.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "agent/discovery/discovery.h"
#include "common/log/log.h"
#include "common/net/backoff.h"
#include "common/tunnel/ws_transport.h"
#include "proto/handshake.h"

namespace kubehub::agent {

namespace asio = boost::asio;
using proto::FrameType;

namespace {

asio::awaitable<void> answerDiscovery(std::weak_ptr<tunnel::Mux> weak_mux,
                                      std::shared_ptr<UpstreamClient> upstream,
                                      std::shared_ptr<AgentState> state, int64_t id) {
  auto report = co_await discover(upstream, id);
  auto mux = weak_mux.lock();
  if (!mux) co_return;
  if (!report.ok()) {
    state->api_reachable = false;
    state->metrics->apiReachable(false);
    log::warn("discovery failed", {{"error", report.status().message()}});
    mux->sendControl(nlohmann::json{{"type", "discovery.error"},
                                    {"id", id},
                                    {"message", std::string(report.status().message())}}
                         .dump());
    co_return;
  }
  state->api_reachable = true;
  state->metrics->apiReachable(true);
  mux->sendControl(*report);
}

void onControl(std::weak_ptr<tunnel::Mux> weak_mux, std::shared_ptr<UpstreamClient> upstream,
               std::shared_ptr<AgentState> state, std::string message) {
  auto j = nlohmann::json::parse(message, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    log::warn("malformed control message from hub");
    return;
  }
  std::string type = j["type"].get<std::string>();
  if (type == "discovery.request") {
    int64_t id = j.contains("id") && j["id"].is_number_integer() ? j["id"].get<int64_t>() : 0;
    auto mux = weak_mux.lock();
    if (!mux) return;
    asio::co_spawn(mux->executor(), answerDiscovery(weak_mux, upstream, state, id), asio::detached);
  } else {
    log::debug("ignoring control message", {{"type", type}});
  }
}

void onOpen(std::shared_ptr<UpstreamClient> upstream, asio::any_io_executor ex,
            std::shared_ptr<tunnel::Stream> stream, proto::RequestHead head,
            bool hub_marks_internal) {
  asio::co_spawn(
      ex, UpstreamClient::forward(upstream, std::move(stream), std::move(head), hub_marks_internal),
      asio::detached);
}

/// One connection's life: handshake then serve. Returns why it ended.
asio::awaitable<std::string> session(const TunnelClientOptions& o,
                                     std::shared_ptr<UpstreamClient> upstream,
                                     std::shared_ptr<AgentState> state,
                                     std::unique_ptr<tunnel::Transport> transport) {
  proto::Hello hello{proto::kProtocolVersion,
                     o.cluster,
                     o.agent_version,
                     {"stream.v1", std::string(proto::kCapabilityInternalOpen)}};
  std::string hello_frame = proto::encodeFrame(FrameType::kHello, 0, 0, proto::encodeHello(hello));
  auto ec = co_await transport->write(hello_frame);
  if (ec) co_return "sending HELLO failed: " + ec.message();
  transport->setReadDeadline(std::chrono::seconds(10));
  ec = co_await transport->read();
  transport->setReadDeadline(std::chrono::milliseconds(0));
  if (ec) co_return "no WELCOME from the hub: " + ec.message();
  auto frame = proto::decodeSingleFrame(transport->message());
  if (!frame.ok())
    co_return "malformed frame from the hub: " + std::string(frame.status().message());
  if (frame->type == FrameType::kGoAway) {
    auto info = proto::decodeGoAway(frame->payload);
    co_return "the hub refused the agent: " +
        (info.ok() ? info->reason : std::string("(unreadable reason)"));
  }
  if (frame->type != FrameType::kWelcome) co_return "the hub did not answer HELLO with WELCOME";
  auto welcome = proto::decodeWelcome(frame->payload);
  if (!welcome.ok()) co_return "malformed WELCOME: " + std::string(welcome.status().message());

  tunnel::MuxOptions mo;
  mo.opens_streams = false;
  mo.max_frame = welcome->max_frame;
  mo.stream_window = welcome->stream_window;
  mo.connection_window = welcome->connection_window;
  mo.ping_interval = std::chrono::milliseconds(welcome->ping_interval_ms);
  mo.idle_timeout = mo.ping_interval * 3;
  mo.max_streams = welcome->max_streams;
  mo.name = o.cluster;
  auto mux = std::make_shared<tunnel::Mux>(std::move(transport), mo);
  auto ex = mux->executor();
  // A hub that marks its own requests lets the agent refuse any other that names no user.
  bool hub_marks_internal =
      proto::hasCapability(welcome->capabilities, proto::kCapabilityInternalOpen);
  if (!hub_marks_internal) {
    log::warn(
        "the hub does not mark its own requests: requests without impersonation are not "
        "refused (upgrade the hub)",
        {{"hub_id", welcome->hub_id}});
  }
  mux->setOpenHandler(
      [upstream, ex, hub_marks_internal](std::shared_ptr<tunnel::Stream> s, proto::RequestHead h) {
        onOpen(upstream, ex, std::move(s), std::move(h), hub_marks_internal);
      });
  mux->setControlHandler([weak = std::weak_ptr<tunnel::Mux>(mux), upstream, state](std::string m) {
    onControl(weak, upstream, state, std::move(m));
  });
  state->tunnel_up = true;
  state->connects++;
  state->metrics->tunnelUp();
  state->metrics->setLiveTunnelBytes([weak = std::weak_ptr<tunnel::Mux>(mux)]() {
    auto m = weak.lock();
    if (!m) return std::pair<uint64_t, uint64_t>{0, 0};
    return std::pair<uint64_t, uint64_t>{m->stats().bytes_in.load(), m->stats().bytes_out.load()};
  });
  log::info("tunnel up", {{"hub", o.hub.host + ":" + std::to_string(o.hub.port)},
                          {"hub_id", welcome->hub_id},
                          {"cluster", o.cluster}});
  std::string reason = co_await mux->run();
  state->tunnel_up = false;
  state->metrics->tunnelDown();
  state->metrics->setLiveTunnelBytes(nullptr);
  co_return reason;
}

}  // namespace

asio::awaitable<void> runTunnelClient(TunnelClientOptions o,
                                      std::shared_ptr<UpstreamClient> upstream,
                                      std::shared_ptr<AgentState> state) {
  auto ex = co_await asio::this_coro::executor;
  std::mt19937_64 rng(std::random_device{}());
  net::Backoff backoff(o.backoff_base, o.backoff_max);
  asio::steady_timer timer(ex);
  std::string where = o.hub.host + ":" + std::to_string(o.hub.port);
  for (;;) {
    auto transport = co_await tunnel::dialTunnel(ex, o.tls, o.hub, o.dial_timeout);
    std::string reason;
    if (!transport.ok()) {
      state->dial_failures++;
      state->metrics->dialFailed();
      reason = std::string(transport.status().message());
    } else {
      auto started = std::chrono::steady_clock::now();
      reason = co_await session(o, upstream, state, std::move(*transport));
      if (std::chrono::steady_clock::now() - started >= o.stable_after) backoff.reset();
    }
    auto delay = backoff.next(rng);
    state->metrics->backoff(static_cast<double>(delay.count()) / 1000.0);
    log::warn("tunnel down, will retry", {{"hub", where},
                                          {"reason", reason},
                                          {"attempt", backoff.attempts()},
                                          {"retry_in_ms", delay.count()}});
    timer.expires_after(delay);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace kubehub::agent
