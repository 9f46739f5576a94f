#include "hub/api/peer_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/status.hpp>

#include "common/auth/tunnel_identity.h"
#include "common/k8s/status_body.h"
#include "common/log/log.h"
#include "common/net/http_headers.h"
#include "hub/api/client_connection.h"
#include "hub/api/hedged_read.h"
#include "hub/api/request_plan.h"
#include "hub/auth/metaserver_sync.h"
#include "hub/auth/peer_identity.h"
#include "hub/cache/cluster_cache.h"
#include "hub/metrics/hub_metrics.h"
#include "hub/peer/peer_links.h"
#include "hub/peer/response_reframer.h"
#include "hub/tunnel/tunnel_registry.h"

namespace kubehub::hub {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

std::string reasonPhrase(int code) {
  return std::string(
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(code)));
}

/// A complete answer of this hub's own: a Kubernetes Status.
asio::awaitable<void> answerStatus(tunnel::Stream* s, int code, std::string_view message,
                                   int retry_after = 0, bool stale_route = false) {
  std::string body = k8s::statusBody(code, message);
  proto::ResponseHead head;
  head.status = code;
  head.reason = reasonPhrase(code);
  head.headers = {{"Content-Type", "application/json"},
                  {"Cache-Control", "no-cache, private"},
                  {"Content-Length", std::to_string(body.size())}};
  if (retry_after > 0) head.headers.emplace_back("Retry-After", std::to_string(retry_after));
  if (stale_route) head.headers.emplace_back(std::string(kPeerRouteHeader), "stale");
  s->sendResponseHead(head, false);
  if ((co_await s->write(body)).ok()) s->finish();
}

/// The cache's HTTP/1.1 answer, carried as a stream's response head and body.
class StreamClient final : public ClientConnection {
 public:
  explicit StreamClient(std::shared_ptr<tunnel::Stream> stream) : stream_(std::move(stream)) {}

  asio::awaitable<bool> write(std::string_view a, std::string_view b, std::string_view c) override {
    for (std::string_view part : {a, b, c}) {
      if (part.empty()) continue;
      if (ended_ || failed_) co_return false;
      auto out = reframer_.feed(part);
      if (!out.ok()) {
        log::error("cache answer for a peer hub is not HTTP/1.1",
                   {{"error", out.status().message()}});
        stream_->reset(proto::ResetCode::kInternal, "malformed cache answer");
        failed_ = true;
        co_return false;
      }
      if (out->head) stream_->sendResponseHead(*out->head, false);
      if (!out->body.empty()) {
        if (!(co_await stream_->write(out->body)).ok()) {
          failed_ = true;
          co_return false;
        }
      }
      if (out->end) {
        ended_ = true;
        stream_->finish();
      }
    }
    co_return true;
  }
  asio::awaitable<void> waitClosed() override { co_await stream_->waitReset(); }
  void close() override {
    if (!ended_ && !failed_) stream_->reset(proto::ResetCode::kCancel, "answer ended");
  }

 private:
  std::shared_ptr<tunnel::Stream> stream_;
  ResponseReframer reframer_;
  bool ended_ = false;
  bool failed_ = false;
};

/// Reads a stream's whole request body, at most `limit` bytes.
asio::awaitable<bool> readAll(tunnel::Stream* s, size_t limit, std::string* out) {
  for (;;) {
    auto c = co_await s->read();
    if (!c.ok()) co_return false;
    out->append(c->data);
    s->consumed(c->data.size());
    if (out->size() > limit) co_return false;
    if (c->end) co_return true;
  }
}

/// Peer to edge: the request body, or an upgraded stream's bytes.
asio::awaitable<void> pumpUp(std::shared_ptr<tunnel::Stream> from,
                             std::shared_ptr<tunnel::Stream> to) {
  for (;;) {
    auto c = co_await from->read();
    if (!c.ok()) {
      to->reset(proto::ResetCode::kCancel, "peer hub: " + std::string(c.status().message()));
      co_return;
    }
    if (!c->data.empty()) {
      if (!(co_await to->write(c->data)).ok()) {
        from->reset(proto::ResetCode::kCancel, "edge stream closed");
        co_return;
      }
      from->consumed(c->data.size());
    }
    if (c->end) {
      to->finish();
      co_return;
    }
  }
}

