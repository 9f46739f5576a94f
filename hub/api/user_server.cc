#include "hub/api/user_server.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "common/auth/secret_name.h"
#include "common/k8s/cluster_path.h"
#include "common/k8s/request_info.h"
#include "common/k8s/status_body.h"
#include "common/log/log.h"
#include "common/net/http_headers.h"
#include "common/net/listener.h"
#include "common/net/server_main.h"
#include "common/net/task_group.h"
#include "common/net/tls_stream.h"
#include "common/net/websocket_frames.h"
#include "common/tunnel/body_pump.h"
#include "hub/api/client_connection.h"
#include "hub/api/command_listing.h"
#include "hub/api/connection_limiter.h"
#include "hub/api/hedged_read.h"
#include "hub/api/request_plan.h"
#include "hub/api/stream_quota.h"
#include "hub/auth/access_review.h"
#include "hub/auth/peer_identity.h"
#include "hub/peer/peer_links.h"
#include "proto/frame.h"

namespace kubehub::hub {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
/// TlsStream: reads take what the socket has, writes send many records per syscall, and an idle
/// connection (a kubectl watch) holds no record buffers.
using SslStream = net::TlsStream;
using Parser = http::request_parser<http::buffer_body>;
using namespace asio::experimental::awaitable_operators;

/// Connections the accept loop takes from the kernel's queue per wake-up (see acceptQueued).
constexpr int kAcceptBurst = 256;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kChunk = 32 * 1024;
/// A request body already read with its head goes to the tunnel with the OPEN up to this size.
constexpr size_t kWholeBodyLimit = 256 * 1024;
/// How long the edge's side of an upgraded stream may go on after the client closed its
/// connection.
constexpr std::chrono::seconds kUpgradeHalfCloseGrace{5};

std::string endpointString(const tcp::endpoint& ep) {
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

/// How a request ended, for metrics (and the audit log).
struct Outcome {
  int status = 0;
  const char* served_from = "hub";
  uint64_t bytes = 0;
  /// A command call: the parameters the agent marks secret (its X-Kubehub-Secret-Parameters).
  std::string secret_parameters;
};

/// What the handler learned about the request that shapes the response.
struct RequestShape {
  bool keep_alive = true;
  bool is_head = false;
  /// watch=true / follow=true / a /watch/ path: long-lived, so the client's departure must be
  /// noticed while we wait for the edge, and the connection closes afterwards.
  bool long_lived = false;
  std::string cluster;
  Outcome* outcome = nullptr;
  /// While the request body is still being uploaded: false until it is all sent.
  const bool* upload_done = nullptr;
  /// What answered, for metrics and the audit line: "forward" (the tunnel) or "peer".
  const char* served_from = "forward";
  /// Set when the request may be tried at another owner hub and need be: that hub's 503 says it
  /// no longer holds the tunnel, or its link closed before any answer. Nothing is written to the
  /// client then; *stale_route is set instead.
  bool* stale_route = nullptr;
  /// A listing of native commands: cut to these names before it leaves (nullopt: all).
  std::optional<std::set<std::string>> listed_commands;
  /// A write to a cached type: a 2xx answer's resourceVersion is noted in this store.
  std::shared_ptr<cache::ResourceStore> written_store;
};

void closeSocket(SslStream* s) {
  boost::system::error_code ec;
  beast::get_lowest_layer(*s).socket().shutdown(tcp::socket::shutdown_both, ec);
  beast::get_lowest_layer(*s).close();
}

/// A complete response with a Kubernetes Status body. `retry_after` > 0 adds Retry-After,
/// which client-go honours by retrying after that many seconds.
asio::awaitable<bool> writeStatus(SslStream* s, std::chrono::milliseconds timeout, int code,
                                  std::string_view message, bool keep_alive, int retry_after = 0) {
  std::string body = k8s::statusBody(code, message);
  std::string head =
      "HTTP/1.1 " + std::to_string(code) + " " +
      std::string(http::obsolete_reason(static_cast<http::status>(code))) +
      "\r\nContent-Type: application/json\r\nCache-Control: no-cache, private\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n" +
      (retry_after > 0 ? "Retry-After: " + std::to_string(retry_after) + "\r\n" : std::string()) +
      (keep_alive ? "" : "Connection: close\r\n") + "\r\n";
  co_return co_await tunnel::writeAll(s, timeout, asio::buffer(head), asio::buffer(body));
}

/// Streams the request body to the edge; sets *done once all of it is sent.
asio::awaitable<bool> uploadBody(SslStream* s, beast::flat_buffer* buf, Parser* parser,
                                 std::shared_ptr<tunnel::Stream> stream,
                                 std::chrono::milliseconds timeout, bool* done) {
  tunnel::ChunkBuffer chunk(kChunk, kChunk);
  tunnel::PumpIn in;
  in.timeout = timeout;
  in.what = "client request body";
  bool sent = co_await tunnel::parsedBodyToStream(s, buf, parser, stream, &chunk, std::move(in));
  if (sent) *done = true;
  co_return sent;
}

/// For long-lived responses: returns when the client closes, resetting the stream so the edge
/// stops producing for nobody.
asio::awaitable<void> monitorClient(SslStream* s, std::shared_ptr<tunnel::Stream> stream) {
  std::vector<char> scratch(1024);
  for (;;) {
    auto [ec, n] = co_await tunnel::readSomeNoDeadline(s, asio::buffer(scratch));
    if (ec) {
      stream->reset(proto::ResetCode::kCancel, "client went away");
      co_return;
    }
  }
}

/// ClientConnection over the user's TLS stream (for answers produced by the hub itself).
class TlsClient final : public ClientConnection {
 public:
  TlsClient(SslStream* s, std::chrono::milliseconds timeout) : s_(s), timeout_(timeout) {}
  asio::awaitable<bool> write(std::string_view a, std::string_view b, std::string_view c) override {
    co_return co_await tunnel::writeAll(s_, timeout_, asio::buffer(a.data(), a.size()),
                                        asio::buffer(b.data(), b.size()),
                                        asio::buffer(c.data(), c.size()));
  }
  asio::awaitable<void> waitClosed() override {
    std::vector<char> scratch(1024);
    for (;;) {
      auto [ec, n] = co_await tunnel::readSomeNoDeadline(s_, asio::buffer(scratch));
      if (ec) co_return;
    }
  }
  void close() override { closeSocket(s_); }

 private:
  SslStream* s_;
  std::chrono::milliseconds timeout_;
};

asio::awaitable<bool> pumpLongLived(SslStream* s, std::shared_ptr<tunnel::Stream> stream,
                                    bool chunked, std::chrono::milliseconds timeout,
                                    uint64_t* bytes) {
  tunnel::PumpOut out;
  out.chunked = chunked;
  out.end_cleanly_on_error = true;
  out.timeout = timeout;
  out.bytes = bytes;
  out.peer = "client";
  bool ok = co_await tunnel::streamToSocket(s, stream, out);
  // The connection is not reused after a long-lived response; closing it also ends the monitor.
  closeSocket(s);
  co_return ok;
}

asio::awaitable<void> clientToTunnel(SslStream* s, beast::flat_buffer* buf,
                                     std::shared_ptr<tunnel::Stream> stream) {
  tunnel::ChunkBuffer chunk(kChunk, kChunk);
  auto ec = co_await tunnel::socketToStream(s, buf, stream, &chunk);
  if (!ec) co_return;  // the stream refused more: it is reset or the tunnel is gone
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
    // Upgraded protocols (WebSocket, SPDY) end in-band; a client that closes its connection is
    // gone. What it sent still reaches the edge (END after the data), but the edge's side is
    // not waited for beyond a grace: an exec whose process never ends would otherwise hold the
    // stream, and the user's share of the tunnel, forever.
    stream->finish();
    asio::steady_timer grace(co_await asio::this_coro::executor, kUpgradeHalfCloseGrace);
    co_await (grace.async_wait(kUseTuple) || stream->waitReset());
    stream->reset(proto::ResetCode::kCancel, "the client closed the upgraded connection");
  } else {
    stream->reset(proto::ResetCode::kCancel, "client connection: " + ec.message());
  }
}

/// `websocket`: the upgrade is to WebSocket, whose frames go to the client in TLS records of
/// their own (see net::WebSocketFrameBoundaries); SPDY's go as they come.
asio::awaitable<void> tunnelToClient(SslStream* s, std::shared_ptr<tunnel::Stream> stream,
                                     std::chrono::milliseconds timeout, uint64_t* bytes,
                                     bool websocket) {
  net::WebSocketFrameBoundaries frames;
  tunnel::PumpOut out;
  out.timeout = timeout;
  out.bytes = bytes;
  out.frames = websocket ? &frames : nullptr;
  out.peer = "client";
  co_await tunnel::streamToSocket(s, stream, out);
  // Either side ending ends the exchange (as Go's reverse proxies do for upgrades).
  stream->reset(proto::ResetCode::kCancel, "the edge ended the upgraded connection");
  closeSocket(s);
}

asio::awaitable<bool> proxyResponse(std::shared_ptr<UserServer::Impl> self, SslStream* s,
                                    beast::flat_buffer* buf, std::shared_ptr<tunnel::Stream> stream,
                                    RequestShape shape);

}  // namespace

