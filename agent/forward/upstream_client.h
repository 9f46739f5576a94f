#pragma once
/// The agent's HTTPS client to its edge API server: a small pool of keep-alive connections,
/// the forwarding of tunnel streams (plain, chunked and upgraded exchanges, streamed both ways
/// without buffering whole bodies), and small GETs for the agent's own use.
/// Thread rules: use from one strand (the agent runs a single-threaded io_context).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/kube/kube_target.h"
#include "agent/metrics/agent_metrics.h"
#include "common/tunnel/stream.h"
#include "proto/frame.h"

namespace kubehub::agent {

struct UpstreamOptions {
  std::chrono::milliseconds connect_timeout{10000};
  /// Time allowed for the API server's response head, and between the bytes of a body that is
  /// not a long-running request's (k8s::isLongRunning).
  std::chrono::milliseconds response_timeout{60000};
  /// Time allowed for each write to the API server (the request head, a piece of a body).
  std::chrono::milliseconds write_timeout{60000};
  /// Keep-alive connections kept for the next requests. Every request in flight holds one (the
  /// hub multiplexes its users' requests, so dozens may run at once); a cap below the usual
  /// concurrency closed and re-handshook a connection for a share of all requests (at 64
  /// concurrent GETs, 18% of them: 3,100 instead of 5,500+ a second).
  size_t max_idle_connections = 256;
  /// A connection idle for longer is closed (by a timer, whether or not requests come).
  std::chrono::milliseconds idle_connection_timeout{90000};
  /// Optional.
  std::shared_ptr<AgentMetrics> metrics;
};

struct SimpleResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

class UpstreamClient {
 public:
  static absl::StatusOr<std::shared_ptr<UpstreamClient>> create(boost::asio::any_io_executor ex,
                                                                KubeTarget target,
                                                                UpstreamOptions options);
  ~UpstreamClient();

  /// Executes the stream's request against the API server and streams the answer back until
  /// done or until the hub resets the stream. A request admitForwardedRequest refuses is
  /// answered 403 without reaching the API server.
  static boost::asio::awaitable<void> forward(std::shared_ptr<UpstreamClient> self,
                                              std::shared_ptr<tunnel::Stream> stream,
                                              proto::RequestHead head, bool hub_marks_internal);

  /// GET with the whole body (bounded to 32 MiB).
  static boost::asio::awaitable<absl::StatusOr<SimpleResponse>> get(
      std::shared_ptr<UpstreamClient> self, std::string target);

  const KubeTarget& target() const;

  struct Impl;

 private:
  explicit UpstreamClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kubehub::agent
