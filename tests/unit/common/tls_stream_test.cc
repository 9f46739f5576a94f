// TlsStream: mutual-TLS handshakes, bulk and small transfers both ways at once (every byte
// checked), the peer closing, WebSocket over it, Asio's ssl::stream on the other side, timeouts.

#include "common/net/tls_stream.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/auth/csr.h"
#include "common/net/tls.h"
#include "metaserver/ca/certificate_authority.h"
#include "tests/unit/common/tls_pair.h"

namespace kubehub::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using SslStream = beast::ssl_stream<beast::tcp_stream>;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kClient = asio::ssl::stream_base::client;
constexpr auto kServer = asio::ssl::stream_base::server;
using testing_tls::clientContext;
using testing_tls::pki;
using testing_tls::serverContext;
using testing_tls::socketPair;

template <class T>
std::future<T> spawn(asio::io_context& io, asio::awaitable<T> task) {
  return asio::co_spawn(io, std::move(task), asio::use_future);
}

/// Runs until every task is done (or a deadline: a hang fails instead of blocking the suite).
void runAll(asio::io_context& io) { io.run_for(std::chrono::seconds(90)); }

template <class T>
T result(std::future<T>& f) {
  if (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    ADD_FAILURE() << "task did not finish";
    return T{};
  }
  return f.get();
}

template <class Stream>
asio::awaitable<error_code> handshake(Stream* s, asio::ssl::stream_base::handshake_type type) {
  auto [ec] = co_await s->async_handshake(type, kUseTuple);
  co_return ec;
}

template <class Stream>
asio::awaitable<error_code> shutdown(Stream* s) {
  auto [ec] = co_await s->async_shutdown(kUseTuple);
  co_return ec;
}

/// The byte at `offset` of a stream seeded with `seed`.
uint8_t patternByte(uint32_t seed, size_t offset) {
  uint64_t x = (offset / 8) * 0x9E3779B97F4A7C15ull + seed;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 32;
  return static_cast<uint8_t>(x >> (8 * (offset % 8)));
}

/// Writes `total` pattern bytes in writes of 1..max_chunk bytes.
template <class Stream>
asio::awaitable<error_code> sendPattern(Stream* s, size_t total, uint32_t seed, size_t max_chunk) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> chunk;
  for (size_t sent = 0; sent < total;) {
    size_t n = std::min(total - sent, std::uniform_int_distribution<size_t>(1, max_chunk)(rng));
    chunk.resize(n);
    for (size_t i = 0; i < n; ++i) chunk[i] = patternByte(seed, sent + i);
    auto [ec, written] = co_await asio::async_write(*s, asio::buffer(chunk), kUseTuple);
    if (ec) co_return ec;
    sent += written;
  }
  co_return error_code{};
}

/// Reads `total` bytes with reads of 1..max_read bytes; "" when every one matched.
template <class Stream>
asio::awaitable<std::string> receivePattern(Stream* s, size_t total, uint32_t seed,
                                            size_t max_read) {
  std::mt19937 rng(seed * 7 + 1);
  std::vector<uint8_t> buf(max_read);
  for (size_t got = 0; got < total;) {
    size_t want = std::min(total - got, std::uniform_int_distribution<size_t>(1, max_read)(rng));
    auto [ec, n] = co_await s->async_read_some(asio::buffer(buf.data(), want), kUseTuple);
    if (ec) co_return "read failed at " + std::to_string(got) + ": " + ec.message();
    for (size_t i = 0; i < n; ++i) {
      if (buf[i] != patternByte(seed, got + i)) {
        co_return "mismatch at byte " + std::to_string(got + i);
      }
    }
    got += n;
  }
  co_return std::string();
}

/// Reads until an error; returns it and the count read before it.
template <class Stream>
asio::awaitable<std::pair<error_code, size_t>> readToError(Stream* s) {
  std::vector<char> buf(64 * 1024);
  size_t total = 0;
  for (;;) {
    auto [ec, n] = co_await s->async_read_some(asio::buffer(buf), kUseTuple);
    total += n;
    if (ec) co_return std::make_pair(ec, total);
  }
}

/// A client handshake, then reads until an error: the error of whichever failed.
asio::awaitable<error_code> handshakeThenRead(TlsStream* s) {
  auto [ec] = co_await s->async_handshake(kClient, kUseTuple);
  if (ec) co_return ec;
  auto [rec, n] = co_await readToError(s);
  co_return rec;
}