struct UserServer::Impl : std::enable_shared_from_this<UserServer::Impl> {
  Impl(net::IoPool& pool_in, std::shared_ptr<net::TlsSource> tls_in, UserServerOptions options_in,
       UserServerDeps deps)
      : pool(pool_in),
        tls(std::move(tls_in)),
        options(options_in),
        auth(std::move(deps.auth)),
        registry(std::move(deps.registry)),
        metaserver(std::move(deps.metaserver)),
        metrics(std::move(deps.metrics)),
        cache(std::move(deps.cache)),
        audit(std::move(deps.audit)),
        tenant_limiter(std::move(deps.tenant_limiter)),
        peers(std::move(deps.peers)),
        hub_id(std::move(deps.hub_id)),
        limiter(std::make_shared<ConnectionLimiter>(options_in.max_connections,
                                                    options_in.max_connections_per_client)),
        stream_quota(deps.stream_quota ? std::move(deps.stream_quota)
                                       : std::make_shared<StreamQuota>(options_in.stream_quota)),
        acceptor(asio::make_strand(pool_in.main())) {}

  static asio::awaitable<void> acceptLoop(std::shared_ptr<Impl> self);
  struct Connection;
  static asio::awaitable<void> session(std::shared_ptr<Impl> self, tcp::socket socket,
                                       ConnectionLimiter::Slot slot);
  /// Serves a connection's requests until it closes, or until it should move to the thread of
  /// the tunnel its request uses; then carries on there as a task of its own.
  static asio::awaitable<void> serve(std::shared_ptr<Impl> self, std::unique_ptr<Connection> c);
  /// Moves the connection to `there` and serves it on there (first its pending request, if any).
  static void moveConnection(std::shared_ptr<Impl> self, std::unique_ptr<Connection> c,
                             asio::io_context* there);
  /// The users' context running the tunnel of the cluster `parser`'s request names, when that
  /// is not the one running `s`: where the connection should be before the request is served.
  asio::io_context* homeOf(const Parser& parser, SslStream& s);
  /// Starts a session for an accepted connection, or closes it when a limit is reached.
  /// On the acceptor's strand.
  void admit(tcp::socket socket);
  /// Pauses the accept loop after a failed accept; longer while descriptors stay exhausted.
  asio::awaitable<void> acceptFailed(boost::system::error_code ec);
  /// Every few seconds: after many connections closed, hands their freed memory back to the
  /// system (each held ~24 KiB, mostly OpenSSL's state, that the allocator would otherwise keep).
  static asio::awaitable<void> releaseMemoryLoop(std::shared_ptr<Impl> self);
  /// `served_by`: set to the executor of the tunnel or peer link that carried the exchange.
  static asio::awaitable<bool> handle(std::shared_ptr<Impl> self, SslStream* s,
                                      beast::flat_buffer* buf, Parser* parser, std::string peer,
                                      asio::any_io_executor* served_by);

  net::IoPool& pool;
  std::shared_ptr<net::TlsSource> tls;
  UserServerOptions options;
  std::shared_ptr<Authenticator> auth;
  std::shared_ptr<TunnelRegistry> registry;
  std::shared_ptr<MetaserverSync> metaserver;
  std::shared_ptr<HubMetrics> metrics;
  std::shared_ptr<cache::CacheRegistry> cache;
  std::shared_ptr<AuditLog> audit;
  std::shared_ptr<RateLimiter> tenant_limiter;
  std::shared_ptr<PeerLinks> peers;
  std::string hub_id;
  std::shared_ptr<ConnectionLimiter> limiter;
  std::shared_ptr<StreamQuota> stream_quota;
  tcp::acceptor acceptor;
  bool stopped = false;
  // Acceptor strand only.
  std::chrono::milliseconds accept_backoff{0};
  std::chrono::steady_clock::time_point next_refusal_log{};
  uint64_t refused_since_log = 0;
  std::chrono::steady_clock::time_point next_shed_log{};
  uint64_t shed_since_log = 0;
  /// Most connections open since the last trim.
  std::atomic<size_t> peak_open{0};
  asio::steady_timer trim_timer{acceptor.get_executor()};
  /// The accept loop, the memory trim loop and every connection: stop() cancels them all.
  net::TaskGroup tasks{"users"};
};

