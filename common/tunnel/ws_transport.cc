#include "common/tunnel/ws_transport.h"

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "common/log/log.h"
#include "common/net/listener.h"
#include "common/net/task_group.h"
#include "common/net/tls.h"
#include "common/net/tls_stream.h"

namespace kubehub::tunnel {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
/// TlsStream, not beast::ssl_stream: an idle tunnel holds no record buffers, a busy one moves
/// many records per syscall.
using WsStream = websocket::stream<net::TlsStream>;

namespace {

using namespace asio::experimental::awaitable_operators;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
/// TLS handshakes (and upgrades) in progress at once; beyond, the accept loop waits for a slot.
/// In a reconnect storm, thousands of concurrent handshakes made each one, and every user
/// request on the same threads, wait behind all the others (a user's GET took seconds). A
/// connection takes a slot only once it has sent something (a silent one holds none), and the
/// loop waits at most kMaxSlotWait for a slot, then accepts anyway: peers that stall mid-handshake
/// slow agents' admission down, they cannot stop it. Handshakes also run on a low-priority
/// executor (net::LowPriorityExecutor): each of their steps waits for the work already ready on
/// its thread, so a user's request or a tunnel's frame waits for at most one handshake step, not
/// for all of them (a user's GET during a 10,000-agent storm: p99 0.8-3.9 s before, ~0.1 s after).
constexpr int kMaxHandshakes = 256;
constexpr auto kMaxSlotWait = std::chrono::milliseconds(50);
constexpr auto kSlotPoll = std::chrono::milliseconds(2);
constexpr size_t kClientMaskBufferBytes = 64 * 1024 - 14;

class WsTransport final : public Transport {
 public:
  WsTransport(std::unique_ptr<WsStream> ws, std::string peer)
      : ws_(std::move(ws)), peer_(std::move(peer)) {
    ws_->binary(true);
    ws_->auto_fragment(false);
    ws_->read_message_max(1 << 20);
    // A client masks what it sends through a buffer of this size, and each buffer's worth is one
    // TLS write (one syscall): Beast's 4 KiB default means a record and a syscall per 4 KiB; four
    // TLS records (64 KiB) less the largest frame header fill whole records. Servers (the hub)
    // write unmasked and allocate no such buffer.
    ws_->write_buffer_bytes(kClientMaskBufferBytes);
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_->set_option(t);
  }

  asio::any_io_executor executor() override { return ws_->get_executor(); }

  asio::awaitable<boost::system::error_code> read() override {
    buffer_.clear();
    auto [ec, n] = co_await ws_->async_read(buffer_, kUseTuple);
    if (!ec && !ws_->got_binary()) ec = websocket::error::bad_data_frame;
    if (read_deadline_armed_) {
      beast::get_lowest_layer(*ws_).expires_never();
      read_deadline_armed_ = false;
    }
    co_return ec;
  }

  std::string_view message() const override {
    auto data = buffer_.cdata();
    return std::string_view(static_cast<const char*>(data.data()), data.size());
  }

  asio::awaitable<boost::system::error_code> write(std::string_view message) override {
    auto [ec, n] =
        co_await ws_->async_write(asio::buffer(message.data(), message.size()), kUseTuple);
    co_return ec;
  }

  asio::awaitable<boost::system::error_code> writeBatch(
      const std::vector<std::string>& parts) override {
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(parts.size());
    for (const auto& p : parts) buffers.push_back(asio::buffer(p));
    auto [ec, n] = co_await ws_->async_write(buffers, kUseTuple);
    co_return ec;
  }

  void setReadDeadline(std::chrono::milliseconds timeout) override {
    if (timeout.count() > 0) {
      beast::get_lowest_layer(*ws_).expires_after(timeout);
      read_deadline_armed_ = true;
    } else {
      beast::get_lowest_layer(*ws_).expires_never();
      read_deadline_armed_ = false;
    }
    // Without a deadline (the tunnel is up: pings and the idle timeout watch the peer), an idle
    // read holds no buffer: 4 KiB less per idle tunnel.
    ws_->next_layer().setWaitUnbufferedWhenIdle(timeout.count() == 0);
  }

  void setIdleTimeout(std::chrono::milliseconds timeout) override {
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(5);
    t.idle_timeout = timeout;
    t.keep_alive_pings = false;
    ws_->set_option(t);
  }

  void setMaxMessage(size_t bytes) override { ws_->read_message_max(bytes); }

  asio::awaitable<void> close(std::string_view reason) override {
    if (!ws_->is_open()) co_return;
    websocket::close_reason cr(websocket::close_code::normal);
    cr.reason = std::string(reason.substr(0, 120));
    auto [ec] = co_await ws_->async_close(cr, kUseTuple);
    (void)ec;
  }

