// The byte pumps shared by the hub and the agent (common/tunnel/body_pump.h), between a real
// multiplexed stream (two Muxes over the in-memory transport) and a real TLS connection pair on
// loopback: chunk framing and its end, a watch's clean end on a failed stream, resets when the
// connection fails (or not, when told), an upgraded connection's bytes, and reads that never
// inherit a write's deadline.
#include "common/tunnel/body_pump.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "common/tunnel/mux.h"
#include "tests/unit/common/tls_pair.h"
#include "tests/unit/tunnel/memory_transport.h"

namespace kubehub::tunnel {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

MuxOptions muxOptions(bool opens) {
  MuxOptions o;
  o.opens_streams = opens;
  o.stream_window = 64 * 1024;
  o.connection_window = 1024 * 1024;
  o.max_frame = 64 * 1024;
  o.name = "pump-test";
  return o;
}

/// A TLS pair (server: the side a pump writes to or reads from; client: the far peer) and a
/// tunnel stream: `near` is the stream the pump uses (the agent's end of it), `far` the hub's.
class BodyPumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tls_.handshakeBoth();
    auto [a, b] = MemoryTransport::pair(tls_.io.get_executor());
    hub_ = std::make_shared<Mux>(std::move(a), muxOptions(true));
    agent_ = std::make_shared<Mux>(std::move(b), muxOptions(false));
    agent_->setOpenHandler(
        [this](std::shared_ptr<Stream> s, proto::RequestHead) { near_ = std::move(s); });
    asio::co_spawn(tls_.io, runMux(hub_), asio::detached);
    asio::co_spawn(tls_.io, runMux(agent_), asio::detached);
  }
  void TearDown() override {
    hub_->shutdown(proto::GoAwayCode::kNormal, "test over");
    tls_.io.run_for(1s);
  }

  static asio::awaitable<void> runMux(std::shared_ptr<Mux> mux) { co_await mux->run(); }

  /// Opens a stream whose request body is still to come, and waits for the agent's end.
  asio::awaitable<void> open() {
    auto s = hub_->openStream({"POST", "/upload", {}}, false);
    EXPECT_TRUE(s.ok());
    far_ = *s;
    asio::steady_timer t(tls_.io);
    while (!near_) {
      t.expires_after(1ms);
      co_await t.async_wait(kUseTuple);
    }
  }

  /// Reads from the client's end until `done(text)` or the connection ends.
  template <class Done>
  asio::awaitable<std::string> clientReads(Done done) {
    std::string got;
    char buf[4096];
    while (!done(got)) {
      auto [ec, n] = co_await tls_.client->async_read_some(asio::buffer(buf), kUseTuple);
      got.append(buf, n);
      if (ec) break;
    }
    co_return got;
  }

  /// Runs `body` on the pair's context (at most 20 s).
  template <class F>
  void run(F body) {
    bool done = false;
    asio::co_spawn(tls_.io, body(), [&](std::exception_ptr e) {
      done = true;
      if (e) std::rethrow_exception(e);
    });
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done && std::chrono::steady_clock::now() < deadline) tls_.io.run_one_for(100ms);
    ASSERT_TRUE(done) << "the test body did not finish in time";
  }

  /// A pump whose connection is closed under it: its write fails.
  void pumpIntoAClosedConnection(bool reset) {
    run([this, reset]() -> asio::awaitable<void> {
      co_await open();
      PumpOut out;
      out.timeout = 5s;
      out.peer = "client";
      out.reset_on_write_error = reset;
      std::optional<bool> pumped;
      boost::beast::get_lowest_layer(*tls_.server).socket().close();
      asio::co_spawn(
          tls_.io,
          [&]() -> asio::awaitable<void> {
            pumped = co_await streamToSocket(tls_.server.get(), near_, out);
          },
          asio::detached);
      EXPECT_TRUE((co_await far_->write("bytes nobody reads")).ok());
      asio::steady_timer t(tls_.io);
      while (!pumped) {
        t.expires_after(1ms);
        co_await t.async_wait(kUseTuple);
      }
      EXPECT_FALSE(*pumped);
      EXPECT_EQ(near_->isReset(), reset);
      if (reset) {
        EXPECT_NE(near_->resetReason().find("client stopped reading"), std::string::npos)
            << near_->resetReason();
      }
    });
  }

  net::testing_tls::TlsPair tls_;
  std::shared_ptr<Mux> hub_, agent_;
  std::shared_ptr<Stream> near_, far_;
};

