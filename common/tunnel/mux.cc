#include "common/tunnel/mux.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>

#include "common/log/log.h"

namespace kubehub::tunnel {

namespace asio = boost::asio;
using proto::FrameType;

namespace {

std::string pingPayload() {
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  std::string p(8, '\0');
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<char>((static_cast<uint64_t>(now) >> (56 - 8 * i)) & 0xff);
  return p;
}

/// The round trip a PONG tells, if its payload is one of our PINGs (a peer could echo anything:
/// an implausible answer is not recorded).
std::optional<std::chrono::microseconds> roundTrip(std::string_view payload) {
  if (payload.size() != 8) return std::nullopt;
  uint64_t sent = 0;
  for (int i = 0; i < 8; ++i) sent = (sent << 8) | static_cast<unsigned char>(payload[i]);
  auto elapsed = std::chrono::steady_clock::now().time_since_epoch() -
                 std::chrono::steady_clock::duration(static_cast<int64_t>(sent));
  if (elapsed.count() < 0 || elapsed > std::chrono::hours(1)) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::microseconds>(elapsed);
}

}  // namespace

Mux::Mux(std::unique_ptr<Transport> transport, MuxOptions options)
    : transport_(std::move(transport)),
      options_(std::move(options)),
      executor_(transport_->executor()),
      peer_address_(transport_->peerAddress()),
      ping_timer_(executor_),
      loops_done_(executor_),
      conn_send_(options_.connection_window),
      conn_recv_(options_.connection_window),
      outbox_ready_(executor_),
      tasks_("tunnel " + options_.name) {}

Mux::~Mux() = default;

void Mux::spawn(asio::awaitable<void> task) { tasks_.spawn(executor_, std::move(task)); }

void Mux::spawn(const asio::any_io_executor& ex, asio::awaitable<void> task) {
  tasks_.spawn(ex, std::move(task));
}

asio::awaitable<std::string> Mux::run() {
  auto self = shared_from_this();
  // A process that stops its contexts without closing its tunnels (the agent on SIGTERM) destroys
  // this coroutine suspended: its streams, each holding the Mux, would then keep it, the open
  // handler and everything they hold alive in a cycle. Declared after `self`: runs before it.
  struct ReleaseStreams {
    Mux* mux;
    ~ReleaseStreams() {
      std::unordered_map<uint32_t, std::shared_ptr<Stream>> left;
      std::lock_guard lock(mux->mu_);
      left.swap(mux->streams_);
    }
  } release_streams{this};
  transport_->setMaxMessage(options_.max_frame);
  transport_->setIdleTimeout(options_.idle_timeout);
  loops_running_ = 3;
  for (int which = 0; which < 3; ++which) {
    asio::co_spawn(executor_, runLoop(self, which), asio::detached);
  }
  while (loops_running_ > 0) {
    co_await loops_done_.wait();
    // Cancelled (its owner is stopping): the tunnel says GOAWAY and closes as for shutdown(),
    // and this still waits for its loops, so the caller's cleanup after run() runs.
    auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
    if (cancelled != asio::cancellation_type::none) {
      co_await asio::this_coro::reset_cancellation_state();
      shutdown(proto::GoAwayCode::kNormal, "stopping");
    }
  }

  std::unordered_map<uint32_t, std::shared_ptr<Stream>> orphans;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    orphans.swap(streams_);
    control_q_.clear();
    data_q_.clear();
    for (auto& [id, stream] : orphans) stream->onResetLocked("tunnel closed: " + close_reason_);
  }
  log::info("tunnel closed", {{"cluster", options_.name},
                              {"peer", peer_address_},
                              {"reason", close_reason_},
                              {"streams_aborted", orphans.size()}});
  orphans.clear();
  // What lived for this tunnel ends with it, before the caller's cleanup after run(). A
  // cancellation of run() arriving now only shortens the wait: it must not throw past that
  // cleanup. (The awaited result in a named local: see the hub's finishStop.)
  co_await asio::this_coro::throw_if_cancelled(false);
  tasks_.stop();
  bool ended = co_await tasks_.asyncWait(kTaskGrace);
  if (!ended) {
    log::warn(
        "tunnel tasks still running after the tunnel closed",
        {{"cluster", options_.name}, {"tasks", tasks_.size()}, {"waited_ms", kTaskGrace.count()}});
  }
  co_return close_reason_;
}

