#include "common/tunnel/mux.h"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/k8s/query.h"
#include "tests/unit/tunnel/memory_transport.h"

namespace kubehub::tunnel {
namespace {

namespace asio = boost::asio;

MuxOptions hubOptions() {
  MuxOptions o;
  o.opens_streams = true;
  o.stream_window = 64 * 1024;
  o.connection_window = 1024 * 1024;
  o.max_frame = 64 * 1024;
  o.name = "test";
  return o;
}

MuxOptions agentOptions() {
  MuxOptions o = hubOptions();
  o.opens_streams = false;
  return o;
}

/// What the fake agent does with each stream, by target.
asio::awaitable<void> serveStream(std::shared_ptr<Stream> stream, proto::RequestHead head,
                                  std::shared_ptr<int> resets_seen) {
  if (head.target == "/echo") {
    std::string body;
    for (;;) {
      auto c = co_await stream->read();
      if (!c.ok()) co_return;
      body += c->data;
      stream->consumed(c->data.size());
      if (c->end) break;
    }
    proto::ResponseHead rh;
    rh.status = 200;
    rh.headers.emplace_back("Content-Length", std::to_string(body.size()));
    stream->sendResponseHead(rh, false);
    absl::Status st = co_await stream->write(body);
    if (st.ok()) stream->finish();
  } else if (head.target.starts_with("/big")) {
    size_t n = std::stoul(*k8s::queryParam(head.target.substr(head.target.find('?') + 1), "n"));
    proto::ResponseHead rh;
    rh.status = 200;
    stream->sendResponseHead(rh, false);
    std::string chunk(10000, 'x');
    size_t sent = 0;
    while (sent < n) {
      absl::Status st = co_await stream->write(chunk);
      if (!st.ok()) {
        ++*resets_seen;
        co_return;
      }
      sent += chunk.size();
    }
    stream->finish();
  } else if (head.target == "/answer-early") {
    // As an API server refusing an upload it has not read (or the agent's own 404 for a command
    // it does not offer): the whole answer, then a reset that stops the upload.
    proto::ResponseHead rh;
    rh.status = 404;
    stream->sendResponseHead(rh, false);
    absl::Status st = co_await stream->write(std::string(5000, 'n'));
    if (st.ok()) stream->finish();
    stream->reset(proto::ResetCode::kCancel, "exchange finished");
  } else if (head.target == "/wait-reset") {
    proto::ResponseHead rh;
    rh.status = 200;
    stream->sendResponseHead(rh, false);
    co_await stream->waitReset();
    ++*resets_seen;
  }
}

struct Harness {
  asio::io_context io;
  std::shared_ptr<Mux> hub;
  std::shared_ptr<Mux> agent;
  std::shared_ptr<int> resets_seen = std::make_shared<int>(0);
  std::string hub_close_reason;
  std::string agent_close_reason;

  Harness(MuxOptions ho = hubOptions(), MuxOptions ao = agentOptions()) {
    auto [a, b] = MemoryTransport::pair(io.get_executor());
    hub = std::make_shared<Mux>(std::move(a), ho);
    agent = std::make_shared<Mux>(std::move(b), ao);
    auto ex = io.get_executor();
    auto resets = resets_seen;
    agent->setOpenHandler([ex, resets](std::shared_ptr<Stream> s, proto::RequestHead h) {
      asio::co_spawn(ex, serveStream(std::move(s), std::move(h), resets), asio::detached);
    });
  }

  static asio::awaitable<void> runMux(std::shared_ptr<Mux> mux, std::string* reason) {
    *reason = co_await mux->run();
  }

