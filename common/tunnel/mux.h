#pragma once
/// The tunnel multiplexer: many concurrent streams over one Transport, with per-stream and
/// per-connection credit windows, heartbeats and control messages (see proto/PROTOCOL.md).
///
/// Thread rules: run() executes on the transport's executor (one strand per tunnel): one reader,
/// one writer (fed by an outbox) and one pinger coroutine. openStream, sendControl, shutdown and
/// all Stream methods are thread-safe.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net/async_signal.h"
#include "common/net/task_group.h"
#include "common/tunnel/stream.h"
#include "common/tunnel/transport.h"
#include "proto/flow_window.h"
#include "proto/frame.h"

namespace kubehub::tunnel {

struct MuxOptions {
  /// The hub opens streams; the agent serves them.
  bool opens_streams = true;
  uint32_t max_frame = proto::kMaxFrameSize;
  uint32_t stream_window = 256 * 1024;
  /// How far a stream's receive window may grow while its reader keeps up (proto::RecvWindow).
  uint32_t max_stream_window = 4 * 1024 * 1024;
  uint32_t connection_window = 16 * 1024 * 1024;
  std::chrono::milliseconds ping_interval{15000};
  /// The tunnel is declared dead when nothing arrives for this long.
  std::chrono::milliseconds idle_timeout{45000};
  uint32_t max_streams = 1024;
  /// Hub side: the agent offered proto::kCapabilityInternalOpen, so OPENs of the hub's own
  /// requests (RequestHead::internal) carry kFlagInternal. Without it the flag is never sent
  /// (an older agent would take it for a protocol error).
  bool mark_internal = false;
  /// For log lines: the cluster this tunnel serves.
  std::string name;
};

struct MuxStats {
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> frames_in{0};
  std::atomic<uint64_t> frames_out{0};
  /// Transport messages (each carries one or more frames).
  std::atomic<uint64_t> messages_in{0};
  std::atomic<uint64_t> messages_out{0};
  std::atomic<uint64_t> streams_opened{0};
  std::atomic<uint64_t> credit_stalls{0};
  /// Round trip of the last PING this side sent, in microseconds (-1 until a PONG came back).
  std::atomic<int64_t> rtt_us{-1};
};

class Mux : public std::enable_shared_from_this<Mux> {
 public:
  using OpenHandler = std::function<void(std::shared_ptr<Stream>, proto::RequestHead)>;
  using ControlHandler = std::function<void(std::string)>;

  Mux(std::unique_ptr<Transport> transport, MuxOptions options);
  ~Mux();

  /// Agent side: called on the tunnel strand for each stream the hub opens, once the message
  /// that carried its OPEN has been dispatched (what came with the OPEN is in the stream).
  void setOpenHandler(OpenHandler handler) { on_open_ = std::move(handler); }
  /// Called on the tunnel strand with each complete control message.
  void setControlHandler(ControlHandler handler) { on_control_ = std::move(handler); }

  /// Runs the tunnel until it closes; returns why. Call once, on transport executor. Cancelling
  /// it (a TaskGroup stopping) sends GOAWAY and still returns once the tunnel has closed. Before
  /// returning it cancels the tunnel's tasks (spawn) and waits for them, at most kTaskGrace.
  boost::asio::awaitable<std::string> run();

  /// Starts `task` owned by this tunnel: the work that lives as long as the tunnel does (a
  /// stream's handler, a cache's watches, a timer that writes control messages). Once the tunnel
  /// has closed, run() cancels it (its next co_await throws operation_aborted, so it cleans up
  /// by RAII) and waits for it; a task spawned after that starts cancelled. Never spawn here
  /// what awaits this tunnel's run() (it would wait for itself). Any thread.
  void spawn(boost::asio::awaitable<void> task);
  /// The same on `ex` (one handler at a time: a strand or a one-thread context), for work that
  /// runs off the tunnel's strand.
  void spawn(const boost::asio::any_io_executor& ex, boost::asio::awaitable<void> task);
  /// Tasks running now (spawn).
  size_t taskCount() const { return tasks_.size(); }