asio::awaitable<void> Mux::runLoop(std::shared_ptr<Mux> self, int which) {
  switch (which) {
    case 0:
      co_await self->readLoop();
      break;
    case 1:
      co_await self->writeLoop();
      break;
    default:
      co_await self->pingLoop();
      break;
  }
  if (--self->loops_running_ == 0) self->loops_done_.notify();
}

void Mux::terminate(std::string reason) {
  if (terminated_) return;
  terminated_ = true;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    if (close_reason_.empty()) close_reason_ = std::move(reason);
  }
  transport_->abort();
  ping_timer_.cancel();
  outbox_ready_.notify();
}

asio::awaitable<void> Mux::readLoop() {
  for (;;) {
    boost::system::error_code ec = co_await transport_->read();
    if (ec) {
      terminate(ec == asio::error::eof || ec == asio::error::connection_reset
                    ? "peer closed the connection"
                    : "read failed: " + ec.message());
      co_return;
    }
    std::string_view bytes = transport_->message();
    stats_.messages_in.fetch_add(1, std::memory_order_relaxed);
    stats_.bytes_in.fetch_add(bytes.size(), std::memory_order_relaxed);
    absl::Status s = absl::OkStatus();
    while (!bytes.empty() && s.ok()) {
      auto frame = proto::decodeFrame(bytes, options_.max_frame);
      if (!frame.ok()) {
        s = frame.status();
        break;
      }
      stats_.frames_in.fetch_add(1, std::memory_order_relaxed);
      s = dispatch(*frame);
      bytes.remove_prefix(frame->size);
    }
    // Handlers of the streams this message opened run once all of it has been dispatched: a
    // handler starts inline (it is spawned on this strand), and a body that came with its OPEN
    // is then already in its stream.
    if (!opened_.empty()) {
      std::vector<std::pair<std::shared_ptr<Stream>, proto::RequestHead>> opened;
      opened.swap(opened_);
      for (auto& open : opened) on_open_(std::move(open.first), std::move(open.second));
    }
    if (!s.ok()) {
      std::string reason = "protocol error: " + std::string(s.message());
      log::warn("closing tunnel",
                {{"cluster", options_.name}, {"peer", peer_address_}, {"reason", reason}});
      goAwayOnStrand(proto::GoAwayCode::kProtocolError, reason);
      // Keep reading nothing more; the writer sends GOAWAY and closes.
      co_return;
    }
    if (terminated_) co_return;
  }
}

asio::awaitable<void> Mux::writeLoop() {
  std::vector<std::string> batch;
  for (;;) {
    batch.clear();
    bool closed = false;
    bool goaway = false;
    size_t bytes = 0;
    {
      std::lock_guard lock(mu_);
      // Everything queued goes out as one message (up to the frame limit), control first:
      // one syscall and one TLS record instead of one per frame.
      auto take = [&](std::deque<std::string>& q) {
        while (!q.empty() && !goaway &&
               (batch.empty() || bytes + q.front().size() <= options_.max_frame)) {
          goaway = static_cast<FrameType>(q.front()[0]) == FrameType::kGoAway;
          bytes += q.front().size();
          batch.push_back(std::move(q.front()));
          q.pop_front();
        }
      };
      take(control_q_);
      if (!going_away_) take(data_q_);
      closed = closed_;
    }
    if (batch.empty()) {
      if (closed || terminated_) co_return;
      co_await outbox_ready_.wait();
      continue;
    }
    write_started_ = std::chrono::steady_clock::now();
    boost::system::error_code ec = batch.size() == 1 ? co_await transport_->write(batch[0])
                                                     : co_await transport_->writeBatch(batch);
    write_started_.reset();
    if (ec) {
      terminate("write failed: " + ec.message());
      co_return;
    }
    stats_.messages_out.fetch_add(1, std::memory_order_relaxed);
    stats_.frames_out.fetch_add(batch.size(), std::memory_order_relaxed);
    stats_.bytes_out.fetch_add(bytes, std::memory_order_relaxed);
    if (goaway) {
      co_await transport_->close("goaway");
      terminate(close_reason_);
      co_return;
    }
  }
}