  /// Runs `body` with both muxes until it finishes (or 20 s pass: a failure).
  template <typename F>
  void run(F body) {
    asio::co_spawn(io, runMux(hub, &hub_close_reason), asio::detached);
    asio::co_spawn(io, runMux(agent, &agent_close_reason), asio::detached);
    bool done = false;
    asio::steady_timer guard(io, std::chrono::seconds(20));
    asio::co_spawn(io, body(this), [&](std::exception_ptr e) {
      done = true;
      guard.cancel();
      hub->shutdown(proto::GoAwayCode::kNormal, "test over");
      if (e) std::rethrow_exception(e);
    });
    guard.async_wait([&](boost::system::error_code ec) {
      if (!ec) io.stop();
    });
    io.run_for(std::chrono::seconds(25));
    ASSERT_TRUE(done) << "test body did not finish in time";
  }
};

asio::awaitable<std::string> readAll(std::shared_ptr<Stream> s) {
  std::string out;
  for (;;) {
    auto c = co_await s->read();
    if (!c.ok()) co_return "ERROR: " + std::string(c.status().message());
    out += c->data;
    s->consumed(c->data.size());
    if (c->end) co_return out;
  }
}

asio::awaitable<void> echoBody(Harness* h) {
  std::string payload(300 * 1024, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
  proto::RequestHead head{"POST", "/echo", {}};
  auto s = h->hub->openStream(head, false);
  EXPECT_TRUE(s.ok());
  auto stream = *s;
  absl::Status st = co_await stream->write(payload);
  EXPECT_TRUE(st.ok()) << st;
  stream->finish();
  auto rh = co_await stream->responseHead();
  EXPECT_TRUE(rh.ok());
  EXPECT_EQ(rh->status, 200);
  std::string body = co_await readAll(stream);
  EXPECT_EQ(body.size(), payload.size());
  EXPECT_TRUE(body == payload);
}

TEST(Mux, EchoLargerThanWindowsRoundTrips) {
  Harness h;
  h.run(echoBody);
  EXPECT_EQ(h.hub->streamCount(), 0u);
}

asio::awaitable<void> slowConsumer(Harness* h) {
  // Stream A produces 50 MB nobody reads; stream B must still complete.
  auto a = h->hub->openStream({"GET", "/big?n=50000000", {}}, true);
  EXPECT_TRUE(a.ok());
  auto head_a = co_await (*a)->responseHead();
  EXPECT_TRUE(head_a.ok());
  for (int i = 0; i < 20; ++i) {
    auto b = h->hub->openStream({"POST", "/echo", {}}, false);
    EXPECT_TRUE(b.ok());
    std::string msg = "hello " + std::to_string(i);
    absl::Status st = co_await (*b)->write(msg);
    EXPECT_TRUE(st.ok());
    (*b)->finish();
    std::string got = co_await readAll(*b);
    EXPECT_EQ(got, msg);
  }
  // A's producer is held back by A's window: the hub buffers at most one window of it.
  auto first = co_await (*a)->read();
  EXPECT_TRUE(first.ok());
  EXPECT_LE(first->data.size(), 64u * 1024);
  EXPECT_GT(h->agent->stats().credit_stalls.load(), 0u);
  (*a)->reset(proto::ResetCode::kCancel, "done");
}

TEST(Mux, SlowConsumerDoesNotStallOtherStreams) {
  Harness h;
  h.run(slowConsumer);
}

asio::awaitable<void> resetReachesAgent(Harness* h) {
  auto s = h->hub->openStream({"GET", "/wait-reset", {}}, true);
  EXPECT_TRUE(s.ok());
  auto rh = co_await (*s)->responseHead();
  EXPECT_TRUE(rh.ok());
  (*s)->reset(proto::ResetCode::kCancel, "user went away");
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int i = 0; i < 200 && *h->resets_seen == 0; ++i) {
    t.expires_after(std::chrono::milliseconds(5));
    co_await t.async_wait(asio::use_awaitable);
  }
  EXPECT_EQ(*h->resets_seen, 1);
}

asio::awaitable<void> answerBeforeUpload(Harness* h) {
  // The request body is still to come when the answer is complete.
  auto s = h->hub->openStream({"POST", "/answer-early", {}}, false);
  EXPECT_TRUE(s.ok());
  auto rh = co_await (*s)->responseHead();
  EXPECT_TRUE(rh.ok()) << rh.status();
  if (rh.ok()) {
    EXPECT_EQ(rh->status, 404);
  }
  std::string body = co_await readAll(*s);
  EXPECT_TRUE(body == std::string(5000, 'n')) << body.size() << " bytes: " << body.substr(0, 80);
  // And the upload is refused from then on.
  co_await (*s)->waitReset();
  absl::Status st = co_await (*s)->write("late body");
  EXPECT_FALSE(st.ok());
}

// A reset sent after a complete answer (the upload left unread) does not overtake the answer's
// last frames: the whole answer arrives, then the upload stops.
TEST(Mux, AnAnswerCompleteBeforeTheUploadArrivesWhole) {
  Harness h;
  h.run(answerBeforeUpload);
}

struct OpenSeen {
  bool open_ended = true;
  bool peer_ended_when_served = false;
  std::string body;
};

asio::awaitable<void> recordBody(std::shared_ptr<Stream> s, std::shared_ptr<OpenSeen> seen) {
  seen->peer_ended_when_served = s->peerEnded();
  seen->body = co_await readAll(s);
  proto::ResponseHead rh;
  rh.status = 201;
  s->sendResponseHead(rh, true);
}

asio::awaitable<void> bodyWithItsOpen(Harness* h, std::shared_ptr<OpenSeen> seen) {
  // Small: all of it goes with the OPEN, as one message, and ends the hub's side.
  std::string small = R"({"kind":"ConfigMap","metadata":{"name":"x"}})";
  uint64_t messages_before = h->agent->stats().messages_in.load();
  size_t sent = 0;
  auto s = h->hub->openStream({"POST", "/record", {}}, small, &sent);
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(sent, small.size());
  auto rh = co_await (*s)->responseHead();
  EXPECT_TRUE(rh.ok()) << rh.status();
  EXPECT_EQ(h->agent->stats().messages_in.load() - messages_before, 1u);
  EXPECT_FALSE(seen->open_ended) << "the OPEN said no body follows";
  EXPECT_TRUE(seen->peer_ended_when_served);
  EXPECT_EQ(seen->body, small);

  // Larger than the stream's window (64 KiB here): a window's worth goes with the OPEN, the
  // caller writes the rest.
  std::string big(200 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 13);
  auto b = h->hub->openStream({"POST", "/echo", {}}, big, &sent);
  EXPECT_TRUE(b.ok());
  EXPECT_EQ(sent, 64u * 1024);
  absl::Status st = co_await (*b)->write(std::string_view(big).substr(sent));
  EXPECT_TRUE(st.ok()) << st;
  (*b)->finish();
  auto bh = co_await (*b)->responseHead();
  EXPECT_TRUE(bh.ok());
  std::string echoed = co_await readAll(*b);
  EXPECT_TRUE(echoed == big) << echoed.size() << " bytes";

  // Several streams opened at once (a cache starting its watches) share a message; each
  // handler gets its own stream and body.
  uint64_t before = h->agent->stats().messages_in.load();
  std::vector<std::shared_ptr<Stream>> many;
  for (int i = 0; i < 7; ++i) {
    auto m = h->hub->openStream({"POST", "/echo", {}}, "body " + std::to_string(i), &sent);
    EXPECT_TRUE(m.ok());
    if (m.ok()) many.push_back(*m);
  }
  for (size_t i = 0; i < many.size(); ++i) {
    std::string got = co_await readAll(many[i]);
    EXPECT_EQ(got, "body " + std::to_string(i));
  }
  EXPECT_EQ(h->agent->stats().messages_in.load() - before, 1u);
}

// A body in hand when the stream opens (a create's JSON) travels with its OPEN: one message,
// one wake-up at the agent, which still learns from the OPEN that a body follows.
TEST(Mux, ABodyInHandTravelsWithItsOpen) {
  Harness h;
  auto seen = std::make_shared<OpenSeen>();
  auto ex = h.io.get_executor();
  auto resets = h.resets_seen;
  h.agent->setOpenHandler([ex, seen, resets](std::shared_ptr<Stream> s, proto::RequestHead head) {
    if (head.target != "/record") {
      asio::co_spawn(ex, serveStream(std::move(s), std::move(head), resets), asio::detached);
      return;
    }
    seen->open_ended = s->openEnded();
    asio::co_spawn(ex, recordBody(std::move(s), seen), asio::detached);
  });
  h.run([seen](Harness* harness) { return bodyWithItsOpen(harness, seen); });
  EXPECT_EQ(h.hub->streamCount(), 0u);
}

TEST(Mux, ResetReachesThePeer) {
  Harness h;
  h.run(resetReachesAgent);
}

asio::awaitable<void> waitResetCancelled(Harness* h) {
  auto s = h->hub->openStream({"GET", "/echo", {}}, true);
  EXPECT_TRUE(s.ok());
  // As the loser of `work || stream->waitReset()` (every forwarded request on the agent): the
  // cancelled wait ends without an exception (an exception per request was a measurable share
  // of the agent's CPU).
  asio::cancellation_signal cancel;
  bool finished = false;
  std::exception_ptr thrown;
  asio::co_spawn(h->io, (*s)->waitReset(),
                 asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                   finished = true;
                   thrown = e;
                 }));
  asio::steady_timer t(h->io);
  t.expires_after(std::chrono::milliseconds(5));
  co_await t.async_wait(asio::use_awaitable);
  EXPECT_FALSE(finished) << "not reset yet";
  cancel.emit(asio::cancellation_type::terminal);
  for (int i = 0; i < 100 && !finished; ++i) {
    t.expires_after(std::chrono::milliseconds(1));
    co_await t.async_wait(asio::use_awaitable);
  }
  EXPECT_TRUE(finished);
  EXPECT_FALSE(thrown) << "a cancelled waitReset threw";
  (*s)->reset(proto::ResetCode::kCancel, "test over");
}

