#include "hub/peer/peer_links.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log/log.h"
#include "common/net/address.h"
#include "common/tunnel/ws_transport.h"

namespace kubehub::hub {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

tunnel::MuxOptions peerMuxOptions(bool opens_streams, std::string name) {
  tunnel::MuxOptions o;
  o.opens_streams = opens_streams;
  o.stream_window = 1024 * 1024;
  o.connection_window = 64 * 1024 * 1024;
  // A peer that stops answering is noticed within seconds (a killed process closes its sockets
  // at once; a vanished machine does not).
  o.ping_interval = std::chrono::milliseconds(5000);
  o.idle_timeout = std::chrono::milliseconds(15000);
  o.max_streams = 16384;
  o.name = std::move(name);
  return o;
}

PeerLinks::PeerLinks(net::IoPool& pool, std::shared_ptr<net::TlsSource> tls,
                     PeerLinkOptions options)
    : pool_(pool), tls_(std::move(tls)), options_(options) {}

asio::awaitable<absl::StatusOr<std::shared_ptr<tunnel::Mux>>> PeerLinks::link(HubRoute hub) {
  auto ex = co_await asio::this_coro::executor;
  for (int round = 0; round < 2; ++round) {
    std::shared_ptr<net::AsyncSignal> waiter;
    {
      std::lock_guard lock(mu_);
      if (closed_) co_return absl::UnavailableError("hub is stopping");
      Entry& e = links_[hub.id];
      if (e.mux && !e.mux->closed() && e.url == hub.peer) co_return e.mux;
      if (!e.dialing) {
        auto now = std::chrono::steady_clock::now();
        if (e.url == hub.peer && !e.last_error.empty() &&
            now - e.failed_at < options_.retry_after_failure) {
          co_return absl::UnavailableError(e.last_error);
        }
        e.dialing = true;
        e.url = hub.peer;
      } else {
        waiter = std::make_shared<net::AsyncSignal>(ex);
        e.waiters.push_back(waiter);
      }
    }
    if (!waiter) co_return co_await dial(hub);
    // Another request is dialing this peer: wait for its outcome, then look again.
    asio::steady_timer timer(ex, options_.dial_timeout + std::chrono::milliseconds(500));
    co_await (waiter->wait() || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  }
  co_return absl::UnavailableError("peer hub \"" + hub.id + "\": link not ready in time");
}

asio::awaitable<absl::StatusOr<std::shared_ptr<tunnel::Mux>>> PeerLinks::dial(const HubRoute& hub) {
  absl::StatusOr<std::shared_ptr<tunnel::Mux>> result =
      absl::UnavailableError("peer hub \"" + hub.id + "\": bad peer address " + hub.peer);
  auto url = net::parseUrl(hub.peer);
  if (url.ok() && url->scheme == "wss") {
    auto strand = asio::make_strand(pool_.nextTunnel());
    auto transport =
        co_await tunnel::dialPeer(strand, tls_->current(), *url, hub.id, options_.dial_timeout);
    if (transport.ok()) {
      auto mux = std::make_shared<tunnel::Mux>(std::move(*transport),
                                               peerMuxOptions(true, "peer:" + hub.id));
      tasks_.spawn(mux->executor(), runLink(shared_from_this(), hub.id, mux));
      log::info("peer link up", {{"hub", hub.id}, {"url", hub.peer}});
      result = mux;
    } else {
      result = absl::UnavailableError("peer hub \"" + hub.id +
                                      "\": " + std::string(transport.status().message()));
      log::warn("peer link dial failed",
                {{"hub", hub.id}, {"error", transport.status().message()}});
    }
  }
  std::vector<std::shared_ptr<net::AsyncSignal>> waiters;
  {
    std::lock_guard lock(mu_);
    Entry& e = links_[hub.id];
    e.dialing = false;
    waiters.swap(e.waiters);
    if (result.ok()) {
      e.mux = *result;
      e.last_error.clear();
      if (closed_) (*result)->shutdown(proto::GoAwayCode::kDraining, "hub stopping");
    } else {
      e.mux = nullptr;
      e.last_error = std::string(result.status().message());
      e.failed_at = std::chrono::steady_clock::now();
    }
  }
  for (auto& w : waiters) w->notify();
  co_return result;
}

asio::awaitable<void> PeerLinks::runLink(std::shared_ptr<PeerLinks> self, std::string hub,
                                         std::shared_ptr<tunnel::Mux> mux) {
  std::string reason = co_await mux->run();
  log::info("peer link down", {{"hub", hub}, {"reason", reason}});
  std::lock_guard lock(self->mu_);
  auto it = self->links_.find(hub);
  if (it != self->links_.end() && it->second.mux == mux) it->second.mux = nullptr;
}

std::vector<PeerLinkInfo> PeerLinks::snapshot() const {
  std::vector<PeerLinkInfo> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, e] : links_) {
    bool up = e.mux && !e.mux->closed();
    out.push_back({id, e.url, up, up ? e.mux->streamCount() : 0, e.last_error});
  }
  return out;
}

size_t PeerLinks::up() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [id, e] : links_) n += e.mux && !e.mux->closed() ? 1 : 0;
  return n;
}

void PeerLinks::closeAll(std::string_view reason) {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (auto& [id, e] : links_) {
      if (e.mux) e.mux->shutdown(proto::GoAwayCode::kDraining, std::string(reason));
    }
  }
  // A link dialed from now on starts cancelled: its run says GOAWAY and ends at once.
  tasks_.stop();
}

asio::awaitable<bool> PeerLinks::waitClosed(std::chrono::milliseconds timeout) const {
  bool ended = co_await tasks_.asyncWait(timeout);
  co_return ended;
}

}  // namespace kubehub::hub
