#include "common/tunnel/stream.h"

#include <algorithm>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/this_coro.hpp>

#include "common/tunnel/mux.h"

namespace kubehub::tunnel {

namespace asio = boost::asio;

Stream::Stream(std::shared_ptr<Mux> mux, uint32_t id, uint32_t send_window, uint32_t recv_window,
               uint32_t max_recv_window, const asio::any_io_executor& ex)
    : mux_(std::move(mux)),
      id_(id),
      send_(send_window),
      recv_(recv_window, max_recv_window),
      readable_(ex),
      writable_(ex),
      reset_signal_(ex) {}

asio::awaitable<absl::StatusOr<StreamChunk>> Stream::read() {
  for (;;) {
    {
      std::lock_guard lock(mux_->mu_);
      if (!inbound_.empty() || remote_ended_) {
        StreamChunk chunk;
        chunk.data.swap(inbound_);
        chunk.end = remote_ended_;
        co_return chunk;
      }
      if (reset_) co_return absl::UnavailableError(reset_reason_);
    }
    co_await readable_.wait();
  }
}

bool Stream::readReady() const {
  std::lock_guard lock(mux_->mu_);
  return !inbound_.empty() || remote_ended_ || reset_;
}

std::string Stream::peek(size_t max) const {
  std::lock_guard lock(mux_->mu_);
  return inbound_.substr(0, max);
}

void Stream::consumed(size_t n) {
  if (n == 0) return;
  std::lock_guard lock(mux_->mu_);
  if (reset_ || mux_->closed_) return;
  uint32_t increment = recv_.consume(static_cast<uint32_t>(n));
  if (increment > 0 && !remote_ended_) {
    mux_->enqueueControlLocked(
        proto::encodeFrame(proto::FrameType::kWindow, 0, id_, proto::encodeWindow(increment)));
  }
}

asio::awaitable<absl::StatusOr<proto::ResponseHead>> Stream::responseHead() {
  // Cancelled (the losing side of a race, as when the hub cache catches up before the edge
  // answers a read sent to both): a Cancelled status. (Not throw_if_cancelled(false), as in
  // waitReset: that holds for the whole chain of coroutines of the caller, and this one is also
  // awaited directly, as by the cache's probe from a user's connection.)
  for (;;) {
    {
      std::lock_guard lock(mux_->mu_);
      if (response_.has_value()) co_return *response_;
      if (reset_) co_return absl::UnavailableError(reset_reason_);
    }
    co_await readable_.wait();
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
      co_return absl::CancelledError("waiting for the response head was cancelled");
  }
}

void Stream::sendResponseHead(const proto::ResponseHead& head, bool end) {
  auto payload = proto::encodeResponseHead(head);
  if (payload.ok() && payload->size() + proto::kHeaderSize > mux_->options_.max_frame) {
    payload = absl::InvalidArgumentError("response head does not fit a tunnel frame");
  }
  if (!payload.ok()) {
    // Never a truncated head: the exchange fails visibly instead.
    reset(proto::ResetCode::kUpstreamUnavailable,
          "the API server's response head cannot cross the tunnel: " +
              std::string(payload.status().message()));
    return;
  }
  std::lock_guard lock(mux_->mu_);
  if (reset_ || local_ended_) return;
  mux_->enqueueControlLocked(
      proto::encodeFrame(proto::FrameType::kResponse, end ? proto::kFlagEnd : 0, id_, *payload));
  if (end) {
    local_ended_ = true;
    if (doneLocked()) mux_->removeStreamLocked(id_);
  }
}

asio::awaitable<absl::Status> Stream::write(std::string_view data) {
  while (!data.empty()) {
    {
      std::lock_guard lock(mux_->mu_);
      if (reset_) co_return absl::UnavailableError(reset_reason_);
      if (local_ended_) co_return absl::FailedPreconditionError("write after end of stream");
      int64_t credit = std::min({send_.available(), mux_->conn_send_.available(),
                                 static_cast<int64_t>(proto::kMaxDataChunk)});
      if (credit > 0) {
        size_t n = std::min(static_cast<size_t>(credit), data.size());
        send_.consume(static_cast<uint32_t>(n));
        mux_->conn_send_.consume(static_cast<uint32_t>(n));
        mux_->enqueueDataLocked(
            proto::encodeFrame(proto::FrameType::kData, 0, id_, data.substr(0, n)));
        data.remove_prefix(n);
        continue;
      }
      mux_->stats_.credit_stalls.fetch_add(1, std::memory_order_relaxed);
    }
    co_await writable_.wait();
  }
  co_return absl::OkStatus();
}

void Stream::finish() {
  std::lock_guard lock(mux_->mu_);
  if (reset_ || local_ended_) return;
  local_ended_ = true;
  mux_->enqueueDataLocked(proto::encodeFrame(proto::FrameType::kData, proto::kFlagEnd, id_, {}));
  if (doneLocked()) mux_->removeStreamLocked(id_);
}

void Stream::reset(proto::ResetCode code, std::string_view reason) {
  std::lock_guard lock(mux_->mu_);
  if (reset_) return;
  bool was_done = local_ended_ && remote_ended_;
  reset_ = true;
  reset_reason_ = "stream reset locally: " + std::string(reason);
  if (!was_done && !mux_->closed_) {
    auto frame = proto::encodeFrame(proto::FrameType::kReset, 0, id_,
                                    proto::encodeReset({code, std::string(reason)}));
    // This side has ended (an answer complete before the peer's upload, which it will not read):
    // the RESET only stops that upload, and goes behind this side's last DATA and END. As a
    // control frame it would overtake them, and the peer, dropping what comes for a reset
    // stream, would lose the end of the answer.
    if (local_ended_) {
      mux_->enqueueDataLocked(std::move(frame));
    } else {
      mux_->enqueueControlLocked(std::move(frame));
    }
  }
  mux_->removeStreamLocked(id_);
  wakeAllLocked();
}

asio::awaitable<void> Stream::waitReset() {
  // Cancelled (it is one side of an `||` whose other side finished first, once per forwarded
  // request): return, never throw. The exception Asio throws by default at the next co_await
  // after a cancellation cost the agent ~3% of its CPU per write in unwinding.
  co_await asio::this_coro::throw_if_cancelled(false);
  for (;;) {
    {
      std::lock_guard lock(mux_->mu_);
      if (reset_) co_return;
    }
    co_await reset_signal_.wait();
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
      co_return;
  }
}

bool Stream::isReset() const {
  std::lock_guard lock(mux_->mu_);
  return reset_;
}

bool Stream::peerEnded() const {
  std::lock_guard lock(mux_->mu_);
  return remote_ended_;
}

std::string Stream::resetReason() const {
  std::lock_guard lock(mux_->mu_);
  return reset_reason_;
}

bool Stream::onDataLocked(std::string_view payload, bool end) {
  if (remote_ended_) return false;
  if (!recv_.receive(static_cast<uint32_t>(payload.size()))) return false;
  inbound_.append(payload);
  if (end) remote_ended_ = true;
  readable_.notify();
  return true;
}

void Stream::onResponseLocked(proto::ResponseHead head, bool end) {
  response_ = std::move(head);
  if (end) remote_ended_ = true;
  readable_.notify();
}

bool Stream::onWindowLocked(uint32_t increment) {
  if (!send_.grant(increment)) return false;
  writable_.notify();
  return true;
}

void Stream::onResetLocked(std::string reason) {
  if (reset_) return;
  reset_ = true;
  reset_reason_ = std::move(reason);
  wakeAllLocked();
}

void Stream::wakeAllLocked() {
  readable_.notify();
  writable_.notify();
  reset_signal_.notify();
}

}  // namespace kubehub::tunnel