TEST(Mux, ACancelledWaitForResetEndsWithoutAnException) {
  Harness h;
  h.run(waitResetCancelled);
}

asio::awaitable<void> tunnelLoss(Harness* h) {
  auto s = h->hub->openStream({"GET", "/wait-reset", {}}, true);
  auto rh = co_await (*s)->responseHead();
  EXPECT_TRUE(rh.ok());
  EXPECT_FALSE(h->hub->closing());
  h->agent->shutdown(proto::GoAwayCode::kDraining, "agent stopping");
  auto c = co_await (*s)->read();
  EXPECT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("agent stopping"), std::string::npos)
      << c.status().message();
  EXPECT_TRUE(h->hub->closing());
  // Unavailable is what tells the hub's user server to ask the cluster's next hub instead.
  auto again = h->hub->openStream({"GET", "/echo", {}}, true);
  EXPECT_FALSE(again.ok());
  EXPECT_TRUE(absl::IsUnavailable(again.status())) << again.status();
}

asio::awaitable<void> openAndStop(Harness* h) {
  auto s = h->hub->openStream({"GET", "/wait-reset", {}}, true);
  EXPECT_TRUE(s.ok());
  auto rh = co_await (*s)->responseHead();
  EXPECT_TRUE(rh.ok());
  h->io.stop();  // as a process stopping on a signal: the tunnel is never closed
}