  void abort() override {
    boost::system::error_code ec;
    beast::get_lowest_layer(*ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(*ws_).close();
  }

  const std::string& peerAddress() const override { return peer_; }

 private:
  std::unique_ptr<WsStream> ws_;
  std::string peer_;
  beast::flat_buffer buffer_;
  bool read_deadline_armed_ = false;
};

std::string endpointString(const tcp::endpoint& ep) {
  std::string addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}

bool offersSubprotocol(std::string_view header, std::string_view wanted) {
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t end = header.find(',', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view token = header.substr(pos, end - pos);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (token == wanted) return true;
    pos = end + 1;
  }
  return false;
}

}  // namespace

namespace {

/// TCP, TLS, WebSocket upgrade to `endpoint`. With `hub_id` empty the server's certificate must
/// name url.host (agents dial hubs by name); otherwise it must be hub `hub_id`'s.
asio::awaitable<absl::StatusOr<std::unique_ptr<Transport>>> dialEndpoint(
    asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls, net::Url url,
    std::chrono::milliseconds timeout, Endpoint endpoint, std::string hub_id,
    auth::CertificateIdentity* hub_certificate) {
  std::string where = "wss://" + url.host + ":" + std::to_string(url.port);
  tcp::resolver resolver(executor);
  auto [rec, results] =
      co_await resolver.async_resolve(url.host, std::to_string(url.port), kUseTuple);
  if (rec) co_return absl::UnavailableError("resolve " + where + ": " + rec.message());

  auto ws = std::make_unique<WsStream>(executor, *tls);
  auto& lowest = beast::get_lowest_layer(*ws);
  lowest.expires_after(timeout);
  auto [cec, ep] = co_await lowest.async_connect(results, kUseTuple);
  if (cec) co_return absl::UnavailableError("connect " + where + ": " + cec.message());
  boost::system::error_code ignored;
  lowest.socket().set_option(tcp::no_delay(true), ignored);

  auto& ssl_stream = ws->next_layer();
  if (!ssl_stream.setServerName(url.host)) {
    co_return absl::InternalError("cannot set TLS server name");
  }
  if (hub_id.empty() && !ssl_stream.verifyHostName(url.host)) {
    co_return absl::InternalError("cannot check the TLS server name " + url.host);
  }
  auto [hec] = co_await ssl_stream.async_handshake(asio::ssl::stream_base::client, kUseTuple);
  if (hec) {
    std::string detail = hec.message();
    long verify = SSL_get_verify_result(ssl_stream.native_handle());
    if (verify != X509_V_OK)
      detail += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    co_return absl::UnavailableError("TLS handshake with " + where + ": " + detail);
  }
  {
    X509* cert = SSL_get1_peer_certificate(ssl_stream.native_handle());
    auth::CertificateIdentity identity = auth::certificateIdentity(cert);
    if (cert != nullptr) X509_free(cert);
    if (!hub_id.empty()) {
      auto named = auth::hubIdOf(identity);
      if (named != hub_id) {
        co_return absl::PermissionDeniedError(
            "peer at " + where + " is not hub \"" + hub_id + "\": " +
            (named ? "its certificate names hub \"" + *named + "\""
                   : "its certificate (CN \"" + identity.common_name +
                         "\") is not a hub's serving certificate"));
      }
    }
    if (hub_certificate != nullptr) *hub_certificate = std::move(identity);
  }

  const char* subprotocol = endpoint.subprotocol;
  ws->set_option(websocket::stream_base::decorator([subprotocol](websocket::request_type& req) {
    req.set(http::field::sec_websocket_protocol, subprotocol);
    req.set(http::field::user_agent, "kubehub");
  }));
  websocket::response_type res;
  std::string path = url.path.empty() ? endpoint.path : url.path;
  auto [wec] = co_await ws->async_handshake(res, url.host, path, kUseTuple);
  if (wec) {
    std::string detail = wec.message();
    if (res.result_int() != 0 && res.result_int() != 101) {
      detail = "hub answered HTTP " + std::to_string(res.result_int()) + ": " +
               std::string(res.body().substr(0, 200));
    }
    co_return absl::UnavailableError("WebSocket upgrade at " + where + path + ": " + detail);
  }
  if (res[http::field::sec_websocket_protocol] != subprotocol) {
    co_return absl::FailedPreconditionError("hub at " + where + " does not speak " +
                                            std::string(subprotocol));
  }
  lowest.expires_never();
  std::string peer = endpointString(ep);
  co_return std::unique_ptr<Transport>(std::make_unique<WsTransport>(std::move(ws), peer));
}

}  // namespace

asio::awaitable<absl::StatusOr<std::unique_ptr<Transport>>> dialTunnel(
    asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls, net::Url url,
    std::chrono::milliseconds timeout, auth::CertificateIdentity* hub_certificate) {
  co_return co_await dialEndpoint(std::move(executor), std::move(tls), std::move(url), timeout,
                                  Endpoint{}, std::string(), hub_certificate);
}

asio::awaitable<absl::StatusOr<std::unique_ptr<Transport>>> dialPeer(
    asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls, net::Url url,
    std::string hub_id, std::chrono::milliseconds timeout) {
  co_return co_await dialEndpoint(std::move(executor), std::move(tls), std::move(url), timeout,
                                  kPeerEndpoint, std::move(hub_id), nullptr);
}

struct TunnelListener::Impl : std::enable_shared_from_this<TunnelListener::Impl> {
  Impl(net::IoPool& pool_in, std::shared_ptr<net::TlsSource> tls_in, Handler handler_in,
       std::chrono::milliseconds timeout_in, Endpoint endpoint_in)
      : pool(pool_in),
        tls(std::move(tls_in)),
        handler(std::move(handler_in)),
        handshake_timeout(timeout_in),
        endpoint(endpoint_in),
        acceptor(asio::make_strand(pool_in.main())) {}