/// The body of a chunked message: the chunks' bytes, and whether the last chunk came.
std::pair<std::string, bool> unchunk(std::string_view text) {
  std::string body;
  for (;;) {
    size_t eol = text.find("\r\n");
    if (eol == std::string_view::npos) return {body, false};
    size_t size = std::stoul(std::string(text.substr(0, eol)), nullptr, 16);
    text.remove_prefix(eol + 2);
    if (size == 0) return {body, text == "\r\n"};
    if (text.size() < size + 2) return {body, false};
    body.append(text.substr(0, size));
    text.remove_prefix(size + 2);
  }
}

bool endsWithLastChunk(const std::string& s) { return s.ends_with("0\r\n\r\n"); }

TEST_F(BodyPumpTest, StreamToSocketChunksTheBodyAfterTheHeadAndEndsIt) {
  run([this]() -> asio::awaitable<void> {
    co_await open();
    std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    uint64_t bytes = 0;
    PumpOut out;
    out.chunked = true;
    out.timeout = 5s;
    out.head = head;
    out.bytes = &bytes;
    std::optional<bool> pumped;
    asio::co_spawn(
        tls_.io,
        [&]() -> asio::awaitable<void> {
          pumped = co_await streamToSocket(tls_.server.get(), near_, out);
        },
        asio::detached);
    std::string big(100 * 1024, 'b');  // more than a stream window: credit must come back
    EXPECT_TRUE((co_await far_->write("abc")).ok());
    EXPECT_TRUE((co_await far_->write(big)).ok());
    far_->finish();
    std::string got = co_await clientReads(endsWithLastChunk);
    EXPECT_TRUE(got.starts_with(head)) << got.substr(0, 80);
    if (!got.starts_with(head)) co_return;
    auto [body, ended] = unchunk(std::string_view(got).substr(head.size()));
    EXPECT_TRUE(ended);
    EXPECT_EQ(body, "abc" + big);
    EXPECT_EQ(bytes, 3 + big.size());
    asio::steady_timer t(tls_.io);
    while (!pumped) {
      t.expires_after(1ms);
      co_await t.async_wait(kUseTuple);
    }
    EXPECT_TRUE(*pumped);
  });
}

TEST_F(BodyPumpTest, AFailedStreamStillEndsAWatchCleanly) {
  run([this]() -> asio::awaitable<void> {
    co_await open();
    PumpOut out;
    out.chunked = true;
    out.end_cleanly_on_error = true;
    out.timeout = 5s;
    std::optional<bool> pumped;
    asio::co_spawn(
        tls_.io,
        [&]() -> asio::awaitable<void> {
          pumped = co_await streamToSocket(tls_.server.get(), near_, out);
        },
        asio::detached);
    EXPECT_TRUE((co_await far_->write("{\"type\":\"ADDED\"}\n")).ok());
    std::string first = co_await clientReads([](const std::string& s) { return s.size() > 10; });
    far_->reset(proto::ResetCode::kCancel, "tunnel lost");
    std::string rest = co_await clientReads(endsWithLastChunk);
    auto [body, ended] = unchunk(first + rest);
    EXPECT_TRUE(ended) << "a watch cut by the tunnel must end like one the server closed";
    EXPECT_EQ(body, "{\"type\":\"ADDED\"}\n");
    asio::steady_timer t(tls_.io);
    while (!pumped) {
      t.expires_after(1ms);
      co_await t.async_wait(kUseTuple);
    }
    EXPECT_FALSE(*pumped);
  });
}

TEST_F(BodyPumpTest, AConnectionThatFailsResetsTheStream) { pumpIntoAClosedConnection(true); }

// The agent's upload: the API server may have answered early and closed; that answer still
// travels on the stream.
TEST_F(BodyPumpTest, AConnectionThatFailsLeavesTheStreamWhenToldTo) {
  pumpIntoAClosedConnection(false);
}