// Contexts destroyed with a stream open: the muxes are freed, not kept by their streams.
TEST(Mux, StoppedWithOpenStreamsFreesTheMux) {
  std::weak_ptr<Mux> hub, agent;
  {
    Harness h;
    hub = h.hub;
    agent = h.agent;
    asio::co_spawn(h.io, Harness::runMux(h.hub, &h.hub_close_reason), asio::detached);
    asio::co_spawn(h.io, Harness::runMux(h.agent, &h.agent_close_reason), asio::detached);
    asio::co_spawn(h.io, openAndStop(&h), asio::detached);
    h.io.run_for(std::chrono::seconds(20));
    EXPECT_TRUE(h.io.stopped());
    h.hub.reset();
    h.agent.reset();
  }
  EXPECT_TRUE(hub.expired());
  EXPECT_TRUE(agent.expired());
}

TEST(Mux, TunnelLossFailsOpenStreamsWithTheReason) {
  Harness h;
  h.run(tunnelLoss);
  EXPECT_NE(h.hub_close_reason.find("GOAWAY"), std::string::npos) << h.hub_close_reason;
}

asio::awaitable<void> bigControl(Harness* h, std::string* received) {
  std::string big(3 * 1024 * 1024 + 17, 'c');
  h->hub->sendControl(big);
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int i = 0; i < 400 && received->size() != big.size(); ++i) {
    t.expires_after(std::chrono::milliseconds(5));
    co_await t.async_wait(asio::use_awaitable);
  }
  EXPECT_EQ(*received, big);
}