  static asio::awaitable<void> acceptLoop(std::shared_ptr<Impl> self);
  static asio::awaitable<void> handshake(std::shared_ptr<Impl> self, tcp::socket socket);

  net::IoPool& pool;
  std::shared_ptr<net::TlsSource> tls;
  Handler handler;
  std::chrono::milliseconds handshake_timeout;
  Endpoint endpoint;
  tcp::acceptor acceptor;
  bool stopped = false;
  std::atomic<int> handshaking{0};
  /// The accept loop and the handshakes in progress (a session handed to `handler` is its own).
  net::TaskGroup tasks{"tunnel listener"};
};

asio::awaitable<void> TunnelListener::Impl::acceptLoop(std::shared_ptr<Impl> self) {
  auto next_log = std::chrono::steady_clock::time_point{};
  // The socket for the next tunnel: its context is taken round robin only once a connection came
  // into it, so tunnels alternate over the threads.
  auto make = [&self] { return tcp::socket(asio::make_strand(self->pool.nextTunnel())); };
  tcp::socket spare = make();
  for (;;) {
    for (auto waited = std::chrono::milliseconds(0);
         self->handshaking.load() >= kMaxHandshakes && waited < kMaxSlotWait && !self->stopped;
         waited += kSlotPoll) {
      asio::steady_timer t(self->acceptor.get_executor(), kSlotPoll);
      co_await t.async_wait(kUseTuple);
    }
    auto [ec] = co_await self->acceptor.async_accept(spare, kUseTuple);
    if (self->stopped) co_return;
    if (ec) {
      // At most one line per 10 s: while descriptors are exhausted this fails ten times a second.
      if (auto now = std::chrono::steady_clock::now(); now >= next_log) {
        log::warn("tunnel accept failed; established tunnels are still served",
                  {{"error", ec.message()}});
        next_log = now + std::chrono::seconds(10);
      }
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
        // Out of file descriptors: pause instead of spinning.
        asio::steady_timer t(self->acceptor.get_executor(), std::chrono::milliseconds(100));
        co_await t.async_wait(kUseTuple);
      }
      continue;
    }
    // The handshake runs at low priority on the socket's context; the session it hands the
    // transport to runs on the socket's own executor.
    auto spawn_handshake = [&self](tcp::socket s) {
      auto& context = asio::query(s.get_executor(), asio::execution::context);
      self->tasks.spawn(self->pool.lowPriority(context), handshake(self, std::move(s)));
    };
    tcp::socket socket = std::move(spare);
    spare = make();
    spawn_handshake(std::move(socket));
    net::acceptQueued(self->acceptor, kMaxHandshakes - self->handshaking.load(), spare, make,
                      spawn_handshake);
  }
}

asio::awaitable<void> TunnelListener::Impl::handshake(std::shared_ptr<Impl> self,
                                                      tcp::socket socket) {
  {
    asio::steady_timer deadline(socket.get_executor(), self->handshake_timeout);
    auto first = co_await (socket.async_wait(tcp::socket::wait_read, kUseTuple) ||
                           deadline.async_wait(kUseTuple));
    if (first.index() == 1) co_return;  // silent until the deadline
    auto [wait_ec] = std::get<0>(first);
    if (wait_ec) co_return;
  }
  self->handshaking.fetch_add(1);
  struct Slot {
    std::atomic<int>* handshaking;
    ~Slot() { handshaking->fetch_sub(1); }
  } slot{&self->handshaking};
  boost::system::error_code ignored;
  std::string peer = endpointString(socket.remote_endpoint(ignored));
  socket.set_option(tcp::no_delay(true), ignored);
  // The SSL object holds its own reference on the context: a rotation while this connection
  // lives does not touch it.
  std::shared_ptr<asio::ssl::context> context = self->tls->current();
  auto ws = std::make_unique<WsStream>(beast::tcp_stream(std::move(socket)), *context);
  auto& lowest = beast::get_lowest_layer(*ws);
  lowest.expires_after(self->handshake_timeout);
  auto [hec] = co_await ws->next_layer().async_handshake(asio::ssl::stream_base::server, kUseTuple);
  if (hec) {
    std::string detail = hec.message();
    long verify = SSL_get_verify_result(ws->next_layer().native_handle());
    if (verify != X509_V_OK)
      detail += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    log::info(std::string(self->endpoint.who) + " TLS handshake refused",
              {{"peer", peer}, {"reason", detail}});
    co_return;
  }
  X509* cert = SSL_get1_peer_certificate(ws->next_layer().native_handle());
  auth::CertificateIdentity identity = auth::certificateIdentity(cert);
  if (cert != nullptr) X509_free(cert);
  std::string cn = identity.common_name;
  if (cn.empty()) {
    log::info(std::string(self->endpoint.who) + " refused: client certificate has no common name",
              {{"peer", peer}});
    co_return;
  }

  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(0);
  auto [rec, n] = co_await http::async_read(ws->next_layer(), buffer, parser, kUseTuple);
  if (rec) {
    log::info(std::string(self->endpoint.who) + " connection closed before upgrade",
              {{"peer", peer}, {"error", rec.message()}});
    co_return;
  }
  req = parser.release();
  auto reject = [&](http::status status, std::string body) {
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::content_type, "text/plain");
    res.set(http::field::connection, "close");
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  };
  std::optional<http::response<http::string_body>> refusal;
  const Endpoint& endpoint = self->endpoint;
  if (req.target() != endpoint.path) {
    refusal =
        reject(http::status::not_found, "this endpoint is " + std::string(endpoint.path) + "\n");
  } else if (!websocket::is_upgrade(req)) {
    refusal = reject(http::status::bad_request, "expected a WebSocket upgrade\n");
  } else if (!offersSubprotocol(req[http::field::sec_websocket_protocol], endpoint.subprotocol)) {
    refusal = reject(
        http::status::bad_request,
        std::string("unsupported protocol; this endpoint speaks ") + endpoint.subprotocol + "\n");
  }
  if (refusal) {
    log::info(std::string(endpoint.who) + " upgrade refused",
              {{"peer", peer}, {"common_name", cn}, {"status", refusal->result_int()}});
    co_await http::async_write(ws->next_layer(), *refusal, kUseTuple);
    co_return;
  }
  const char* subprotocol = endpoint.subprotocol;
  ws->set_option(websocket::stream_base::decorator([subprotocol](websocket::response_type& res) {
    res.set(http::field::sec_websocket_protocol, subprotocol);
    res.set(http::field::server, "kubehub-hub");
  }));
  auto [aec] = co_await ws->async_accept(req, kUseTuple);
  if (aec) {
    log::info(std::string(endpoint.who) + " WebSocket accept failed",
              {{"peer", peer}, {"error", aec.message()}});
    co_return;
  }
  lowest.expires_never();
  self->handler(std::make_unique<WsTransport>(std::move(ws), peer),
                TunnelPeer{cn, peer, std::move(identity)});
}