TEST_F(BodyPumpTest, SocketToStreamSendsTheLeftoverThenTheBytesUntilTheClose) {
  run([this]() -> asio::awaitable<void> {
    co_await open();
    boost::beast::flat_buffer leftover;
    auto into = leftover.prepare(4);
    std::memcpy(into.data(), "pre-", 4);
    leftover.commit(4);
    ChunkBuffer chunk(8, 64);  // small: a full read grows it
    std::optional<boost::system::error_code> ended;
    asio::co_spawn(
        tls_.io,
        [&]() -> asio::awaitable<void> {
          ended = co_await socketToStream(tls_.server.get(), &leftover, near_, &chunk);
        },
        asio::detached);
    std::string payload = "hello, upgraded world: more than eight bytes";
    auto [wec, wn] = co_await asio::async_write(*tls_.client, asio::buffer(payload), kUseTuple);
    EXPECT_FALSE(wec);
    // The client's side closes (TCP FIN without close_notify: a peer that vanished).
    boost::beast::get_lowest_layer(*tls_.client)
        .socket()
        .shutdown(asio::ip::tcp::socket::shutdown_send);
    std::string got;
    asio::steady_timer t(tls_.io);
    while (!ended || far_->readReady()) {
      if (far_->readReady()) {
        auto c = co_await far_->read();
        if (!c.ok()) break;
        got += c->data;
        far_->consumed(c->data.size());
        continue;
      }
      t.expires_after(1ms);
      co_await t.async_wait(kUseTuple);
    }
    EXPECT_EQ(got, "pre-" + payload);
    EXPECT_EQ(leftover.size(), 0u);
    EXPECT_EQ(chunk.size(), 64u) << "a read that filled the buffer grows it";
    EXPECT_TRUE(ended.has_value() && *ended) << "the connection's close is reported";
  });
}

// The 60-second cut: a read started while a write with a deadline is in flight must not take
// that deadline (an idle exec or watch would be cut when it passes).
TEST_F(BodyPumpTest, AReadNeverInheritsAConcurrentWritesDeadline) {
  run([this]() -> asio::awaitable<void> {
    std::optional<bool> wrote;
    std::optional<boost::system::error_code> read_ec;
    char buf[16];
    asio::co_spawn(
        tls_.io,
        [&]() -> asio::awaitable<void> {
          wrote = co_await writeAll(tls_.server.get(), 150ms, asio::buffer("ping", 4));
        },
        asio::detached);
    asio::co_spawn(
        tls_.io,
        [&]() -> asio::awaitable<void> {
          auto [ec, n] = co_await readSomeNoDeadline(tls_.server.get(), asio::buffer(buf));
          read_ec = ec;
        },
        asio::detached);
    char ping[4];
    auto [pec, pn] = co_await asio::async_read(*tls_.client, asio::buffer(ping), kUseTuple);
    EXPECT_FALSE(pec);
    asio::steady_timer t(tls_.io, 600ms);  // four times the write's deadline
    co_await t.async_wait(kUseTuple);
    EXPECT_EQ(wrote, std::optional<bool>(true));
    EXPECT_FALSE(read_ec.has_value()) << "the read ended: " << read_ec->message();
    auto [wec, wn] = co_await asio::async_write(*tls_.client, asio::buffer("pong", 4), kUseTuple);
    EXPECT_FALSE(wec);
    while (!read_ec) {
      t.expires_after(1ms);
      co_await t.async_wait(kUseTuple);
    }
    EXPECT_FALSE(*read_ec) << read_ec->message();
  });
}