TEST(Mux, ControlMessagesLargerThanAFrameAreReassembled) {
  Harness h;
  std::string received;
  h.agent->setControlHandler([&received](std::string m) { received = std::move(m); });
  h.run([&received](Harness* hh) { return bigControl(hh, &received); });
}

/// A raw peer: speaks frames directly to a Mux, to inject protocol violations.
struct RawPeer {
  asio::io_context io;
  std::shared_ptr<Mux> mux;
  std::unique_ptr<MemoryTransport> raw;
  std::string reason;

  RawPeer() {
    auto [a, b] = MemoryTransport::pair(io.get_executor());
    mux = std::make_shared<Mux>(std::move(a), agentOptions());
    raw = std::move(b);
    mux->setOpenHandler([](std::shared_ptr<Stream>, proto::RequestHead) {});
  }
};

asio::awaitable<void> runMuxInto(std::shared_ptr<Mux> mux, std::string* reason) {
  *reason = co_await mux->run();
}

asio::awaitable<void> sendGarbage(MemoryTransport* raw, std::vector<std::string>* replies) {
  std::string truncated("\x12\x00\x00\x00", 4);  // a frame shorter than its header
  co_await raw->write(truncated);
  for (;;) {
    auto ec = co_await raw->read();
    if (ec) co_return;
    replies->push_back(std::string(raw->message()));
  }
}

TEST(Mux, MalformedFrameClosesTheTunnelWithAReason) {
  RawPeer p;
  std::vector<std::string> replies;
  asio::co_spawn(p.io, runMuxInto(p.mux, &p.reason), asio::detached);
  asio::co_spawn(p.io, sendGarbage(p.raw.get(), &replies), asio::detached);
  p.io.run_for(std::chrono::seconds(5));
  EXPECT_NE(p.reason.find("protocol error"), std::string::npos) << p.reason;
  ASSERT_FALSE(replies.empty());
  auto f = proto::decodeFrame(replies.back());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->type, proto::FrameType::kGoAway);
}

asio::awaitable<void> waitForRoundTrip(Harness* h) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int i = 0; i < 200 && h->agent->stats().rtt_us.load() < 0; ++i) {
    t.expires_after(std::chrono::milliseconds(10));
    co_await t.async_wait(asio::use_awaitable);
  }
}

TEST(Mux, MeasuresTheRoundTripOfItsPings) {
  MuxOptions ao = agentOptions();
  ao.ping_interval = std::chrono::milliseconds(20);
  Harness h(hubOptions(), ao);
  EXPECT_EQ(h.agent->stats().rtt_us.load(), -1);
  h.run([](Harness* hh) { return waitForRoundTrip(hh); });
  int64_t rtt = h.agent->stats().rtt_us.load();
  EXPECT_GE(rtt, 0);
  EXPECT_LT(rtt, 1000000);
}