  /// How long run() waits for its cancelled tasks before returning without them (a task stuck
  /// in an operation that ignores cancellation is logged, not waited for forever).
  static constexpr std::chrono::milliseconds kTaskGrace{2000};

  /// Hub side: opens a stream carrying `head`. `end` when the request has no body.
  /// InvalidArgument when the head does not fit one OPEN frame (too many or too long headers;
  /// nothing is truncated), ResourceExhausted over max_streams, Unavailable when closing.
  absl::StatusOr<std::shared_ptr<Stream>> openStream(const proto::RequestHead& head, bool end);
  /// The same for a request whose whole body is in hand (a create's JSON, read with its head):
  /// the OPEN, the body's DATA and the end are queued together, so they cross the tunnel in one
  /// message (one write here, one read and one wake-up at the agent) instead of the OPEN racing
  /// ahead alone. As much of `body` as the windows allow is sent; `*sent` says how much, and this
  /// side has ended only when it is all of it (the caller writes the rest, then finishes).
  absl::StatusOr<std::shared_ptr<Stream>> openStream(const proto::RequestHead& head,
                                                     std::string_view body, size_t* sent);
  /// Sends a control message (any size up to kMaxControlMessage; split into frames).
  void sendControl(std::string_view message);
  /// Sends GOAWAY and closes the tunnel. Any thread.
  void shutdown(proto::GoAwayCode code, std::string reason);

  size_t streamCount() const;
  bool closed() const;
  /// Closed, or going away (GOAWAY sent or received): it opens no new stream.
  bool closing() const;
  const MuxStats& stats() const { return stats_; }
  const std::string& name() const { return options_.name; }
  const std::string& peerAddress() const { return peer_address_; }
  boost::asio::any_io_executor executor() const { return executor_; }

 private:
  friend class Stream;

  boost::asio::awaitable<void> readLoop();
  boost::asio::awaitable<void> writeLoop();
  boost::asio::awaitable<void> pingLoop();
  static boost::asio::awaitable<void> runLoop(std::shared_ptr<Mux> self, int which);
  absl::Status dispatch(const proto::FrameView& frame);
  absl::StatusOr<std::shared_ptr<Stream>> openStream(const proto::RequestHead& head, bool end,
                                                     std::string_view body, size_t* sent);
  void terminate(std::string reason);
  void goAwayOnStrand(proto::GoAwayCode code, std::string reason);

  // With mu_ held.
  void enqueueControlLocked(std::string frame);
  void enqueueDataLocked(std::string frame);
  void removeStreamLocked(uint32_t id);
  void returnConnectionCreditLocked(uint32_t n);

  std::unique_ptr<Transport> transport_;
  const MuxOptions options_;
  boost::asio::any_io_executor executor_;
  std::string peer_address_;
  MuxStats stats_;
  OpenHandler on_open_;
  /// Streams the message being read opened, for on_open_ once it is all dispatched (read loop).
  std::vector<std::pair<std::shared_ptr<Stream>, proto::RequestHead>> opened_;
  ControlHandler on_control_;

  // Strand-only state.
  boost::asio::steady_timer ping_timer_;
  int loops_running_ = 0;
  net::AsyncSignal loops_done_;
  bool terminated_ = false;
  std::string control_assembly_;
  uint32_t last_peer_stream_ = 0;
  std::optional<std::chrono::steady_clock::time_point> write_started_;

  mutable std::mutex mu_;
  // Guarded by mu_.
  std::unordered_map<uint32_t, std::shared_ptr<Stream>> streams_;
  std::deque<std::string> control_q_;
  std::deque<std::string> data_q_;
  proto::SendWindow conn_send_;
  proto::RecvWindow conn_recv_;
  bool closed_ = false;
  bool going_away_ = false;
  bool control_overflow_ = false;
  std::string close_reason_;
  uint32_t next_stream_id_ = 1;
  net::AsyncSignal outbox_ready_;

  // Declared last: destroyed first, so a task still running when the Mux goes is told to stop
  // while the rest of the tunnel is intact.
  net::TaskGroup tasks_;
};

}  // namespace kubehub::tunnel