// The agent's download: a chunked response read by a parser, its held head sent once before
// the first bytes; the body reaches the stream whole and the stream ends.
TEST_F(BodyPumpTest, AParsedBodyReachesTheStreamAfterTheHeldHead) {
  run([this]() -> asio::awaitable<void> {
    co_await open();
    std::string text =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "6\r\nhello \r\n";
    std::string later = "5\r\nworld\r\n0\r\n\r\n";
    auto [wec, wn] = co_await asio::async_write(*tls_.client, asio::buffer(text), kUseTuple);
    EXPECT_FALSE(wec);
    boost::beast::flat_buffer buffer;
    boost::beast::http::response_parser<boost::beast::http::buffer_body> parser;
    auto [hec, hn] =
        co_await boost::beast::http::async_read_header(*tls_.server, buffer, parser, kUseTuple);
    EXPECT_FALSE(hec) << hec.message();
    int heads = 0;
    PumpIn in;
    in.what = "API server response";
    in.send_head = [&heads] { ++heads; };
    ChunkBuffer chunk(4, 64);
    std::optional<bool> pumped;
    asio::co_spawn(
        tls_.io,
        [&]() -> asio::awaitable<void> {
          pumped = co_await parsedBodyToStream(tls_.server.get(), &buffer, &parser, near_, &chunk,
                                               std::move(in));
        },
        asio::detached);
    std::string got;
    bool ended = false;
    bool wrote_later = false;
    asio::steady_timer t(tls_.io);
    while (!ended) {
      if (!wrote_later && got == "hello ") {
        EXPECT_EQ(heads, 1) << "the head goes before the first bytes";
        auto [lec, ln] = co_await asio::async_write(*tls_.client, asio::buffer(later), kUseTuple);
        EXPECT_FALSE(lec);
        wrote_later = true;
      }
      auto c = co_await far_->read();
      if (!c.ok()) break;
      got += c->data;
      far_->consumed(c->data.size());
      ended = c->end;
    }
    EXPECT_TRUE(ended);
    EXPECT_EQ(got, "hello world");
    EXPECT_EQ(heads, 1);
    while (!pumped) {
      t.expires_after(1ms);
      co_await t.async_wait(kUseTuple);
    }
    EXPECT_TRUE(*pumped);
  });
}

// The hub's upload: each read has a deadline; a client that stops sending mid-body resets the
// stream, saying what was being read.
TEST_F(BodyPumpTest, AParsedBodyThatStallsPastItsDeadlineResetsTheStream) {
  run([this]() -> asio::awaitable<void> {
    co_await open();
    std::string text = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nonly some";
    auto [wec, wn] = co_await asio::async_write(*tls_.client, asio::buffer(text), kUseTuple);
    EXPECT_FALSE(wec);
    boost::beast::flat_buffer buffer;
    boost::beast::http::request_parser<boost::beast::http::buffer_body> parser;
    auto [hec, hn] =
        co_await boost::beast::http::async_read_header(*tls_.server, buffer, parser, kUseTuple);
    EXPECT_FALSE(hec) << hec.message();
    PumpIn in;
    in.timeout = 200ms;
    in.what = "client request body";
    ChunkBuffer chunk(64, 64);
    bool pumped = co_await parsedBodyToStream(tls_.server.get(), &buffer, &parser, near_, &chunk,
                                              std::move(in));
    EXPECT_FALSE(pumped);
    EXPECT_TRUE(near_->isReset());
    EXPECT_NE(near_->resetReason().find("client request body: "), std::string::npos)
        << near_->resetReason();
  });
}

// A connection that goes idle after a large body keeps no more than the starting size: trim()
// frees a grown buffer (the agent's up to 256 pooled connections would otherwise keep 128 KiB
// each), and leaves one still at its start alone.
TEST(ChunkBuffer, TrimFreesOnlyWhatGrew) {
  ChunkBuffer chunk(16, 128);
  EXPECT_EQ(chunk.size(), 0u) << "allocated on first use";
  char* small = chunk.get();
  EXPECT_EQ(chunk.size(), 16u);
  chunk.trim();
  EXPECT_EQ(chunk.size(), 16u);
  EXPECT_EQ(chunk.get(), small) << "a buffer at its start survives trim()";
  chunk.get(true);
  EXPECT_EQ(chunk.size(), 128u);
  chunk.get();
  EXPECT_EQ(chunk.size(), 128u) << "stays grown while in use";
  chunk.trim();
  EXPECT_EQ(chunk.size(), 0u) << "a grown buffer is freed";
  chunk.get();
  EXPECT_EQ(chunk.size(), 16u) << "the next use starts small again";
}

}  // namespace
}  // namespace kubehub::tunnel