asio::awaitable<void> sendForgedPongs(MemoryTransport* raw) {
  // A payload of the wrong size, and one "sent" an hour from now: neither is a round trip.
  std::string future(8, '\0');
  auto at = static_cast<uint64_t>(
      (std::chrono::steady_clock::now() + std::chrono::hours(2)).time_since_epoch().count());
  for (int i = 0; i < 8; ++i) future[i] = static_cast<char>((at >> (56 - 8 * i)) & 0xff);
  for (const std::string& payload : {std::string("xyz"), future}) {
    std::string frame = proto::encodeFrame(proto::FrameType::kPong, 0, 0, payload);
    co_await raw->write(frame);
  }
}

TEST(Mux, ForgedPongsAreNotTakenForRoundTrips) {
  RawPeer p;
  asio::co_spawn(p.io, runMuxInto(p.mux, &p.reason), asio::detached);
  asio::co_spawn(p.io, sendForgedPongs(p.raw.get()), asio::detached);
  p.io.run_for(std::chrono::milliseconds(300));
  EXPECT_EQ(p.mux->stats().rtt_us.load(), -1);
  p.mux->shutdown(proto::GoAwayCode::kNormal, "test over");
  p.io.restart();
  p.io.run_for(std::chrono::milliseconds(200));
}

asio::awaitable<void> overrunWindow(MemoryTransport* raw, std::vector<std::string>* replies) {
  proto::RequestHead head{"GET", "/x", {}};
  std::string open =
      proto::encodeFrame(proto::FrameType::kOpen, 0, 1, *proto::encodeRequestHead(head));
  co_await raw->write(open);
  std::string data = proto::encodeFrame(proto::FrameType::kData, 0, 1, std::string(32 * 1024, 'd'));
  for (int i = 0; i < 3; ++i) co_await raw->write(data);  // 96 KiB into a 64 KiB window
  for (;;) {
    auto ec = co_await raw->read();
    if (ec) co_return;
    replies->push_back(std::string(raw->message()));
    auto f = proto::decodeFrame(replies->back());
    if (f.ok() && f->type == proto::FrameType::kReset) break;
  }
  raw->abort();
}

TEST(Mux, StreamWindowOverrunIsResetNotBuffered) {
  RawPeer p;
  std::vector<std::string> replies;
  asio::co_spawn(p.io, runMuxInto(p.mux, &p.reason), asio::detached);
  asio::co_spawn(p.io, overrunWindow(p.raw.get(), &replies), asio::detached);
  p.io.run_for(std::chrono::seconds(10));
  ASSERT_FALSE(replies.empty());
  auto f = proto::decodeFrame(replies.back());
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->type, proto::FrameType::kReset);
  auto info = proto::decodeReset(f->payload);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->code, proto::ResetCode::kFlowControlError);
  EXPECT_EQ(p.mux->streamCount(), 0u);
}

asio::awaitable<void> overflowStreamWindow(MemoryTransport* raw,
                                           std::vector<std::string>* replies) {
  proto::RequestHead head{"GET", "/x", {}};
  co_await raw->write(
      proto::encodeFrame(proto::FrameType::kOpen, 0, 1, *proto::encodeRequestHead(head)));
  // The stream's initial window and twice 2^30: past 2^31.
  std::string window =
      proto::encodeFrame(proto::FrameType::kWindow, 0, 1, proto::encodeWindow(1u << 30));
  co_await raw->write(window);
  co_await raw->write(window);
  for (;;) {
    auto ec = co_await raw->read();
    if (ec) co_return;
    replies->push_back(std::string(raw->message()));
  }
}

TEST(Mux, AStreamWindowPushedPast2To31EndsTheTunnel) {
  // PROTOCOL.md: a WINDOW that would push a window past 2^31 is answered with GOAWAY, for a
  // stream's window as for the connection's.
  RawPeer p;
  std::vector<std::string> replies;
  asio::co_spawn(p.io, runMuxInto(p.mux, &p.reason), asio::detached);
  asio::co_spawn(p.io, overflowStreamWindow(p.raw.get(), &replies), asio::detached);
  p.io.run_for(std::chrono::seconds(5));
  EXPECT_NE(p.reason.find("stream window overflow"), std::string::npos) << p.reason;
  ASSERT_FALSE(replies.empty());
  auto f = proto::decodeFrame(replies.back());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->type, proto::FrameType::kGoAway);
}