namespace {

/// An agent's listing of its commands, read whole (bounded), cut to what the caller may run
/// (shape.listed_commands) and sent with its length.
asio::awaitable<bool> answerCommandListing(std::shared_ptr<UserServer::Impl> self, SslStream* s,
                                           std::shared_ptr<tunnel::Stream> stream,
                                           net::HeaderList headers, RequestShape shape,
                                           bool close_after) {
  const auto& o = self->options;
  std::string body;
  std::string failure;
  for (;;) {
    auto c = co_await stream->read();
    if (!c.ok()) {
      failure = "the agent's command listing ended early: " + std::string(c.status().message());
      break;
    }
    body += c->data;
    stream->consumed(c->data.size());
    if (body.size() > kMaxCommandListingBytes) {
      stream->reset(proto::ResetCode::kCancel, "command listing too large");
      failure = "the agent's command listing is larger than " +
                std::to_string(kMaxCommandListingBytes) + " bytes";
      break;
    }
    if (c->end) break;
  }
  absl::StatusOr<std::string> cut =
      failure.empty() ? filterCommandListing(body, *shape.listed_commands)
                      : absl::StatusOr<std::string>(absl::UnavailableError(failure));
  if (!cut.ok()) {
    shape.outcome->status = 502;
    std::string message = std::string(cut.status().message());
    co_await writeStatus(s, o.write_timeout, 502, message, false);
    co_return false;
  }
  std::string head = "HTTP/1.1 200 OK\r\n";
  for (const auto& [k, v] : headers) {
    if (!absl::EqualsIgnoreCase(k, "Content-Length")) head += k + ": " + v + "\r\n";
  }
  head += "Content-Length: " + std::to_string(cut->size()) + "\r\n";
  if (close_after) head += "Connection: close\r\n";
  head += "\r\n";
  shape.outcome->bytes += cut->size();
  bool ok = co_await tunnel::writeAll(s, o.write_timeout, asio::buffer(head), asio::buffer(*cut),
                                      asio::const_buffer());
  co_return ok && !close_after;
}

asio::awaitable<bool> proxyResponse(std::shared_ptr<UserServer::Impl> self, SslStream* s,
                                    beast::flat_buffer* buf, std::shared_ptr<tunnel::Stream> stream,
                                    RequestShape shape) {
  const auto& o = self->options;
  asio::steady_timer timer(s->get_executor());
  timer.expires_after(o.response_timeout);
  auto waited = co_await (stream->responseHead() || timer.async_wait(kUseTuple));
  if (waited.index() == 1) {
    stream->reset(proto::ResetCode::kTimeout, "no response from the edge in time");
    shape.outcome->status = 504;
    std::string message_0 = "the edge API server of cluster \"" + shape.cluster +
                            "\" did not answer within " +
                            std::to_string(o.response_timeout.count() / 1000) + "s";
    co_await writeStatus(s, o.write_timeout, 504, message_0, false);
    co_return false;
  }
  auto head = std::get<0>(std::move(waited));
  if (!head.ok() && shape.stale_route) {
    // The peer link closed (the owner hub went away) before any answer: nothing reached the
    // client yet, so a read may be tried at another owner.
    *shape.stale_route = true;
    co_return false;
  }
  if (!head.ok()) {
    shape.outcome->status = 503;
    std::string message_1 =
        "cluster \"" + shape.cluster + "\" is unreachable: " + std::string(head.status().message());
    co_await writeStatus(s, o.write_timeout, 503, message_1, false);
    co_return false;
  }
  int status = head->status;
  if (shape.stale_route && status == 503 &&
      net::findHeader(head->headers, kPeerRouteHeader).value_or("") == "stale") {
    stream->reset(proto::ResetCode::kCancel, "stale route; trying another hub");
    *shape.stale_route = true;
    co_return false;
  }
  shape.outcome->status = status;
  shape.outcome->served_from = shape.served_from;
  if (auto secret = net::findHeader(head->headers, auth::kSecretParametersHeader))
    shape.outcome->secret_parameters = std::string(*secret);
  net::HeaderList headers = net::forwardableResponseHeaders(head->headers, status);
  bool has_length = net::findHeader(headers, "Content-Length").has_value();
  bool no_body = shape.is_head || status == 204 || status == 304 || (status >= 100 && status < 200);
  bool chunked = !has_length && !no_body;
  // An answer that comes before the request body is complete (413 for a huge upload) ends the
  // connection: what the client still sends is not a request.
  bool upload_unfinished = shape.upload_done != nullptr && !*shape.upload_done;
  bool close_after = !shape.keep_alive || shape.long_lived || upload_unfinished;
  if (shape.listed_commands && status == 200 && !no_body && !shape.long_lived) {
    co_return co_await answerCommandListing(self, s, stream, std::move(headers), std::move(shape),
                                            close_after);
  }

  std::string text =
      "HTTP/1.1 " + std::to_string(status) + " " +
      (head->reason.empty() ? std::string(http::obsolete_reason(static_cast<http::status>(status)))
                            : head->reason) +
      "\r\n";
  for (const auto& [k, v] : headers) text += k + ": " + v + "\r\n";
  if (chunked) text += "Transfer-Encoding: chunked\r\n";
  if (close_after && status != 101) text += "Connection: close\r\n";
  text += "\r\n";
  // A body already here (the agent sends a small answer's head, body and end together) leaves
  // with the head in one write; otherwise the head goes at once, as it must for streams.
  bool head_with_body = status != 101 && !no_body && !shape.long_lived && stream->readReady();
  if (!head_with_body && !co_await tunnel::writeAll(s, o.write_timeout, asio::buffer(text))) {
    stream->reset(proto::ResetCode::kCancel, "client went away");
    co_return false;
  }

  if (status == 101) {
    auto upgrade = net::findHeader(headers, "Upgrade");
    bool websocket = upgrade && absl::EqualsIgnoreCase(*upgrade, "websocket");
    co_await (clientToTunnel(s, buf, stream) &&
              tunnelToClient(s, stream, o.write_timeout, &shape.outcome->bytes, websocket));
    co_return false;
  }
  if (no_body) {
    auto rest = co_await stream->read();  // the END that follows the head
    if (rest.ok() && !rest->end) stream->reset(proto::ResetCode::kCancel, "unexpected body");
    co_return !close_after;
  }
  if (shape.long_lived) {
    co_await (pumpLongLived(s, stream, chunked, o.write_timeout, &shape.outcome->bytes) ||
              monitorClient(s, stream));
    co_return false;
  }
  if (shape.written_store && head_with_body && status >= 200 && status < 300 &&
      !net::findHeader(headers, "Content-Encoding")) {
    noteWrite(*shape.written_store, stream->peek(kWrittenPrefix));
  }
  tunnel::PumpOut out;
  out.chunked = chunked;
  out.timeout = o.write_timeout;
  out.bytes = &shape.outcome->bytes;
  out.head = head_with_body ? std::string_view(text) : std::string_view();
  out.peer = "client";
  bool ok = co_await tunnel::streamToSocket(s, stream, out);
  co_return ok && !close_after;
}

/// proxyResponse while the request body is still uploading. A response that is complete before
/// the body (the edge refused it early) ends the exchange: the upload stops at once instead of
/// reading a body the client may never send until the idle timeout.
asio::awaitable<bool> respondDuringUpload(std::shared_ptr<UserServer::Impl> self, SslStream* s,
                                          beast::flat_buffer* buf,
                                          std::shared_ptr<tunnel::Stream> stream,
                                          RequestShape shape) {
  const bool* upload_done = shape.upload_done;
  bool ok = co_await proxyResponse(self, s, buf, stream, shape);
  if (!*upload_done) {
    stream->reset(proto::ResetCode::kCancel, "answered before the request body was complete");
    closeSocket(s);
    co_return false;
  }
  co_return ok;
}

}  // namespace

namespace {

/// Records one request's metrics and audit line when the handler's frame ends, whichever way
/// it ends.
struct RequestRecord {
  RequestRecord(HubMetrics* m, AuditLog* a, asio::any_io_executor ex, std::string peer,
                const RequestHead& head)
      : metrics(m), audit(a), executor(std::move(ex)) {
    entry.peer = std::move(peer);
    entry.verb = k8s::parseRequestInfo(head.method, "/", "").verb;
    entry.path = std::string(head.target.substr(0, head.target.find('?')));
  }
  RequestRecord(const RequestRecord&) = delete;
  RequestRecord& operator=(const RequestRecord&) = delete;

  /// Where the executor of the tunnel or peer link that carries the exchange goes (the
  /// connection may follow it to that thread), when set.
  asio::any_io_executor* served_by = nullptr;

