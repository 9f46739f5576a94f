#pragma once
/// The commands `kubectl exec` can run in a stand-in pod, emulated in-process: `echo ARGS`,
/// `cat` (stdin back to stdout until stdin closes), `hostname`, `env`, `true`, `false`,
/// `sh -c "exit N"` / `sh -c "echo ..."`, and what `kubectl cp` runs (`tar`, `test`; see
/// file_commands.h) on the container's files. Output is a list of frames on the remotecommand
/// channels; the end is a Status object for the error channel exactly like the kubelet's
/// (Success, or Failure with reason NonZeroExitCode and an ExitCode cause). Pure.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/standin/json_types.h"

namespace kubehub::standin {

class FileCommand;
class PodFiles;

struct ExecRequest {
  std::string pod;
  std::string container;
  std::vector<std::string> command;
  bool use_stdin = false;
  bool use_stdout = true;
  bool use_stderr = true;
  bool tty = false;
  /// name=value lines for `env`.
  std::vector<std::string> env;
  /// The container's file system; null: no file commands.
  std::shared_ptr<PodFiles> files;
};

class ExecCommand {
 public:
  enum Channel : int { kStdin = 0, kStdout = 1, kStderr = 2, kError = 3, kResize = 4 };
  struct Output {
    std::vector<std::pair<int, std::string>> frames;
    /// Set when the command has finished: the Status for the error channel.
    std::optional<Json> status;
  };

  explicit ExecCommand(ExecRequest request);
  ~ExecCommand();

  Output start();
  Output onStdin(std::string_view data);
  Output onStdinClosed();
  bool finished() const { return finished_; }

  static Json successStatus();
  static Json exitCodeStatus(const std::vector<std::string>& command, int code);

 private:
  Output finish(Output out, int code);
  std::string text(std::string s) const;
  Output fromFileCommand(Output out);

  ExecRequest req_;
  bool finished_ = false;
  bool cat_ = false;
  std::unique_ptr<FileCommand> file_command_;
};

}  // namespace kubehub::standin