asio::awaitable<void> openOnHubSide(MemoryTransport* raw) {
  // An agent must never open streams towards the hub.
  proto::RequestHead head{"GET", "/", {}};
  std::string open = proto::encodeFrame(proto::FrameType::kOpen, proto::kFlagEnd, 1,
                                        *proto::encodeRequestHead(head));
  co_await raw->write(open);
  for (;;) {
    if (co_await raw->read()) co_return;
  }
}

asio::awaitable<void> pingFlood(MemoryTransport* raw) {
  // Asks for PONGs without ever reading them.
  std::string ping = proto::encodeFrame(proto::FrameType::kPing, 0, 0, std::string(8, 'p'));
  std::string batch;
  for (int i = 0; i < 200; ++i) batch += ping;
  for (int i = 0; i < 50; ++i) {
    if (co_await raw->write(batch)) co_return;
  }
}

TEST(Mux, PeerThatDoesNotReadIsDroppedNotBuffered) {
  asio::io_context io;
  auto [a, b] = MemoryTransport::pair(io.get_executor(), 2);
  MuxOptions o = hubOptions();
  o.max_frame = 4096;
  o.ping_interval = std::chrono::milliseconds(50);
  o.idle_timeout = std::chrono::milliseconds(300);
  auto mux = std::make_shared<Mux>(std::move(a), o);
  std::string reason;
  asio::co_spawn(io, runMuxInto(mux, &reason), asio::detached);
  asio::co_spawn(io, pingFlood(b.get()), asio::detached);
  io.run_for(std::chrono::seconds(5));
  EXPECT_NE(reason.find("not reading"), std::string::npos)
      << reason << " closed=" << mux->closed() << " frames_in=" << mux->stats().frames_in
      << " frames_out=" << mux->stats().frames_out;
}

TEST(Mux, HubRefusesStreamsOpenedByTheAgent) {
  asio::io_context io;
  auto [a, b] = MemoryTransport::pair(io.get_executor());
  auto mux = std::make_shared<Mux>(std::move(a), hubOptions());
  std::string reason;
  asio::co_spawn(io, runMuxInto(mux, &reason), asio::detached);
  asio::co_spawn(io, openOnHubSide(b.get()), asio::detached);
  io.run_for(std::chrono::seconds(2));
  EXPECT_NE(reason.find("may not open streams"), std::string::npos) << reason;
}

/// What one of a tunnel's tasks went through, as seen when the tunnel's run() returned.
struct TaskTrace {
  bool started = false;
  bool waited_out = false;  // its wait ended by itself (it should have been cancelled)
  bool ended = false;       // its frame unwound
  bool ended_before_run_returned = false;
};

/// A tunnel task that would wait `wait` (an hour: only cancellation ends it soon). When
/// `ignores_cancel`, it goes on waiting in slices, as a task stuck in an operation that does
/// not hear cancellation would.
asio::awaitable<void> tunnelTask(std::shared_ptr<TaskTrace> t, std::chrono::milliseconds wait,
                                 bool ignores_cancel) {
  struct End {
    TaskTrace* t;
    ~End() { t->ended = true; }
  } end{t.get()};
  t->started = true;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  if (!ignores_cancel) {
    timer.expires_after(wait);
    co_await timer.async_wait(asio::use_awaitable);
    t->waited_out = true;
    co_return;
  }
  co_await asio::this_coro::throw_if_cancelled(false);
  auto until = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < until) {
    timer.expires_after(std::chrono::milliseconds(20));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  t->waited_out = true;
}

asio::awaitable<void> runNoting(std::shared_ptr<Mux> mux,
                                std::vector<std::shared_ptr<TaskTrace>> traces, bool* returned) {
  co_await mux->run();
  for (auto& t : traces) t->ended_before_run_returned = t->ended;
  *returned = true;
}