  /// Once the caller and the target are known.
  void identify(const Principal& who, const RequestTarget& t) {
    entry.user = who.user;
    entry.tenant = who.tenant;
    entry.cluster = t.route.cluster;
    entry.verb = t.info.verb;
    entry.api_group = t.info.api_group;
    entry.resource = t.info.resource;
    entry.subresource = t.info.subresource;
    entry.namespace_name = t.info.namespace_;
    entry.name = t.info.name;
    entry.path = t.route.path;
    if (t.commands) entry.command = t.command;
  }

  HubMetrics* metrics = nullptr;
  AuditLog* audit = nullptr;
  asio::any_io_executor executor;  // the connection's: where the audit line's flush runs
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::string
      cluster;  // for metrics only clusters this hub serves: user-chosen names are unbounded
  AuditRecord entry;
  Outcome outcome;
  /// A command call's parameters, unredacted until the agent has said which are secret.
  std::string command_parameters;

  ~RequestRecord() {
    if (outcome.status == 0) return;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // Tenants are bounded (the metaserver's); cluster only when served here (see above).
    if (metrics) {
      metrics->request(cluster, entry.tenant, entry.verb, outcome.status, outcome.served_from,
                       seconds, outcome.bytes);
    }
    if (audit) {
      entry.status = outcome.status;
      entry.latency_seconds = seconds;
      entry.bytes = outcome.bytes;
      entry.served_from = outcome.served_from;
      if (!entry.command.empty())
        entry.parameters = redactParameters(command_parameters, outcome.secret_parameters);
      audit->write(entry, executor);
    }
  }
};

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Reads a small request body completely (SelfSubjectAccessReview); false on error or when it
/// exceeds `limit`.
asio::awaitable<bool> readSmallBody(SslStream* s, beast::flat_buffer* buf, Parser* parser,
                                    std::chrono::milliseconds timeout, size_t limit,
                                    std::string* out) {
  std::vector<char> chunk(16 * 1024);
  while (!parser->is_done()) {
    parser->get().body().data = chunk.data();
    parser->get().body().size = chunk.size();
    beast::get_lowest_layer(*s).expires_after(timeout);
    auto [ec, n] = co_await http::async_read_some(*s, *buf, *parser, kUseTuple);
    beast::get_lowest_layer(*s).expires_never();
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return false;
    out->append(chunk.data(), chunk.size() - parser->get().body().size);
    if (out->size() > limit) co_return false;
  }
  co_return true;
}

/// The rest of the request body when all of it has already arrived with the head (a create's
/// or an update's JSON is usually in the head's TLS record): taken whole into `out`, so that the
/// OPEN, the body and its end cross the tunnel as one message, and the agent writes the API
/// server one request instead of a head and then a body. Only a Content-Length body of at most
/// `limit` bytes; false, with nothing consumed, otherwise (the body then streams as it comes).
bool takeBufferedBody(beast::flat_buffer* buf, Parser* parser, size_t limit, std::string* out) {
  auto remaining = parser->content_length_remaining();
  if (parser->is_done() || parser->chunked() || !remaining || *remaining == 0 ||
      *remaining > limit || buf->size() < *remaining) {
    return false;
  }
  out->resize(*remaining);
  size_t filled = 0;
  while (!parser->is_done()) {
    parser->get().body().data = out->data() + filled;
    parser->get().body().size = out->size() - filled;
    boost::system::error_code ec;
    size_t used = parser->put(buf->data(), ec);
    buf->consume(used);
    filled = out->size() - parser->get().body().size;
    if (ec == http::error::need_buffer) ec = {};
    // Cannot happen with every byte in hand; the streaming path reports whatever it is.
    if (ec || (used == 0 && !parser->is_done())) return false;
  }
  out->resize(filled);
  return true;
}

/// Header views for the planner; inline up to a typical head, so reading one allocates nothing.
using HeaderViews = absl::InlinedVector<HeaderView, 32>;

/// The planner's view of a parsed head: views into the parser's fields (and into `views`).
RequestHead viewHead(const Parser& parser, HeaderViews* views) {
  const auto& req = parser.get();
  for (const auto& field : req) views->push_back({field.name_string(), field.value()});
  RequestHead head;
  head.method = req.method_string();
  head.target = req.target();
  head.accept = req[http::field::accept];
  head.content_type = req[http::field::content_type];
  head.expect = req[http::field::expect];
  head.accept_encoding = req[http::field::accept_encoding];
  head.keep_alive = req.keep_alive();
  head.body_pending = !parser.is_done();
  head.headers = *views;
  return head;
}

/// Answers with the planner's refusal, counted and logged as it says.
asio::awaitable<bool> refuse(SslStream* s, std::chrono::milliseconds timeout, Reject r,
                             RequestRecord* record) {
  const AuditRecord& e = record->entry;
  record->outcome.status = r.code;
  if (!r.audit_reason.empty()) record->entry.reason = r.audit_reason;
  if (record->metrics && r.auth_failure) record->metrics->authFailure(r.auth_failure);
  if (record->metrics && r.denial) record->metrics->denial(e.tenant, r.denial);
  if (r.log && r.auth_failure) {
    bool has_token = std::string_view(r.auth_failure) != "missing";
    log::info(r.log, {{"peer", e.peer},
                      {"has_token", has_token ? "true" : "false"},
                      {"reason", r.audit_reason}});
  } else if (r.log) {
    log::info(r.log, {{"user", e.user},
                      {"tenant", e.tenant},
                      {"cluster", e.cluster},
                      {"verb", e.verb},
                      {"resource", e.resource}});
  }
  co_await writeStatus(s, timeout, r.code, r.message, r.keep_alive, r.retry_after);
  co_return r.keep_alive;
}

/// Carries out a Forward: a share of the tunnel's streams, the stream, then the exchange
/// (the body up, the response down, or both ways after an upgrade). `sent`: the request went to
/// the edge already (a hedge), so the exchange carries on with that stream.
asio::awaitable<bool> forwardRequest(std::shared_ptr<UserServer::Impl> self, SslStream* s,
                                     beast::flat_buffer* buf, Parser* parser,
                                     std::shared_ptr<tunnel::Mux> mux, Forward f,
                                     const Principal* who, RequestRecord* record,
                                     bool* stale_route = nullptr, SentRead* sent = nullptr) {
  const auto& o = self->options;
  for (const auto& name : f.dropped_headers) {
    log::info("dropped a header the user may not send",
              {{"user", who->user}, {"header", name}, {"cluster", f.cluster}});
  }
  if (!f.cache_declined.empty())
    log::debug("read forwarded", {{"cluster", f.cluster}, {"why", f.cache_declined}});

  StreamQuota::Lease lease;
  if (sent != nullptr) {
    lease = std::move(sent->lease);
  } else if (self->stream_quota && f.stream_quota) {
    StreamQuota::Refusal why;
    auto granted =
        self->stream_quota->tryAcquire(f.cluster, who->tenant, who->user, f.long_lived, &why);
    if (!granted)
      co_return co_await refuse(s, o.write_timeout, planStreamQuotaRefusal(f, *who, why), record);
    lease = std::move(*granted);
  }
  // Not for an upgrade: its client goes on sending after the 101, so its side never ends here.
  if (f.stream_body && !f.expect_continue && !f.upgrade &&
      takeBufferedBody(buf, parser, kWholeBodyLimit, &f.body)) {
    f.stream_body = false;
  }
  std::shared_ptr<tunnel::Stream> stream;
  if (sent != nullptr) {
    stream = std::move(sent->stream);
  } else {
    size_t body_sent = 0;
    auto opened = f.body.empty() ? mux->openStream(f.head, f.end_stream)
                                 : mux->openStream(f.head, f.body, &body_sent);
    if (!opened.ok() && stale_route != nullptr && absl::IsUnavailable(opened.status())) {
      *stale_route = true;  // the tunnel is closing: nothing was sent, the caller asks elsewhere
      co_return false;
    }
    if (!opened.ok())
      co_return co_await refuse(s, o.write_timeout, planOpenRefusal(f, opened.status()), record);
    stream = std::move(*opened);
    if (body_sent < f.body.size()) {
      absl::Status st = co_await stream->write(std::string_view(f.body).substr(body_sent));
      if (st.ok()) stream->finish();
    }
  }
  if (record->served_by != nullptr) *record->served_by = mux->executor();

  RequestShape shape;
  shape.keep_alive = f.keep_alive;
  shape.is_head = f.is_head;
  shape.long_lived = f.long_lived;
  shape.cluster = f.cluster;
  shape.outcome = &record->outcome;
  if (f.via == Forward::Via::kPeerHub) shape.served_from = "peer";
  shape.stale_route = stale_route;
  shape.listed_commands = f.listed_commands;
  shape.written_store = f.written_store;
  if (self->metrics) {
    self->metrics->streamOpened();
    if (shape.long_lived) self->metrics->watchOpened();
  }

  bool body_pending = f.stream_body;
  bool reuse = false;
  bool client_gone = false;
  if (f.expect_continue) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    if (!co_await tunnel::writeAll(s, o.write_timeout,
                                   asio::buffer(kContinue.data(), kContinue.size()))) {
      stream->reset(proto::ResetCode::kCancel, "client went away");
      client_gone = true;
    }
  }
  // A stream the edge has reset still has an answer to deliver: the edge answers a request whose
  // body it will not read (a 404, a 413), then resets to stop the upload, and that reset may
  // meet the body on its way. Without an answer, the client gets a 503 saying why, never a
  // connection closed in silence.
  if (!client_gone) {
    if (body_pending) {
      bool upload_done = false;
      shape.upload_done = &upload_done;
      auto [uploaded, ok] =
          co_await (uploadBody(s, buf, parser, stream, o.idle_timeout, &upload_done) &&
                    respondDuringUpload(self, s, buf, stream, shape));
      reuse = uploaded && ok;
    } else {
      reuse = co_await proxyResponse(self, s, buf, stream, shape);
    }
  }
  if (!stream->isReset()) stream->reset(proto::ResetCode::kCancel, "exchange finished");
  if (self->metrics) {
    self->metrics->streamClosed();
    if (shape.long_lived) self->metrics->watchClosed();
  }
  co_return reuse;
}