/// Edge to peer: the response head, then its body (or raw bytes after a 101).
asio::awaitable<void> pumpDown(std::shared_ptr<tunnel::Stream> from,
                               std::shared_ptr<tunnel::Stream> to, std::string cluster,
                               std::chrono::milliseconds response_timeout,
                               std::shared_ptr<cache::ResourceStore> written_store = nullptr) {
  asio::steady_timer timer(co_await asio::this_coro::executor, response_timeout);
  auto waited = co_await (from->responseHead() || timer.async_wait(kUseTuple));
  if (waited.index() == 1) {
    from->reset(proto::ResetCode::kTimeout, "no response from the edge in time");
    co_await answerStatus(to.get(), 504,
                          "the edge API server of cluster \"" + cluster +
                              "\" did not answer within " +
                              std::to_string(response_timeout.count() / 1000) + "s");
    co_return;
  }
  auto head = std::get<0>(std::move(waited));
  if (!head.ok()) {
    co_await answerStatus(
        to.get(), 503,
        "cluster \"" + cluster + "\" is unreachable: " + std::string(head.status().message()));
    co_return;
  }
  to->sendResponseHead(*head, false);
  // A write to a cached type: its answer's resourceVersion, for reads only the cache can answer.
  if (head->status < 200 || head->status >= 300 ||
      net::findHeader(head->headers, "Content-Encoding"))
    written_store = nullptr;
  for (;;) {
    auto c = co_await from->read();
    if (!c.ok()) {
      to->reset(proto::ResetCode::kCancel, "edge: " + std::string(c.status().message()));
      co_return;
    }
    if (written_store && !c->data.empty()) {
      noteWrite(*written_store, std::string_view(c->data).substr(0, kWrittenPrefix));
      written_store = nullptr;
    }
    if (!c->data.empty()) {
      if (!(co_await to->write(c->data)).ok()) {
        from->reset(proto::ResetCode::kCancel, "peer hub went away");
        co_return;
      }
      from->consumed(c->data.size());
    }
    if (c->end) {
      to->finish();
      co_return;
    }
  }
}

asio::awaitable<void> untilReset(std::shared_ptr<tunnel::Stream> s) { co_await s->waitReset(); }

/// The edge's stream spliced to the peer's until either ends: the answer down and, when `up`,
/// whatever else the entry hub sends (a body, an upgraded stream) up.
asio::awaitable<void> splice(const std::shared_ptr<const PeerServerDeps>& deps,
                             std::shared_ptr<tunnel::Stream> peer_stream,
                             std::shared_ptr<tunnel::Stream> edge, const Forward& f, bool up) {
  if (deps->metrics) deps->metrics->streamOpened();
  auto down = pumpDown(edge, peer_stream, f.cluster, deps->response_timeout, f.written_store);
  if (up) {
    co_await ((pumpUp(peer_stream, edge) && std::move(down)) || untilReset(peer_stream));
  } else {
    co_await (std::move(down) || untilReset(peer_stream));
  }
  if (!edge->isReset()) edge->reset(proto::ResetCode::kCancel, "exchange finished");
  if (deps->metrics) deps->metrics->streamClosed();
}

/// Carries out a Forward for a peer's stream: the tunnel's stream, spliced to the peer's.
/// `no_more_body`: nothing follows the OPEN from the entry hub (no body, no upgrade), or the body
/// was read already (an access review's, in f.body). `already`: a read already sent to the edge
/// while it waited for the cache, carried on with.
asio::awaitable<void> forwardForPeer(std::shared_ptr<const PeerServerDeps> deps,
                                     std::shared_ptr<tunnel::Stream> peer_stream,
                                     std::shared_ptr<tunnel::Mux> mux, Forward f,
                                     const Principal& who, bool no_more_body,
                                     SentRead* already = nullptr) {
  StreamQuota::Lease lease;
  if (already != nullptr) {
    lease = std::move(already->lease);
    co_await splice(deps, peer_stream, std::move(already->stream), f, false);
    co_return;
  }
  if (deps->stream_quota && f.stream_quota) {
    StreamQuota::Refusal why;
    auto granted =
        deps->stream_quota->tryAcquire(f.cluster, who.tenant, who.user, f.long_lived, &why);
    if (!granted) {
      Reject r = planStreamQuotaRefusal(f, who, why);
      co_await answerStatus(peer_stream.get(), r.code, r.message, r.retry_after);
      co_return;
    }
    lease = std::move(*granted);
  }
  // A body that came whole with the OPEN (the entry hub sends them in one message when it has
  // it) goes on with the OPEN too: one message to the agent, one request to its API server.
  if (!no_more_body && f.body.empty() && !f.upgrade && peer_stream->peerEnded()) {
    auto c = co_await peer_stream->read();
    if (!c.ok()) co_return;  // reset: nobody waits for an answer
    peer_stream->consumed(c->data.size());
    f.body = std::move(c->data);
    no_more_body = true;
  }
  // Whatever else the entry hub sends after the OPEN (a body, an upgraded stream) follows.
  bool end = no_more_body && f.body.empty();
  size_t sent = 0;
  auto opened =
      f.body.empty() ? mux->openStream(f.head, end) : mux->openStream(f.head, f.body, &sent);
  if (!opened.ok()) {
    Reject r = planOpenRefusal(f, opened.status());
    // Closing since it was looked up: the entry hub may ask the cluster's next hub.
    co_await answerStatus(peer_stream.get(), r.code, r.message, r.retry_after,
                          absl::IsUnavailable(opened.status()));
    co_return;
  }
  std::shared_ptr<tunnel::Stream> edge = std::move(*opened);
  if (sent < f.body.size()) {
    if ((co_await edge->write(std::string_view(f.body).substr(sent))).ok()) edge->finish();
  }
  co_await splice(deps, peer_stream, std::move(edge), f, !end && f.body.empty());
}