asio::awaitable<void> closeAfter(std::shared_ptr<Mux> mux, std::chrono::milliseconds delay,
                                 size_t* tasks_seen) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
  *tasks_seen = mux->taskCount();
  mux->shutdown(proto::GoAwayCode::kNormal, "test over");
}

// What a tunnel owns (a stream's handler, a cache's watch) ends with it: by the time run()
// returns, every task, on the tunnel's strand or on another executor, has been cancelled and has
// unwound; one spawned after that starts cancelled.
TEST(Mux, TasksEndWithTheTunnelBeforeRunReturns) {
  asio::io_context io;
  auto [a, b] = MemoryTransport::pair(io.get_executor());
  auto hub = std::make_shared<Mux>(std::move(a), hubOptions());
  auto agent = std::make_shared<Mux>(std::move(b), agentOptions());
  auto on_strand = std::make_shared<TaskTrace>();
  auto elsewhere = std::make_shared<TaskTrace>();
  agent->spawn(tunnelTask(on_strand, std::chrono::hours(1), false));
  agent->spawn(asio::make_strand(io), tunnelTask(elsewhere, std::chrono::hours(1), false));
  std::string hub_reason;
  bool returned = false;
  size_t tasks_seen = 0;
  asio::co_spawn(io, runMuxInto(hub, &hub_reason), asio::detached);
  asio::co_spawn(io, runNoting(agent, {on_strand, elsewhere}, &returned), asio::detached);
  asio::co_spawn(io, closeAfter(hub, std::chrono::milliseconds(50), &tasks_seen), asio::detached);
  io.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(returned) << "the agent's run() did not return";
  EXPECT_EQ(tasks_seen, 0u) << "tasks counted on the other side";
  for (const auto& t : {on_strand, elsewhere}) {
    EXPECT_TRUE(t->started);
    EXPECT_FALSE(t->waited_out);
    EXPECT_TRUE(t->ended_before_run_returned);
  }
  EXPECT_EQ(agent->taskCount(), 0u);

  auto late = std::make_shared<TaskTrace>();
  agent->spawn(tunnelTask(late, std::chrono::hours(1), false));
  io.restart();
  io.run_for(std::chrono::seconds(1));
  EXPECT_TRUE(late->ended);
  EXPECT_FALSE(late->waited_out);
  EXPECT_EQ(agent->taskCount(), 0u);
}

// A task that does not hear its cancellation holds the tunnel's close at most kTaskGrace: run()
// returns without it (and says so in the log).
TEST(Mux, ATaskIgnoringCancellationDelaysRunOnlyByTheGrace) {
  asio::io_context io;
  auto [a, b] = MemoryTransport::pair(io.get_executor());
  auto hub = std::make_shared<Mux>(std::move(a), hubOptions());
  auto agent = std::make_shared<Mux>(std::move(b), agentOptions());
  auto stuck = std::make_shared<TaskTrace>();
  agent->spawn(tunnelTask(stuck, Mux::kTaskGrace * 5, true));
  std::string hub_reason;
  bool returned = false;
  size_t tasks_seen = 0;
  asio::co_spawn(io, runMuxInto(hub, &hub_reason), asio::detached);
  asio::co_spawn(io, runNoting(agent, {stuck}, &returned), asio::detached);
  asio::co_spawn(io, closeAfter(hub, std::chrono::milliseconds(20), &tasks_seen), asio::detached);
  // In slices: the stuck task keeps the context busy after run() has returned.
  auto deadline = std::chrono::steady_clock::now() + Mux::kTaskGrace * 3;
  while (!returned && std::chrono::steady_clock::now() < deadline)
    io.run_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(returned) << "run() waited past its grace for a task that does not end";
  EXPECT_TRUE(stuck->started);
  EXPECT_FALSE(stuck->ended_before_run_returned);
  EXPECT_FALSE(stuck->waited_out);
  EXPECT_EQ(agent->taskCount(), 1u);
}

}  // namespace
}  // namespace kubehub::tunnel