/// Waits (at most `timeout`) for the routing table to change from `version`; true if it did.
/// For a request that met a route the fleet has just changed: the metaserver's answer is
/// usually a few hundred milliseconds away.
asio::awaitable<bool> awaitRoutesChange(std::shared_ptr<UserServer::Impl> self, uint64_t version,
                                        std::chrono::milliseconds timeout) {
  if (!self->metaserver) co_return false;
  self->metaserver->wantRoutes();
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (self->metaserver->routesVersion() == version) {
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(kUseTuple);
  }
  co_return true;
}

/// The owners of `cluster` other than this hub, from the current routing table.
std::vector<HubRoute> ownersOf(const UserServer::Impl& self, const std::string& cluster) {
  std::vector<HubRoute> out;
  if (!self.metaserver || !self.peers) return out;
  auto routes = self.metaserver->routes();
  for (const HubRoute* h : routes->owners(cluster, self.hub_id)) out.push_back(*h);
  return out;
}

/// Carries out a Forward to a peer hub: over the link to the first owner that can be reached.
/// A read the owner answers with a stale route (it lost the tunnel since the table was read),
/// or whose link closed before an answer came, is tried once more: at the next owner, or, when
/// it was the last one known, at an owner the next version of the routing table names (a
/// moving agent's new hub). A write never is (its body may be gone already, or it may have
/// been carried out).
asio::awaitable<bool> forwardToPeer(std::shared_ptr<UserServer::Impl> self, SslStream* s,
                                    beast::flat_buffer* buf, Parser* parser,
                                    std::vector<HubRoute> owners, Forward f, const Principal* who,
                                    RequestRecord* record) {
  const auto& o = self->options;
  const bool read =
      (f.head.method == "GET" || f.head.method == "HEAD") && !f.stream_body && f.body.empty();
  // Read after the loop, where `f` may have been moved into the last attempt.
  const std::string cluster = f.cluster;
  const bool keep_alive = f.refusal_keep_alive;
  bool retried = false;
  std::string last_error = "no hub holding its tunnel takes peer links";
  for (size_t i = 0; i < owners.size(); ++i) {
    uint64_t routes_version = self->metaserver ? self->metaserver->routesVersion() : 0;
    auto link = co_await self->peers->link(owners[i]);
    if (!link.ok()) {
      if (self->metrics) self->metrics->peerRequest("out", "unreachable");
      last_error = std::string(link.status().message());
      continue;
    }
    if (!read || retried) {
      // The last attempt: no retry follows, so the request itself goes.
      bool reuse =
          co_await forwardRequest(self, s, buf, parser, *link, std::move(f), who, record, nullptr);
      if (self->metrics) self->metrics->peerRequest("out", "forwarded");
      co_return reuse;
    }
    // The attempt's own copy, since a retry may follow.
    bool stale = false;
    Forward attempt = f;
    bool reuse = co_await forwardRequest(self, s, buf, parser, *link, std::move(attempt), who,
                                         record, &stale);
    if (!stale) {
      if (self->metrics) self->metrics->peerRequest("out", "forwarded");
      co_return reuse;
    }
    if (self->metrics) self->metrics->peerRequest("out", "stale");
    log::info("peer hub lost the cluster's tunnel or went away; trying another",
              {{"cluster", cluster}, {"hub", owners[i].id}});
    retried = true;
    last_error = "hub \"" + owners[i].id + "\" no longer holds its tunnel";
    if (i + 1 < owners.size()) {
      if (self->metaserver) self->metaserver->wantRoutes();
      continue;
    }
    // That was the last owner this hub knew: wait for the table's next version.
    std::string gone = owners[i].id;
    if (!co_await awaitRoutesChange(self, routes_version, std::chrono::milliseconds(1500))) break;
    owners = ownersOf(*self, cluster);
    std::erase_if(owners, [&](const HubRoute& h) { return h.id == gone; });
    i = static_cast<size_t>(-1);  // from the first of the new owners
  }
  Reject r;
  r.code = 503;
  r.message = "cluster \"" + cluster + "\" is unreachable: " + last_error;
  r.keep_alive = keep_alive;
  r.served_cluster = true;
  co_return co_await refuse(s, o.write_timeout, std::move(r), record);
}

}  // namespace