/// `open_ended`: the OPEN itself ended the entry hub's side (no body, no upgrade). Read when the
/// OPEN arrived: by the time this runs, a body may have arrived and ended that side too.
asio::awaitable<void> servePeerStream(std::shared_ptr<const PeerServerDeps> deps,
                                      std::shared_ptr<tunnel::Stream> stream,
                                      proto::RequestHead open, std::string peer_hub,
                                      bool open_ended) {
  // Who: only the entry hub's verdict, which only a hub's certificate may carry.
  std::optional<std::string> identity;
  std::vector<HeaderView> views;
  views.reserve(open.headers.size());
  RequestHead head;
  for (const auto& [name, value] : open.headers) {
    if (net::iequals(name, kPeerIdentityHeader)) {
      if (!identity) identity = value;
      continue;
    }
    views.push_back({name, value});
    if (net::iequals(name, "Accept")) head.accept = value;
    if (net::iequals(name, "Content-Type")) head.content_type = value;
    if (net::iequals(name, "Expect")) head.expect = value;
    if (net::iequals(name, "Accept-Encoding")) head.accept_encoding = value;
  }
  absl::StatusOr<Principal> who =
      absl::InvalidArgumentError("no " + std::string(kPeerIdentityHeader));
  if (identity) who = decodePeerIdentity(*identity);
  if (!who.ok()) {
    log::warn("peer hub sent a request without a valid identity",
              {{"peer_hub", peer_hub}, {"error", who.status().message()}});
    co_await answerStatus(
        stream.get(), 400,
        "peer request without a valid identity: " + std::string(who.status().message()));
    co_return;
  }
  head.method = open.method;
  head.target = open.target;
  head.keep_alive = true;
  head.body_pending = !open_ended;
  head.headers = views;

  auto targeted = planTarget(head, *who, true);
  if (auto* r = std::get_if<Reject>(&targeted)) {
    co_await answerStatus(stream.get(), r->code, r->message, r->retry_after);
    co_return;
  }
  const RequestTarget& target = std::get<RequestTarget>(targeted);
  PolicyFacts facts;  // the entry hub applied the tenant's rate limit
  auto snapshot = deps->metaserver ? deps->metaserver->snapshot() : nullptr;
  facts.auth = snapshot.get();
  std::shared_ptr<tunnel::Mux> mux = deps->registry->find(target.route.cluster);
  // A tunnel going away (its agent moving on) opens no new stream: the route is stale already.
  if (mux && mux->closing()) mux = nullptr;
  facts.tunnel_here = mux != nullptr;
  auto cached = [&]() -> std::optional<cache::CacheDecision> {
    auto cluster_cache = deps->cache ? deps->cache->find(target.route.cluster) : nullptr;
    if (!cluster_cache) return std::nullopt;
    return cache::decideCachedRead(*cluster_cache, target.info, "GET", target.route.query,
                                   head.accept);
  };
  auto namespaced = [&](const std::string& group, const std::string& resource) {
    return deps->registry->namespaced(target.route.cluster, group, resource);
  };
  if (deps->metrics) deps->metrics->peerRequest("in", facts.tunnel_here ? "served" : "stale");
  if (!facts.tunnel_here) {
    // Never passed on to a third hub: the entry hub's table is stale, it may try another owner.
    co_await answerStatus(stream.get(), 503,
                          "cluster \"" + target.route.cluster +
                              "\" is no longer connected to hub \"" + deps->hub_id +
                              "\" (the route was stale; retry)",
                          1, true);
    co_return;
  }

  RequestPlan plan = planRequest(head, *who, target, facts, cached);
  for (;;) {
    if (auto* r = std::get_if<Reject>(&plan)) {
      co_await answerStatus(stream.get(), r->code, r->message, r->retry_after);
      co_return;
    }
    if (auto* read = std::get_if<ReadReviewBody>(&plan)) {
      std::string body;
      if (!co_await readAll(stream.get(), read->limit, &body)) {
        plan = planReviewBodyUnreadable();
        continue;
      }
      head.body_pending = false;
      snapshot = deps->metaserver ? deps->metaserver->snapshot() : nullptr;
      plan = planReview(head, *who, target, std::move(body), snapshot.get(), namespaced);
    } else if (auto* answer = std::get_if<AnswerReview>(&plan)) {
      proto::ResponseHead rh{201,
                             "Created",
                             {{"Content-Type", "application/json"},
                              {"Content-Length", std::to_string(answer->body.size())},
                              {"X-Kubehub-Served-From", "hub"}}};
      stream->sendResponseHead(rh, false);
      if ((co_await stream->write(answer->body)).ok()) stream->finish();
      co_return;
    } else if (auto* serve = std::get_if<ServeFromCache>(&plan)) {
      StreamClient client(stream);
      // A read the edge could answer as well may go there while it waits for the cache.
      OpenForward hedge;
      if (!serve->otherwise && mux && !head.body_pending) {
        hedge = [&]() {
          return sendRead(deps->stream_quota.get(), *mux, planForward(head, *who, target), *who);
        };
      }
      CacheServeResult served =
          co_await serveFromCache(&client, mux, std::move(serve->decision), deps->cache_options,
                                  true, serve->allow_stale, std::move(hedge));
      if (served.kind != CacheServeResult::Kind::kForward) co_return;
      if (served.hedged) {
        Forward f = std::move(served.hedged->f);
        co_await forwardForPeer(deps, stream, std::move(mux), std::move(f), *who, true,
                                served.hedged.get());
        co_return;
      }
      RequestPlan next = serve->otherwise ? RequestPlan(std::move(*serve->otherwise))
                                          : planForward(head, *who, target);
      plan = std::move(next);
    } else {
      Forward& f = std::get<Forward>(plan);
      f.written_store = writtenStore(deps->cache.get(), target);
      co_await forwardForPeer(deps, stream, std::move(mux), std::move(f), *who, !head.body_pending);
      co_return;
    }
  }
}

}  // namespace

