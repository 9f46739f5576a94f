#pragma once
/// One multiplexed stream of a tunnel: an HTTP exchange (request head, request body, response
/// head, response body, or raw bytes after an upgrade) with its own flow-control windows.
///
/// Thread rules: every method may be called from any thread; state is guarded by the owning
/// Mux's mutex and waits use thread-safe signals. At most one coroutine reads (read or
/// responseHead) and at most one writes at a time.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/net/async_signal.h"
#include "proto/flow_window.h"
#include "proto/frame.h"

namespace kubehub::tunnel {

class Mux;

/// What one read() returns: bytes (possibly empty) and whether the peer ended its side.
struct StreamChunk {
  std::string data;
  bool end = false;
};

class Stream {
 public:
  /// The receive window starts at `recv_window` and may grow to `max_recv_window` while the
  /// reader keeps up (proto::RecvWindow).
  Stream(std::shared_ptr<Mux> mux, uint32_t id, uint32_t send_window, uint32_t recv_window,
         uint32_t max_recv_window, const boost::asio::any_io_executor& ex);
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  uint32_t id() const { return id_; }

  /// Waits for bytes from the peer. Errors when the stream was reset or the tunnel closed.
  /// Returns everything buffered so far (bounded by the receive window).
  boost::asio::awaitable<absl::StatusOr<StreamChunk>> read();
  /// True when read() would return without waiting (bytes or the end buffered, or reset).
  bool readReady() const;
  /// A copy of the first `max` bytes buffered for read(), which still returns them.
  std::string peek(size_t max) const;
  /// Returns credit for n bytes the caller has passed on; call after writing them downstream so
  /// that a slow consumer slows down this stream's producer, and only this stream's.
  void consumed(size_t n);

  /// Hub side: waits for the agent's response head (again and again: the head stays). A
  /// cancelled wait returns a Cancelled status.
  boost::asio::awaitable<absl::StatusOr<proto::ResponseHead>> responseHead();
  /// Agent side: sends the response head; `end` when there is no body.
  void sendResponseHead(const proto::ResponseHead& head, bool end);

  /// Sends bytes, waiting for credit as needed (cut into DATA frames).
  boost::asio::awaitable<absl::Status> write(std::string_view data);
  /// Ends this side of the stream (half-close).
  void finish();
  /// Aborts the stream in both directions and tells the peer why.
  void reset(proto::ResetCode code, std::string_view reason);

  /// Returns once the stream is reset (by either side) or the tunnel closes.
  boost::asio::awaitable<void> waitReset();
  bool isReset() const;
  /// True once the peer ended its side (for the agent: the request had no body, or all of it
  /// arrived).
  bool peerEnded() const;
  /// Agent side: true when the OPEN itself ended the hub's side (the request has no body). Fixed
  /// when the stream opens, unlike peerEnded(), which a body arriving with the OPEN (in the same
  /// message, before any handler runs) turns true as well.
  bool openEnded() const { return open_ended_; }
  /// Why the stream was reset, empty if it was not.
  std::string resetReason() const;

 private:
  friend class Mux;

  // Called by the Mux with its mutex held.
  bool onDataLocked(std::string_view payload, bool end);
  void onResponseLocked(proto::ResponseHead head, bool end);
  /// False when the increment would push the window past 2^31 (the peer's protocol error).
  bool onWindowLocked(uint32_t increment);
  void onResetLocked(std::string reason);
  void wakeAllLocked();
  bool doneLocked() const { return reset_ || (local_ended_ && remote_ended_); }

  std::shared_ptr<Mux> mux_;
  const uint32_t id_;
  bool open_ended_ = false;  // set by the Mux before the stream is shared, then read-only
  // Guarded by mux_->mu_.
  proto::SendWindow send_;
  proto::RecvWindow recv_;
  std::string inbound_;
  std::optional<proto::ResponseHead> response_;
  bool local_ended_ = false;
  bool remote_ended_ = false;
  bool reset_ = false;
  std::string reset_reason_;
  net::AsyncSignal readable_;
  net::AsyncSignal writable_;
  net::AsyncSignal reset_signal_;
};

}  // namespace kubehub::tunnel