asio::awaitable<bool> UserServer::Impl::handle(std::shared_ptr<Impl> self, SslStream* s,
                                               beast::flat_buffer* buf, Parser* parser,
                                               std::string peer, asio::any_io_executor* served_by) {
  const auto& o = self->options;
  HeaderViews views;
  const RequestHead head = viewHead(*parser, &views);
  RequestRecord record(self->metrics.get(), self->audit.get(), s->get_executor(), peer, head);
  record.served_by = served_by;

  auto token = bearerToken(parser->get()[http::field::authorization]);
  absl::StatusOr<Principal> who = absl::UnauthenticatedError("Unauthorized");
  if (token) who = self->auth->authenticate(*token, unixNow());
  auto targeted = planTarget(head, who, token.has_value());
  if (auto* r = std::get_if<Reject>(&targeted))
    co_return co_await refuse(s, o.write_timeout, std::move(*r), &record);
  const RequestTarget& target = std::get<RequestTarget>(targeted);
  record.identify(*who, target);

  // The facts the policy weighs, each gathered only where it applies.
  PolicyFacts facts;
  if (self->tenant_limiter && target.rate_limited) {
    facts.rate.admitted = self->tenant_limiter->admit(who->tenant, std::chrono::steady_clock::now(),
                                                      &facts.rate.retry_after);
  }
  auto snapshot = self->metaserver ? self->metaserver->snapshot() : nullptr;
  facts.auth = snapshot.get();
  // A tunnel that is going away (its agent moving to another hub) opens no new stream: the
  // cluster is as good as gone from here.
  auto liveTunnel = [&] {
    auto found = self->registry->find(target.route.cluster);
    return found && !found->closing() ? found : nullptr;
  };
  std::shared_ptr<tunnel::Mux> mux = liveTunnel();
  facts.tunnel_here = mux != nullptr;
  facts.host_here = mux && self->registry->isHost(target.route.cluster);
  std::vector<HubRoute> owners;
  if (!mux && self->metaserver) {
    auto routes = self->metaserver->routes();
    auto held = routes->clusters.find(target.route.cluster);
    bool lost_here =
        held != routes->clusters.end() &&
        std::find(held->second.begin(), held->second.end(), self->hub_id) != held->second.end();
    if (lost_here && self->peers && (head.method == "GET" || head.method == "HEAD")) {
      // The table still says the tunnel is here: it just left (an agent moving to another hub,
      // or a tunnel lost). Its next version says where the cluster went.
      co_await awaitRoutesChange(self, self->metaserver->routesVersion(),
                                 std::chrono::milliseconds(1500));
      mux = liveTunnel();
      facts.tunnel_here = mux != nullptr;
      facts.host_here = mux && self->registry->isHost(target.route.cluster);
      routes = self->metaserver->routes();
    }
    if (routes->loaded) {
      auto held = routes->clusters.find(target.route.cluster);
      bool elsewhere = held != routes->clusters.end() &&
                       (held->second.size() > 1 || held->second.front() != self->hub_id);
      facts.elsewhere =
          elsewhere ? PolicyFacts::Elsewhere::kHeld : PolicyFacts::Elsewhere::kNowhere;
    }
    if (self->peers) {
      for (const HubRoute* h : routes->owners(target.route.cluster, self->hub_id))
        owners.push_back(*h);
    }
    facts.peer_route = !owners.empty();
  }
  auto cached = [&]() -> std::optional<cache::CacheDecision> {
    auto cluster_cache = self->cache ? self->cache->find(target.route.cluster) : nullptr;
    if (!cluster_cache) return std::nullopt;
    return cache::decideCachedRead(*cluster_cache, target.info, "GET", target.route.query,
                                   head.accept);
  };
  auto namespaced = [&](const std::string& group, const std::string& resource) {
    return self->registry->namespaced(target.route.cluster, group, resource);
  };

  RequestPlan plan = planRequest(head, *who, target, facts, cached);
  bool replanned = false;
  for (;;) {
    if (auto* r = std::get_if<Reject>(&plan)) {
      if (r->served_cluster) record.cluster = target.route.cluster;
      co_return co_await refuse(s, o.write_timeout, std::move(*r), &record);
    }
    record.cluster = target.route.cluster;
    if (auto* read = std::get_if<ReadReviewBody>(&plan)) {
      std::string body;
      if (head.body_pending &&
          !co_await readSmallBody(s, buf, parser, o.idle_timeout, read->limit, &body)) {
        plan = planReviewBodyUnreadable();
        continue;
      }
      const bool to_peer = read->to_peer;
      snapshot = self->metaserver ? self->metaserver->snapshot() : nullptr;
      plan = planReview(head, *who, target, std::move(body), snapshot.get(), namespaced, to_peer);
    } else if (auto* answer = std::get_if<AnswerReview>(&plan)) {
      std::string answer_head =
          "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " +
          std::to_string(answer->body.size()) + "\r\nX-Kubehub-Served-From: hub\r\n\r\n";
      record.outcome.status = 201;
      co_await tunnel::writeAll(s, o.write_timeout, asio::buffer(answer_head),
                                asio::buffer(answer->body));
      co_return answer->keep_alive;
    } else if (auto* serve = std::get_if<ServeFromCache>(&plan)) {
      TlsClient client(s, o.write_timeout);
      // A read the edge could answer as well may go there while it waits for the cache.
      OpenForward hedge;
      if (!serve->otherwise && mux) {
        hedge = [&]() {
          return sendRead(self->stream_quota.get(), *mux, planForward(head, *who, target), *who);
        };
      }
      CacheServeResult served =
          co_await serveFromCache(&client, mux, std::move(serve->decision), o.cache,
                                  serve->keep_alive, serve->allow_stale, std::move(hedge));
      if (served.kind != CacheServeResult::Kind::kForward) {
        record.outcome.status = served.status;
        record.outcome.served_from = "cache";
        record.outcome.bytes = served.bytes;
        co_return served.kind == CacheServeResult::Kind::kServed && !served.close &&
            serve->keep_alive;
      }
      if (served.hedged) {
        Forward f = std::move(served.hedged->f);
        record.command_parameters = f.command_parameters;
        co_return co_await forwardRequest(self, s, buf, parser, std::move(mux), std::move(f), &*who,
                                          &record, nullptr, served.hedged.get());
      }
      RequestPlan next = serve->otherwise ? RequestPlan(std::move(*serve->otherwise))
                                          : planForward(head, *who, target);
      plan = std::move(next);
    } else if (std::get<Forward>(plan).via == Forward::Via::kPeerHub) {
      record.command_parameters = std::get<Forward>(plan).command_parameters;
      co_return co_await forwardToPeer(self, s, buf, parser, std::move(owners),
                                       std::move(std::get<Forward>(plan)), &*who, &record);
    } else {
      // A read whose tunnel closes (its agent moving to another hub) before anything reached
      // the client is planned once more, with where the routes say the cluster went.
      Forward& f = std::get<Forward>(plan);
      record.command_parameters = f.command_parameters;
      f.written_store = writtenStore(self->cache.get(), target);
      const bool may_replan = !replanned && self->peers && self->metaserver &&
                              (f.head.method == "GET" || f.head.method == "HEAD") &&
                              !f.stream_body && f.body.empty() && !f.upgrade;
      bool stale = false;
      bool* stale_out = may_replan ? &stale : nullptr;
      // Moved, not copied: a second plan is made afresh from the head.
      bool reuse = co_await forwardRequest(self, s, buf, parser, std::move(mux), std::move(f),
                                           &*who, &record, stale_out);
      if (!stale) co_return reuse;
      replanned = true;
      log::info("the cluster's tunnel here closed before it answered; asking where it went",
                {{"cluster", target.route.cluster}});
      uint64_t version = self->metaserver->routesVersion();
      mux = liveTunnel();
      owners = ownersOf(*self, target.route.cluster);
      if (!mux && owners.empty()) {
        co_await awaitRoutesChange(self, version, std::chrono::milliseconds(1500));
        mux = liveTunnel();
        owners = ownersOf(*self, target.route.cluster);
      }
      facts.tunnel_here = mux != nullptr;
      facts.host_here = mux && self->registry->isHost(target.route.cluster);
      facts.peer_route = !owners.empty();
      if (!facts.tunnel_here && !facts.peer_route)
        facts.elsewhere = PolicyFacts::Elsewhere::kNowhere;
      plan = planRequest(head, *who, target, facts, cached);
    }
  }
}