/// Reads until an error, then shuts down: both errors.
asio::awaitable<std::pair<error_code, error_code>> readThenShutdown(TlsStream* s) {
  auto [rec, n] = co_await readToError(s);
  auto [sec] = co_await s->async_shutdown(kUseTuple);
  co_return std::make_pair(rec, sec);
}

template <class Stream>
asio::awaitable<error_code> writeToError(Stream* s) {
  std::vector<char> buf(256 * 1024, 'x');
  for (;;) {
    auto [ec, n] = co_await asio::async_write(*s, asio::buffer(buf), kUseTuple);
    if (ec) co_return ec;
  }
}

/// A connected pair, handshaken by handshakeBoth() (tests/unit/common/tls_pair.h).
using Pair = testing_tls::TlsPair;

TEST(TlsStream, MutualHandshakeChecksBothCertificates) {
  Pair p;
  p.handshakeBoth();
  X509* peer = SSL_get1_peer_certificate(p.server->native_handle());
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(certificateCommonName(peer), "cluster-a");
  X509_free(peer);
  peer = SSL_get1_peer_certificate(p.client->native_handle());
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(certificateCommonName(peer), "hub-test");
  X509_free(peer);
  const char* sni = SSL_get_servername(p.server->native_handle(), TLSEXT_NAMETYPE_host_name);
  ASSERT_NE(sni, nullptr);
  EXPECT_STREQ(sni, "hub.test");
}