TunnelListener::TunnelListener(net::IoPool& pool, std::shared_ptr<net::TlsSource> tls,
                               Handler handler, std::chrono::milliseconds handshake_timeout,
                               Endpoint endpoint)
    : impl_(std::make_shared<Impl>(pool, std::move(tls), std::move(handler), handshake_timeout,
                                   endpoint)) {}

TunnelListener::TunnelListener(net::IoPool& pool, std::shared_ptr<asio::ssl::context> tls,
                               Handler handler, std::chrono::milliseconds handshake_timeout,
                               Endpoint endpoint)
    : TunnelListener(pool, net::TlsSource::fixed(endpoint.who, std::move(tls)), std::move(handler),
                     handshake_timeout, endpoint) {}

TunnelListener::~TunnelListener() { stop(); }

int TunnelListener::handshakesInProgress() const { return impl_->handshaking.load(); }

absl::StatusOr<net::HostPort> TunnelListener::start(const net::HostPort& address) {
  auto bound = net::openListener(impl_->acceptor, address);
  if (!bound.ok()) return bound.status();
  impl_->tasks.spawn(impl_->acceptor.get_executor(), Impl::acceptLoop(impl_));
  return bound;
}

void TunnelListener::stop() {
  if (!impl_) return;
  impl_->tasks.stop();  // handshakes in progress end; established tunnels are their owners'
  asio::post(impl_->acceptor.get_executor(), [impl = impl_] {
    impl->stopped = true;
    boost::system::error_code ec;
    impl->acceptor.close(ec);
  });
}

}  // namespace kubehub::tunnel