namespace {

/// Counts a connection in the users' connections gauge for as long as it lives.
class ConnectionGauge {
 public:
  explicit ConnectionGauge(HubMetrics* m) : m_(m) {
    if (m_) m_->userConnectionOpened();
  }
  ~ConnectionGauge() {
    if (m_) m_->userConnectionClosed();
  }
  ConnectionGauge(const ConnectionGauge&) = delete;
  ConnectionGauge& operator=(const ConnectionGauge&) = delete;

 private:
  HubMetrics* m_;
};

/// Errors of accept() that mean the process (or system) is out of something, not that one
/// connection failed: descriptors above all.
bool outOfResources(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors || ec.value() == ENFILE ||
         ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
}

}  // namespace

/// A user's connection past its TLS handshake: what moves with it from thread to thread.
struct UserServer::Impl::Connection {
  /// Where the limiter's shedding (from any thread) finds the connection: its stream and the
  /// executor it runs on at that moment.
  struct ShedTarget {
    std::mutex mu;
    beast::tcp_stream* stream = nullptr;
    asio::any_io_executor executor;
  };

  Connection(HubMetrics* metrics, ConnectionLimiter::Slot slot_in)
      : gauge(metrics), slot(std::move(slot_in)) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { aimShedding(false); }

  /// Points the shedding at the stream (on its executor), or at nothing.
  void aimShedding(bool on) {
    std::lock_guard lock(shed->mu);
    shed->stream = on && s ? &beast::get_lowest_layer(*s) : nullptr;
    shed->executor = on && s ? s->get_executor() : asio::any_io_executor();
  }

  /// `slot` is held for the connection's life: its place under the limits is given back when
  /// the connection goes, whichever way it ends.
  ConnectionGauge gauge;
  ConnectionLimiter::Slot slot;
  std::shared_ptr<asio::ssl::context> context;  // kept for the stream's life
  std::unique_ptr<SslStream> s;
  beast::flat_buffer buf;
  std::string peer;
  std::shared_ptr<ShedTarget> shed = std::make_shared<ShedTarget>();
  /// The request being read or served (a parser serves one message: emplaced for each).
  std::optional<Parser> parser;
  /// Its head was read before the connection moved: it is served first where it lands.
  bool pending = false;
};

asio::awaitable<void> UserServer::Impl::session(std::shared_ptr<Impl> self, tcp::socket socket,
                                                ConnectionLimiter::Slot slot) {
  auto c = std::make_unique<Connection>(self->metrics.get(), std::move(slot));
  boost::system::error_code ignored;
  c->peer = endpointString(socket.remote_endpoint(ignored));
  socket.set_option(tcp::no_delay(true), ignored);
  c->context = self->tls->current();
  c->s = std::make_unique<SslStream>(beast::tcp_stream(std::move(socket)), *c->context);
  // While no request is in progress the limiter may shed this connection to make room for a
  // new one: the closing is posted to the connection's executor of the moment, and does nothing
  // once the connection has moved on or is gone.
  c->aimShedding(true);
  c->slot.onShed([target = c->shed] {
    std::lock_guard lock(target->mu);
    if (target->stream == nullptr) return;
    asio::post(target->executor, [target, ex = target->executor] {
      std::lock_guard inner(target->mu);
      if (target->stream != nullptr && target->executor == ex) target->stream->close();
    });
  });
  c->slot.markIdle();
  auto& lowest = beast::get_lowest_layer(*c->s);
  lowest.expires_after(self->options.handshake_timeout);
  auto [hec] = co_await c->s->async_handshake(asio::ssl::stream_base::server, kUseTuple);
  if (hec) {
    log::debug("user TLS handshake failed", {{"peer", c->peer}, {"error", hec.message()}});
    co_return;
  }
  co_await serve(self, std::move(c));
}

asio::awaitable<void> UserServer::Impl::serve(std::shared_ptr<Impl> self,
                                              std::unique_ptr<Connection> c) {
  for (;;) {
    SslStream* s = c->s.get();
    if (!std::exchange(c->pending, false)) {
      auto& lowest = beast::get_lowest_layer(*s);
      Parser* parser = &c->parser.emplace();
      parser->header_limit(static_cast<uint32_t>(self->options.max_header_bytes));
      parser->body_limit(std::numeric_limits<std::uint64_t>::max());
      lowest.expires_after(self->options.idle_timeout);
      c->slot.markIdle();
      auto [ec, n] = co_await http::async_read_header(*s, c->buf, *parser, kUseTuple);
      c->slot.markBusy();
      lowest.expires_never();
      if (ec) {
        if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
            ec != http::error::end_of_stream) {
          int code = ec == http::error::header_limit ? 431 : 400;
          std::string message_8 = "malformed HTTP request: " + ec.message();
          co_await writeStatus(s, self->options.write_timeout, code, message_8, false);
        }
        break;
      }
      // The connection goes to the thread of the tunnel this request uses before it is served:
      // a client sends its next requests to the same cluster, and each then crosses no thread
      // in the hub (a crossing is a wake-up of the other thread each way: ~0.1 ms a request on
      // 2 cores), nor does any byte of a log or watch this request streams. Only between the
      // users' threads; tunnels on threads of their own stay apart. Nothing is in flight on
      // the connection now; the bytes read past the head go with it.
      if (asio::io_context* there = self->homeOf(*parser, *s)) {
        c->pending = true;
        moveConnection(self, std::move(c), there);
        co_return;
      }
    }
    asio::any_io_executor served_by;
    bool keep = co_await handle(self, s, &c->buf, &*c->parser, c->peer, &served_by);
    if (!keep) break;
    // The same after a request that went elsewhere than the cluster's tunnel here (a peer
    // link, a second tunnel).
    asio::io_context* there = served_by ? self->pool.userContextOf(served_by) : nullptr;
    if (there != nullptr && there != self->pool.userContextOf(s->get_executor())) {
      moveConnection(self, std::move(c), there);
      co_return;
    }
  }
  closeSocket(c->s.get());
}

void UserServer::Impl::moveConnection(std::shared_ptr<Impl> self, std::unique_ptr<Connection> c,
                                      asio::io_context* there) {
  if (self->metrics) self->metrics->userConnectionMoved();
  c->aimShedding(false);
  c->s = std::make_unique<SslStream>(std::move(*c->s), there->get_executor());
  c->aimShedding(true);
  auto ex = c->s->get_executor();
  self->tasks.spawn(ex, serve(self, std::move(c)));
}

asio::io_context* UserServer::Impl::homeOf(const Parser& parser, SslStream& s) {
  if (!registry) return nullptr;
  auto target = k8s::parseClusterTarget(parser.get().target());
  if (!target.ok()) return nullptr;
  auto mux = registry->find(target->cluster);
  if (!mux || mux->closing()) return nullptr;
  asio::io_context* there = pool.userContextOf(mux->executor());
  return there != nullptr && there != pool.userContextOf(s.get_executor()) ? there : nullptr;
}