TEST(TlsStream, HandshakeFailsOnAnotherHostNameAndBothSidesReturn) {
  Pair p;
  ASSERT_TRUE(p.client->verifyHostName("other.test"));
  auto c = spawn(p.io, handshake(p.client.get(), kClient));
  auto s = spawn(p.io, handshake(p.server.get(), kServer));
  runAll(p.io);
  EXPECT_TRUE(result(c));
  EXPECT_EQ(SSL_get_verify_result(p.client->native_handle()), X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_TRUE(result(s));  // the client's alert, not a hang
}

TEST(TlsStream, HandshakeFailsWithoutClientCertificate) {
  asio::io_context io;
  auto server_ctx = serverContext();
  auto client_ctx = clientContext(false);
  auto [c, s] = socketPair(io);
  TlsStream client(beast::tcp_stream(std::move(c)), *client_ctx);
  TlsStream server(beast::tcp_stream(std::move(s)), *server_ctx);
  // TLS 1.3: the client finishes before the server judges its (missing) certificate; its next
  // read sees the alert.
  auto cf = spawn(io, handshakeThenRead(&client));
  auto sf = spawn(io, handshake(&server, kServer));
  runAll(io);
  EXPECT_TRUE(result(sf));
  EXPECT_TRUE(result(cf));
}

TEST(TlsStream, LargeTransfersBothWaysAtOnce) {
  Pair p;
  p.handshakeBoth();
  constexpr size_t kBytes = 64 << 20;
  auto cs = spawn(p.io, sendPattern(p.client.get(), kBytes, 1, 300 * 1024));
  auto sr = spawn(p.io, receivePattern(p.server.get(), kBytes, 1, 200 * 1024));
  auto ss = spawn(p.io, sendPattern(p.server.get(), kBytes, 2, 1 << 20));
  auto cr = spawn(p.io, receivePattern(p.client.get(), kBytes, 2, 64 * 1024));
  runAll(p.io);
  EXPECT_FALSE(result(cs));
  EXPECT_FALSE(result(ss));
  EXPECT_EQ(result(sr), "");
  EXPECT_EQ(result(cr), "");
  // Drained: nothing held but what an idle read needs.
  EXPECT_LE(p.client->heldBufferBytes(), TlsStream::kMaxReadBytes);
  p.io.restart();
  std::vector<char> buf(100);
  bool idle_read_done = false;
  p.client->async_read_some(asio::buffer(buf), [&](error_code, size_t) { idle_read_done = true; });
  EXPECT_FALSE(idle_read_done);  // never completes inside the initiating call
  p.io.poll();
  EXPECT_FALSE(idle_read_done);
  EXPECT_LE(p.client->heldBufferBytes(), TlsStream::kIdleReadBytes);
  p.client->next_layer().close();
  p.io.run_for(std::chrono::seconds(10));
  EXPECT_TRUE(idle_read_done);
}

TEST(TlsStream, IdleReadWithoutBufferWhenAsked) {
  Pair p;
  p.handshakeBoth();
  p.client->setWaitUnbufferedWhenIdle(true);
  p.server->setWaitUnbufferedWhenIdle(true);
  constexpr size_t kBytes = 8 << 20;
  auto cs = spawn(p.io, sendPattern(p.client.get(), kBytes, 5, 100 * 1024));
  auto sr = spawn(p.io, receivePattern(p.server.get(), kBytes, 5, 40 * 1024));
  runAll(p.io);
  EXPECT_FALSE(result(cs));
  EXPECT_EQ(result(sr), "");
  p.io.restart();

  // An idle read holds no buffer at all, and still gets what arrives later.
  std::vector<char> buf(100);
  size_t got = 0;
  error_code read_ec;
  bool read_done = false;
  p.server->async_read_some(asio::buffer(buf), [&](error_code ec, size_t n) {
    read_ec = ec;
    got = n;
    read_done = true;
  });
  p.io.poll();
  EXPECT_FALSE(read_done);
  EXPECT_EQ(p.server->heldBufferBytes(), 0u);
  auto late = spawn(p.io, sendPattern(p.client.get(), 60, 6, 60));
  p.io.run_for(std::chrono::seconds(10));
  ASSERT_TRUE(read_done);
  EXPECT_FALSE(read_ec) << read_ec.message();
  ASSERT_EQ(got, 60u);
  for (size_t i = 0; i < got; ++i) ASSERT_EQ(static_cast<uint8_t>(buf[i]), patternByte(6, i));
  EXPECT_FALSE(result(late));

  // A peer that closes ends the wait with an error (a reset here: the client leaves unread
  // session tickets behind).
  p.io.restart();
  read_done = false;
  p.server->async_read_some(asio::buffer(buf), [&](error_code ec, size_t) {
    read_ec = ec;
    read_done = true;
  });
  p.io.poll();
  EXPECT_FALSE(read_done);
  p.client->next_layer().close();
  p.io.run_for(std::chrono::seconds(10));
  EXPECT_TRUE(read_done);
  EXPECT_TRUE(read_ec);
}

TEST(TlsStream, ManySmallMessages) {
  Pair p;
  p.handshakeBoth();
  constexpr size_t kBytes = 2 << 20;
  auto cs = spawn(p.io, sendPattern(p.client.get(), kBytes, 3, 200));
  auto sr = spawn(p.io, receivePattern(p.server.get(), kBytes, 3, 300));
  auto ss = spawn(p.io, sendPattern(p.server.get(), kBytes, 4, 50));
  auto cr = spawn(p.io, receivePattern(p.client.get(), kBytes, 4, 16 * 1024));
  runAll(p.io);
  EXPECT_FALSE(result(cs));
  EXPECT_FALSE(result(ss));
  EXPECT_EQ(result(sr), "");
  EXPECT_EQ(result(cr), "");
}

// Servers offer no resumption: a resumed session would skip the client-certificate checks
// against a rotated CA. TLS 1.3 tickets arrive after the handshake, with the first records the
// client reads: once it has read some, its session is still not one it could resume.
TEST(TlsStream, ServersSendNoSessionTicket) {
  Pair p;
  p.handshakeBoth();
  auto ss = spawn(p.io, sendPattern(p.server.get(), 4096, 5, 4096));
  auto cr = spawn(p.io, receivePattern(p.client.get(), 4096, 5, 4096));
  runAll(p.io);
  ASSERT_FALSE(result(ss));
  ASSERT_EQ(result(cr), "");
  SSL* client = p.client->native_handle();
  EXPECT_STREQ(SSL_get_version(client), "TLSv1.3");
  SSL_SESSION* session = SSL_get_session(client);
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(SSL_SESSION_is_resumable(session), 0);
}

/// Reads pattern bytes [from, to) of `seed`; "" when every one matched.
asio::awaitable<std::string> receivePatternRange(TlsStream* s, size_t from, size_t to,
                                                 uint32_t seed) {
  std::vector<uint8_t> buf(16 * 1024);
  for (size_t at = from; at < to;) {
    size_t want = std::min(to - at, buf.size());
    auto [ec, n] = co_await s->async_read_some(asio::buffer(buf.data(), want), kUseTuple);
    if (ec) co_return "read failed at " + std::to_string(at) + ": " + ec.message();
    for (size_t i = 0; i < n; ++i) {
      if (buf[i] != patternByte(seed, at + i)) co_return "mismatch at " + std::to_string(at + i);
    }
    at += n;
  }
  co_return std::string();
}

// A connection moves to another context (the hub moves a user's connection to its tunnel's
// thread) with its TLS session and the bytes it had received and not yet read.
TEST(TlsStream, MovesToAnotherContextWithItsSession) {
  Pair p;
  p.handshakeBoth();
  constexpr size_t kFirst = 300 * 1024;
  auto cs = spawn(p.io, sendPattern(p.client.get(), kFirst, 11, 64 * 1024));
  auto sr = spawn(p.io, receivePatternRange(p.server.get(), 0, 100 * 1024, 11));
  runAll(p.io);
  p.io.restart();
  ASSERT_FALSE(result(cs));
  ASSERT_EQ(result(sr), "");

  asio::io_context other;
  auto moved = std::make_unique<TlsStream>(std::move(*p.server), other.get_executor());
  p.server.reset();
  EXPECT_TRUE(moved->get_executor() == asio::any_io_executor(other.get_executor()));
  // Served by the other context on a thread of its own: the rest of the first message, and a
  // second one back.
  auto rest = spawn(other, receivePatternRange(moved.get(), 100 * 1024, kFirst, 11));
  auto back = spawn(other, sendPattern(moved.get(), 1 << 20, 12, 64 * 1024));
  auto there = spawn(p.io, receivePattern(p.client.get(), 1 << 20, 12, 32 * 1024));
  std::thread runner([&] { runAll(other); });
  runAll(p.io);
  runner.join();
  EXPECT_EQ(result(rest), "");
  EXPECT_FALSE(result(back));
  EXPECT_EQ(result(there), "");
}

TEST(TlsStream, PeerClosingMidStreamIsTruncationNotAHang) {
  Pair p;
  p.handshakeBoth();
  auto ss = spawn(p.io, sendPattern(p.server.get(), 1 << 20, 5, 64 * 1024));
  runAll(p.io);
  p.io.restart();
  EXPECT_FALSE(result(ss));
  p.server->next_layer().socket().shutdown(tcp::socket::shutdown_both);
  p.server->next_layer().close();
  auto cr = spawn(p.io, readToError(p.client.get()));
  runAll(p.io);
  p.io.restart();
  auto [ec, n] = result(cr);
  EXPECT_EQ(n, size_t{1} << 20);
  EXPECT_EQ(ec, asio::ssl::error::stream_truncated) << ec.message();
  auto cw = spawn(p.io, writeToError(p.client.get()));
  runAll(p.io);
  EXPECT_TRUE(result(cw));
}

TEST(TlsStream, ShutdownReadsAsEofAtThePeer) {
  Pair p;
  p.handshakeBoth();
  auto sd = spawn(p.io, shutdown(p.server.get()));
  auto cr = spawn(p.io, readThenShutdown(p.client.get()));
  runAll(p.io);
  auto [read_ec, shutdown_ec] = result(cr);
  EXPECT_EQ(read_ec, asio::error::eof);
  EXPECT_FALSE(shutdown_ec) << shutdown_ec.message();
  error_code server_ec = result(sd);
  EXPECT_FALSE(server_ec) << server_ec.message();
}

TEST(TlsStream, ExpiresAfterStillFires) {
  Pair p;
  p.handshakeBoth();
  p.client->next_layer().expires_after(std::chrono::milliseconds(50));
  auto cr = spawn(p.io, readToError(p.client.get()));
  runAll(p.io);
  EXPECT_EQ(result(cr).first, beast::error::timeout);
}

// WebSocket.

template <class Stream>
asio::awaitable<std::string> echoServer(websocket::stream<Stream>* ws) {
  auto [aec] = co_await ws->async_accept(kUseTuple);
  if (aec) co_return "accept: " + aec.message();
  beast::flat_buffer buffer;
  for (;;) {
    buffer.clear();
    auto [ec, n] = co_await ws->async_read(buffer, kUseTuple);
    if (ec == websocket::error::closed) co_return std::string();
    if (ec) co_return "server read: " + ec.message();
    ws->binary(true);
    auto [wec, w] = co_await ws->async_write(buffer.data(), kUseTuple);
    if (wec) co_return "server write: " + wec.message();
  }
}

template <class Stream>
asio::awaitable<std::string> echoClient(websocket::stream<Stream>* ws) {
  auto [hec] = co_await ws->async_handshake("127.0.0.1", "/tunnel", kUseTuple);
  if (hec) co_return "handshake: " + hec.message();
  ws->binary(true);
  beast::flat_buffer buffer;
  for (size_t i = 0; i < 60; ++i) {
    std::string message(i * i * 300 + 1, '\0');
    for (size_t j = 0; j < message.size(); ++j) message[j] = char(patternByte(i, j));
    auto [wec, w] = co_await ws->async_write(asio::buffer(message), kUseTuple);
    if (wec) co_return "client write: " + wec.message();
    buffer.clear();
    auto [rec, r] = co_await ws->async_read(buffer, kUseTuple);
    if (rec) co_return "client read: " + rec.message();
    if (beast::buffers_to_string(buffer.data()) != message) co_return "echo differs";
  }
  auto [cec] = co_await ws->async_close(websocket::close_code::normal, kUseTuple);
  if (cec) co_return "close: " + cec.message();
  co_return std::string();
}

template <class ServerStream, class ClientStream>
void websocketEcho() {
  asio::io_context io;
  auto server_ctx = serverContext();
  auto client_ctx = clientContext();
  auto [c, s] = socketPair(io);
  websocket::stream<ClientStream> client(beast::tcp_stream(std::move(c)), *client_ctx);
  websocket::stream<ServerStream> server(beast::tcp_stream(std::move(s)), *server_ctx);
  client.read_message_max(8 << 20);
  server.read_message_max(8 << 20);
  auto ch = spawn(io, handshake(&client.next_layer(), kClient));
  auto sh = spawn(io, handshake(&server.next_layer(), kServer));
  runAll(io);
  io.restart();
  ASSERT_FALSE(result(ch));
  ASSERT_FALSE(result(sh));
  auto sf = spawn(io, echoServer(&server));
  auto cf = spawn(io, echoClient(&client));
  runAll(io);
  EXPECT_EQ(result(cf), "");
  EXPECT_EQ(result(sf), "");
  EXPECT_FALSE(beast::get_lowest_layer(client).socket().is_open());
  EXPECT_FALSE(beast::get_lowest_layer(server).socket().is_open());
}

TEST(TlsStream, WebSocketOverItWithClose) { websocketEcho<TlsStream, TlsStream>(); }

TEST(TlsStream, WebSocketWithAsioSslServer) { websocketEcho<SslStream, TlsStream>(); }

TEST(TlsStream, WebSocketWithAsioSslClient) { websocketEcho<TlsStream, SslStream>(); }

template <class ServerStream, class ClientStream>
void transferWith() {
  asio::io_context io;
  auto server_ctx = serverContext();
  auto client_ctx = clientContext();
  auto [c, s] = socketPair(io);
  ClientStream client(beast::tcp_stream(std::move(c)), *client_ctx);
  ServerStream server(beast::tcp_stream(std::move(s)), *server_ctx);
  auto ch = spawn(io, handshake(&client, kClient));
  auto sh = spawn(io, handshake(&server, kServer));
  runAll(io);
  io.restart();
  ASSERT_FALSE(result(ch));
  ASSERT_FALSE(result(sh));
  constexpr size_t kBytes = 16 << 20;
  auto cs = spawn(io, sendPattern(&client, kBytes, 6, 100 * 1024));
  auto sr = spawn(io, receivePattern(&server, kBytes, 6, 40 * 1024));
  auto ss = spawn(io, sendPattern(&server, kBytes, 7, 300 * 1024));
  auto cr = spawn(io, receivePattern(&client, kBytes, 7, 100 * 1024));
  runAll(io);
  io.restart();
  EXPECT_FALSE(result(cs));
  EXPECT_FALSE(result(ss));
  EXPECT_EQ(result(sr), "");
  EXPECT_EQ(result(cr), "");
  auto cd = spawn(io, shutdown(&client));
  auto sd = spawn(io, shutdown(&server));
  runAll(io);
  error_code cec = result(cd), sec = result(sd);
  EXPECT_TRUE(!cec || cec == asio::error::eof) << cec.message();
  EXPECT_TRUE(!sec || sec == asio::error::eof) << sec.message();
}

TEST(TlsStream, InteropWithAsioSslServer) { transferWith<SslStream, TlsStream>(); }

TEST(TlsStream, InteropWithAsioSslClient) { transferWith<TlsStream, SslStream>(); }

}  // namespace
}  // namespace kubehub::net
