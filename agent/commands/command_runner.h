#pragma once
/// Runs one native command call: fork/exec without a shell, the child in its own process group
/// (so a timeout or a departed caller kills everything it started), stdin /dev/null, no
/// inherited descriptors, as the agent's user. Output is handed on as it is produced, stdout
/// and stderr apart, within the call's output limit and timeout.
/// Thread rules: a call runs on the executor of the coroutine that awaits it; the child is
/// killed and reaped when that coroutine ends or is cancelled, whichever way.

#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>

#include "agent/commands/command_config.h"

namespace kubehub::agent {

enum class OutputStream { kStdout, kStderr };

/// Where a call's output goes as it is produced.
class CommandOutput {
 public:
  virtual ~CommandOutput() = default;
  /// False when nobody listens any more: the command is stopped.
  virtual boost::asio::awaitable<bool> write(OutputStream which, std::string data) = 0;
};

struct CommandResult {
  enum class Outcome {
    kExited,       // exit_code is set
    kSignaled,     // killed by a signal from elsewhere; signal is set
    kTimeout,      // ran longer than its timeout: the group got SIGTERM, then SIGKILL after
                   // the call's kill_grace unless it ended within it
    kOutputLimit,  // wrote more than its limit: the group was killed
    kStartFailed,  // could not be started; message says why
    kCancelled,    // the caller went away: the group was killed
  };
  Outcome outcome = Outcome::kExited;
  int exit_code = 0;
  int signal = 0;
  /// kTimeout: SIGKILL was needed (no grace, or the group did not end within it).
  bool killed = false;
  std::string message;
};

/// The metrics label of an outcome.
std::string_view outcomeName(CommandResult::Outcome outcome);

boost::asio::awaitable<CommandResult> runCommand(CommandCall call, CommandOutput* out);

}  // namespace kubehub::agent