void UserServer::Impl::admit(tcp::socket socket) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  std::string client = ec ? std::string("unknown") : remote.address().to_string();
  ConnectionLimiter::Refusal why;
  bool shed = false;
  auto slot = limiter->tryAcquire(client, &why, &shed);
  if (shed) {
    if (metrics) metrics->userConnectionRefused("idle_shed");
    ++shed_since_log;
    auto now = std::chrono::steady_clock::now();
    if (now >= next_shed_log) {
      log::warn(
          "users' connection limit reached: closing the longest-idle connections to make room "
          "(raise --max-connections if these are legitimate clients)",
          {{"open", limiter->open()},
           {"limit", limiter->maxTotal()},
           {"idle", limiter->idle()},
           {"shed_since_last_report", shed_since_log}});
      shed_since_log = 0;
      next_shed_log = now + std::chrono::seconds(10);
    }
  }
  if (!slot) {
    bool total = why == ConnectionLimiter::Refusal::kTotal;
    if (metrics) metrics->userConnectionRefused(total ? "total" : "per_client");
    ++refused_since_log;
    auto now = std::chrono::steady_clock::now();
    if (now >= next_refusal_log) {
      // Once per 10 s at most: a flood must not become a flood of log lines.
      log::warn(total ? "users' connection limit reached: closing new connections"
                      : "a client reached its connection limit: closing its new connections",
                {{"client", client},
                 {"open", limiter->open()},
                 {"limit", total ? limiter->maxTotal() : limiter->maxPerClient()},
                 {"refused_since_last_report", refused_since_log},
                 {"flag", total ? "--max-connections" : "--max-connections-per-client"}});
      refused_since_log = 0;
      next_refusal_log = now + std::chrono::seconds(10);
    }
    socket.close(ec);
    return;
  }
  size_t open = limiter->open();
  if (open > peak_open.load(std::memory_order_relaxed))
    peak_open.store(open, std::memory_order_relaxed);
  auto ex = socket.get_executor();
  tasks.spawn(ex, session(shared_from_this(), std::move(socket), std::move(*slot)));
}

asio::awaitable<void> UserServer::Impl::releaseMemoryLoop(std::shared_ptr<Impl> self) {
  // Worth a heap walk once this many connections' memory is free, or, once closing has settled
  // (as many open as 5 s ago), the smaller number: a wave of closes that a trim cut in two
  // would otherwise leave its second part's memory with the allocator for good.
  // Agents' tunnels count too (sampled here: they come and go far less often than users'
  // connections), so that the memory of a wave of agents leaving is returned as well.
  constexpr size_t kClosedWorthTrimming = 256;
  constexpr size_t kClosedWorthTrimmingSettled = 32;
  size_t open_before = 0;
  size_t tunnels_before = 0;
  size_t peak_tunnels = 0;
  while (!self->stopped) {
    self->trim_timer.expires_after(std::chrono::seconds(5));
    auto [ec] = co_await self->trim_timer.async_wait(kUseTuple);
    if (ec || self->stopped) co_return;
    size_t open = self->limiter->open();
    size_t peak = self->peak_open.load(std::memory_order_relaxed);
    size_t tunnels = self->registry ? self->registry->size() : 0;
    peak_tunnels = std::max({peak_tunnels, tunnels, tunnels_before});
    bool settled = open == open_before && tunnels == tunnels_before;
    open_before = open;
    tunnels_before = tunnels;
    size_t closed = (peak > open ? peak - open : 0) + (peak_tunnels - tunnels);
    size_t worth = settled ? kClosedWorthTrimmingSettled : kClosedWorthTrimming;
    if (closed >= worth && net::releaseFreedMemory()) {
      log::debug(
          "returned freed connection memory",
          {{"peak", peak}, {"open", open}, {"peak_tunnels", peak_tunnels}, {"tunnels", tunnels}});
      self->peak_open.store(open, std::memory_order_relaxed);
      peak_tunnels = tunnels;
    }
  }
}

asio::awaitable<void> UserServer::Impl::acceptFailed(boost::system::error_code ec) {
  if (outOfResources(ec)) {
    // Keep serving established connections; retry accepting with a growing pause, since
    // spinning on accept() would not free a descriptor.
    accept_backoff = std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(1000),
        std::max<std::chrono::milliseconds>(std::chrono::milliseconds(50), accept_backoff * 2));
    if (metrics) metrics->userConnectionRefused("descriptors");
    auto now = std::chrono::steady_clock::now();
    if (now >= next_refusal_log) {
      log::warn(
          "out of file descriptors: not accepting users' connections for a moment; "
          "established connections are still served (raise the descriptor limit or lower "
          "--max-connections)",
          {{"error", ec.message()},
           {"open_connections", limiter->open()},
           {"pause_ms", accept_backoff.count()}});
      next_refusal_log = now + std::chrono::seconds(10);
    }
  } else {
    accept_backoff = std::chrono::milliseconds(50);
    log::warn("accept failed", {{"listener", "users"}, {"error", ec.message()}});
  }
  asio::steady_timer t(acceptor.get_executor(), accept_backoff);
  co_await t.async_wait(kUseTuple);
}

asio::awaitable<void> UserServer::Impl::acceptLoop(std::shared_ptr<Impl> self) {
  // The socket for the next connection: its context is taken round robin only once a
  // connection came into it, so connections alternate over the users' threads.
  auto make = [&self] { return tcp::socket(self->pool.next()); };
  tcp::socket spare = make();
  for (;;) {
    auto [ec] = co_await self->acceptor.async_accept(spare, kUseTuple);
    if (self->stopped) co_return;
    if (ec) {
      co_await self->acceptFailed(ec);
      continue;
    }
    self->accept_backoff = std::chrono::milliseconds(0);
    tcp::socket socket = std::move(spare);
    spare = make();
    self->admit(std::move(socket));
    net::acceptQueued(self->acceptor, kAcceptBurst, spare, make,
                      [&](tcp::socket more) { self->admit(std::move(more)); });
  }
}

UserServer::UserServer(net::IoPool& pool, std::shared_ptr<net::TlsSource> tls,
                       UserServerOptions options, UserServerDeps deps)
    : impl_(std::make_shared<Impl>(pool, std::move(tls), options, std::move(deps))) {}

UserServer::UserServer(net::IoPool& pool, std::shared_ptr<asio::ssl::context> tls,
                       UserServerOptions options, UserServerDeps deps)
    : UserServer(pool, net::TlsSource::fixed("users", std::move(tls)), options, std::move(deps)) {}

UserServer::~UserServer() { stop(); }

absl::StatusOr<net::HostPort> UserServer::start(const net::HostPort& address) {
  auto bound = net::openListener(impl_->acceptor, address);
  if (!bound.ok()) return bound.status();
  impl_->tasks.spawn(impl_->acceptor.get_executor(), Impl::acceptLoop(impl_));
  impl_->tasks.spawn(impl_->acceptor.get_executor(), Impl::releaseMemoryLoop(impl_));
  return bound;
}

void UserServer::stop() {
  if (!impl_) return;
  stopAccepting();
  impl_->tasks.stop();
}

void UserServer::stopAccepting() {
  if (!impl_) return;
  asio::post(impl_->acceptor.get_executor(), [impl = impl_] {
    impl->stopped = true;
    boost::system::error_code ec;
    impl->acceptor.close(ec);
    impl->trim_timer.cancel();
  });
}

bool UserServer::waitStopped(std::chrono::milliseconds timeout) const {
  return impl_->tasks.wait(timeout);
}

}  // namespace kubehub::hub