asio::awaitable<void> runPeerSession(std::shared_ptr<const PeerServerDeps> deps,
                                     std::unique_ptr<tunnel::Transport> transport,
                                     tunnel::TunnelPeer peer) {
  auto hub = auth::peerHubOf(peer.certificate);
  if (!hub) {
    log::warn("peer link refused: the client certificate is not a hub's",
              {{"peer", peer.address}, {"common_name", peer.certificate.common_name}});
    if (deps->metrics) deps->metrics->peerLinkRefused();
    co_await transport->close("not a hub certificate");
    co_return;
  }
  auto mux =
      std::make_shared<tunnel::Mux>(std::move(transport), peerMuxOptions(false, "peer:" + *hub));
  std::string peer_hub = *hub;
  // A weak reference: the Mux holds its handler.
  mux->setOpenHandler([deps, peer_hub, weak_mux = std::weak_ptr<tunnel::Mux>(mux)](
                          std::shared_ptr<tunnel::Stream> s, proto::RequestHead head) {
    auto link = weak_mux.lock();
    if (!link) return;
    // Streams are thread-safe: a request may run on another thread than its link, and is the
    // link's task all the same (it ends with the link). It runs on the thread of the cluster's
    // tunnel when it is here: it then crosses no thread between this hub's link and the tunnel
    // but the link's own (each crossing is a wake-up of the other thread, both ways).
    asio::any_io_executor ex;
    if (deps->tunnel_executor) ex = deps->tunnel_executor(head.target);
    if (!ex) ex = deps->request_executor ? deps->request_executor() : link->executor();
    bool open_ended = s->openEnded();
    link->spawn(ex, servePeerStream(deps, std::move(s), std::move(head), peer_hub, open_ended));
  });
  log::info("peer link accepted", {{"hub", peer_hub}, {"peer", peer.address}});
  if (deps->metrics) deps->metrics->peerLinkAccepted(1);
  std::string reason = co_await mux->run();
  if (deps->metrics) deps->metrics->peerLinkAccepted(-1);
  log::info("peer link closed", {{"hub", peer_hub}, {"reason", reason}});
}

}  // namespace kubehub::hub
