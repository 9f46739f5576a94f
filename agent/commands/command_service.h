#pragma once
/// The agent's own endpoint for native commands, reached through the tunnel at
/// `/kubehub/v1/commands` (GET: what this cluster offers) and `/kubehub/v1/commands/NAME`
/// (POST with the parameters as a JSON object: run it). Such paths are answered here and never
/// reach the API server. A run answers 200 at once and then streams newline-delimited JSON:
/// `{"stream":"stdout"|"stderr","data":"..."}` events as output is produced, then one final
/// `{"exitCode":N}` or `{"error":"timeout"|"output limit"|...,"message":"..."}`.
/// Runs on the agent's single-threaded io_context.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "agent/commands/command_config.h"
#include "agent/metrics/agent_metrics.h"
#include "common/tunnel/stream.h"
#include "proto/frame.h"

namespace kubehub::agent {

class CommandService {
 public:
  /// `commands` null: the agent offers none (listing empty, every run 404).
  CommandService(std::shared_ptr<const CommandSet> commands, std::shared_ptr<AgentMetrics> metrics);

  /// True for the targets this service answers (anything under /kubehub/).
  static bool handles(std::string_view target);

  /// Answers a request with a Kubernetes Status of `code` (a host agent's answer to every path
  /// an API server would serve).
  static boost::asio::awaitable<void> refuse(std::shared_ptr<tunnel::Stream> stream, int code,
                                             std::string message);

  static boost::asio::awaitable<void> serve(std::shared_ptr<CommandService> self,
                                            std::shared_ptr<tunnel::Stream> stream,
                                            proto::RequestHead head);

 private:
  std::shared_ptr<const CommandSet> commands_;
  std::shared_ptr<AgentMetrics> metrics_;
};

}  // namespace kubehub::agent