asio::awaitable<void> Mux::pingLoop() {
  while (!terminated_) {
    ping_timer_.expires_after(options_.ping_interval);
    boost::system::error_code ec;
    co_await ping_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (terminated_) co_return;
    // A peer that stops reading blocks our writer without ever going idle on its side: give up
    // on a write that made no progress for as long as the idle timeout.
    if (write_started_ &&
        std::chrono::steady_clock::now() - *write_started_ > options_.idle_timeout) {
      terminate("a write to the peer stalled for " +
                std::to_string(options_.idle_timeout.count() / 1000) +
                "s (the peer is not reading)");
      co_return;
    }
    std::lock_guard lock(mu_);
    if (closed_) co_return;
    enqueueControlLocked(proto::encodeFrame(FrameType::kPing, 0, 0, pingPayload()));
  }
}

absl::Status Mux::dispatch(const proto::FrameView& f) {
  switch (f.type) {
    case FrameType::kPing: {
      std::lock_guard lock(mu_);
      enqueueControlLocked(proto::encodeFrame(FrameType::kPong, 0, 0, f.payload));
      return absl::OkStatus();
    }
    case FrameType::kPong:
      if (auto rtt = roundTrip(f.payload)) stats_.rtt_us.store(rtt->count());
      return absl::OkStatus();
    case FrameType::kGoAway: {
      auto info = proto::decodeGoAway(f.payload);
      std::string reason = info.ok() ? info->reason : "malformed GOAWAY";
      terminate("peer sent GOAWAY: " + reason);
      return absl::OkStatus();
    }
    case FrameType::kControl: {
      if (control_assembly_.size() + f.payload.size() > proto::kMaxControlMessage) {
        return absl::InvalidArgumentError("control message exceeds 16 MiB");
      }
      control_assembly_.append(f.payload);
      if ((f.flags & proto::kFlagMore) == 0) {
        std::string message;
        message.swap(control_assembly_);
        if (on_control_) on_control_(std::move(message));
      }
      return absl::OkStatus();
    }
    case FrameType::kHello:
    case FrameType::kWelcome:
      return absl::InvalidArgumentError("handshake frame after the handshake");
    case FrameType::kWindow: {
      auto inc = proto::decodeWindow(f.payload);
      if (!inc.ok()) return inc.status();
      std::lock_guard lock(mu_);
      if (f.stream == 0) {
        if (!conn_send_.grant(*inc))
          return absl::InvalidArgumentError("connection window overflow");
        for (auto& [id, stream] : streams_) stream->writable_.notify();
        return absl::OkStatus();
      }
      if (auto it = streams_.find(f.stream);
          it != streams_.end() && !it->second->onWindowLocked(*inc)) {
        return absl::InvalidArgumentError("stream window overflow");
      }
      return absl::OkStatus();
    }
    case FrameType::kOpen: {
      if (options_.opens_streams) return absl::InvalidArgumentError("peer may not open streams");
      if (f.stream <= last_peer_stream_)
        return absl::InvalidArgumentError("stream id not increasing");
      last_peer_stream_ = f.stream;
      auto head = proto::decodeRequestHead(f.payload);
      if (!head.ok()) return head.status();
      head->internal = (f.flags & proto::kFlagInternal) != 0;
      bool end = (f.flags & proto::kFlagEnd) != 0;
      std::shared_ptr<Stream> stream;
      {
        std::lock_guard lock(mu_);
        if (streams_.size() >= options_.max_streams) {
          enqueueControlLocked(proto::encodeFrame(
              FrameType::kReset, 0, f.stream,
              proto::encodeReset({proto::ResetCode::kRefused, "too many concurrent streams"})));
          return absl::OkStatus();
        }
        stream =
            std::make_shared<Stream>(shared_from_this(), f.stream, options_.stream_window,
                                     options_.stream_window, options_.max_stream_window, executor_);
        stream->remote_ended_ = end;
        stream->open_ended_ = end;
        streams_.emplace(f.stream, stream);
      }
      stats_.streams_opened.fetch_add(1, std::memory_order_relaxed);
      if (on_open_) {
        opened_.emplace_back(std::move(stream), std::move(*head));
      } else {
        stream->reset(proto::ResetCode::kRefused, "no handler");
      }
      return absl::OkStatus();
    }
    case FrameType::kResponse: {
      if (!options_.opens_streams) return absl::InvalidArgumentError("unexpected RESPONSE");
      auto head = proto::decodeResponseHead(f.payload);
      if (!head.ok()) return head.status();
      std::lock_guard lock(mu_);
      auto it = streams_.find(f.stream);
      if (it == streams_.end()) return absl::OkStatus();
      auto stream = it->second;
      if (stream->response_.has_value()) return absl::InvalidArgumentError("second RESPONSE");
      stream->onResponseLocked(std::move(*head), (f.flags & proto::kFlagEnd) != 0);
      if (stream->doneLocked()) removeStreamLocked(f.stream);
      return absl::OkStatus();
    }
    case FrameType::kData: {
      std::lock_guard lock(mu_);
      uint32_t n = static_cast<uint32_t>(f.payload.size());
      if (!conn_recv_.receive(n)) return absl::InvalidArgumentError("connection window exceeded");
      // Connection credit goes back as soon as bytes move into a stream buffer: each stream
      // buffer is bounded by its own window, so slow streams cannot starve the others.
      returnConnectionCreditLocked(n);
      auto it = streams_.find(f.stream);
      if (it == streams_.end()) return absl::OkStatus();  // late data for a finished stream
      auto stream = it->second;
      if (!stream->onDataLocked(f.payload, (f.flags & proto::kFlagEnd) != 0)) {
        enqueueControlLocked(proto::encodeFrame(
            FrameType::kReset, 0, f.stream,
            proto::encodeReset({proto::ResetCode::kFlowControlError, "stream window exceeded"})));
        stream->onResetLocked("peer exceeded the stream window");
        removeStreamLocked(f.stream);
        return absl::OkStatus();
      }
      if (stream->doneLocked()) removeStreamLocked(f.stream);
      return absl::OkStatus();
    }
    case FrameType::kReset: {
      auto info = proto::decodeReset(f.payload);
      if (!info.ok()) return info.status();
      std::lock_guard lock(mu_);
      auto it = streams_.find(f.stream);
      if (it == streams_.end()) return absl::OkStatus();
      it->second->onResetLocked("stream reset by peer (" +
                                std::string(proto::resetCodeName(info->code)) +
                                "): " + info->reason);
      removeStreamLocked(f.stream);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError("unhandled frame type");
}

absl::StatusOr<std::shared_ptr<Stream>> Mux::openStream(const proto::RequestHead& head, bool end) {
  size_t sent = 0;
  return openStream(head, end, std::string_view(), &sent);
}

absl::StatusOr<std::shared_ptr<Stream>> Mux::openStream(const proto::RequestHead& head,
                                                        std::string_view body, size_t* sent) {
  return openStream(head, false, body, sent);
}

absl::StatusOr<std::shared_ptr<Stream>> Mux::openStream(const proto::RequestHead& head, bool end,
                                                        std::string_view body, size_t* sent) {
  *sent = 0;
  auto payload = proto::encodeRequestHead(head);
  if (!payload.ok()) return payload.status();
  if (payload->size() + proto::kHeaderSize > options_.max_frame) {
    return absl::InvalidArgumentError("request head of " + std::to_string(payload->size()) +
                                      " bytes does not fit a tunnel frame (" +
                                      std::to_string(options_.max_frame) + " bytes)");
  }
  uint8_t flags = end ? proto::kFlagEnd : 0;
  if (head.internal && options_.mark_internal) flags |= proto::kFlagInternal;
  std::lock_guard lock(mu_);
  if (closed_ || going_away_) return absl::UnavailableError("tunnel is closing");
  if (streams_.size() >= options_.max_streams) {
    return absl::ResourceExhaustedError("too many concurrent streams on this tunnel");
  }
  uint32_t id = next_stream_id_++;
  auto stream =
      std::make_shared<Stream>(shared_from_this(), id, options_.stream_window,
                               options_.stream_window, options_.max_stream_window, executor_);
  stream->local_ended_ = end;
  streams_.emplace(id, stream);
  stats_.streams_opened.fetch_add(1, std::memory_order_relaxed);
  enqueueControlLocked(proto::encodeFrame(FrameType::kOpen, flags, id, *payload));
  // The body behind it, as far as the windows go (the control queue goes first, so the OPEN
  // leads); the last piece carries the end when it is the whole body.
  while (!body.empty()) {
    int64_t credit = std::min({stream->send_.available(), conn_send_.available(),
                               static_cast<int64_t>(proto::kMaxDataChunk)});
    if (credit <= 0) break;
    size_t n = std::min(static_cast<size_t>(credit), body.size());
    stream->send_.consume(static_cast<uint32_t>(n));
    conn_send_.consume(static_cast<uint32_t>(n));
    bool last = n == body.size();
    enqueueDataLocked(
        proto::encodeFrame(FrameType::kData, last ? proto::kFlagEnd : 0, id, body.substr(0, n)));
    if (last) stream->local_ended_ = true;
    body.remove_prefix(n);
    *sent += n;
  }
  return stream;
}

void Mux::sendControl(std::string_view message) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  size_t chunk = options_.max_frame - proto::kHeaderSize;
  do {
    size_t n = std::min(chunk, message.size());
    bool more = n < message.size();
    enqueueControlLocked(proto::encodeFrame(FrameType::kControl, more ? proto::kFlagMore : 0, 0,
                                            message.substr(0, n)));
    message.remove_prefix(n);
  } while (!message.empty());
}

void Mux::shutdown(proto::GoAwayCode code, std::string reason) {
  asio::post(executor_, [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
    self->goAwayOnStrand(code, std::move(reason));
  });
}

void Mux::goAwayOnStrand(proto::GoAwayCode code, std::string reason) {
  std::lock_guard lock(mu_);
  if (closed_ || going_away_) return;
  going_away_ = true;
  if (close_reason_.empty()) close_reason_ = reason;
  control_q_.push_front(
      proto::encodeFrame(FrameType::kGoAway, 0, 0, proto::encodeGoAway({code, reason})));
  outbox_ready_.notify();
}

size_t Mux::streamCount() const {
  std::lock_guard lock(mu_);
  return streams_.size();
}

bool Mux::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

bool Mux::closing() const {
  std::lock_guard lock(mu_);
  return closed_ || going_away_;
}

void Mux::enqueueControlLocked(std::string frame) {
  if (closed_) return;
  // Control frames are small and bounded by the streams, except those a peer provokes (PONGs for
  // PINGs) while not reading: cap the queue rather than let such a peer grow it without end.
  constexpr size_t kMaxQueuedControlFrames = 65536;
  if (control_q_.size() >= kMaxQueuedControlFrames) {
    if (!control_overflow_) {
      control_overflow_ = true;
      asio::post(executor_, [self = shared_from_this()] {
        self->goAwayOnStrand(proto::GoAwayCode::kProtocolError,
                             "the peer does not read what it asks for (control queue full)");
      });
    }
    return;
  }
  control_q_.push_back(std::move(frame));
  outbox_ready_.notify();
}

void Mux::enqueueDataLocked(std::string frame) {
  if (closed_) return;
  data_q_.push_back(std::move(frame));
  outbox_ready_.notify();
}

void Mux::removeStreamLocked(uint32_t id) { streams_.erase(id); }

void Mux::returnConnectionCreditLocked(uint32_t n) {
  if (uint32_t inc = conn_recv_.consume(n); inc > 0) {
    enqueueControlLocked(proto::encodeFrame(FrameType::kWindow, 0, 0, proto::encodeWindow(inc)));
  }
}

}  // namespace kubehub::tunnel
