#pragma once
/// The commands `kubectl exec` can run in a stand-in pod, emulated in-process: `echo ARGS`,
/// `cat` (stdin back to stdout until stdin closes), `hostname`, `env`, `true`, `false`,
/// `stty size`, `sh -c SCRIPT`, and `sh` alone: a shell reading lines from stdin and running
/// those commands (and `exit [N]`); and what `kubectl cp` runs (`tar`, `test`; see
/// file_commands.h) on the container's files. Output is a list of frames on the remotecommand
/// channels; the end is a Status object for the error channel exactly like the kubelet's (Success,
/// or Failure with reason NonZeroExitCode and an ExitCode cause). With a TTY the process sits
/// behind an emulated pseudo-terminal (terminal.h): keystrokes are echoed and edited, output
/// has CR LF line ends, there is no separate stderr, and the resize channel sets the size
/// `stty size` reports. Pure.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/standin/json_types.h"
#include "tests/standin/terminal.h"

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
  /// Bytes of the resize stream (channel 4, or the SPDY "resize" stream), in any pieces.
  Output onResize(std::string_view data);
  bool finished() const { return mode_ == Mode::kFinished; }
  /// The terminal's size from the latest resize (0x0 before the first).
  TerminalSize terminalSize() const { return size_; }

  static Json successStatus();
  static Json exitCodeStatus(const std::vector<std::string>& command, int code);

  /// The shell's prompt on a terminal (root's, as dash prints it).
  static constexpr std::string_view kPrompt = "# ";

 private:
  enum class Mode { kRunning, kCat, kShell, kAwaitingSize, kFile, kFinished };
  /// What one emulated program did.
  struct Ran {
    std::string out;
    std::string err;
    int code = 0;
    /// The shell was told to exit with `code`.
    bool exit = false;
  };

  Output finish(Output out, int code);
  Output fromFileCommand(Output out);
  /// Runs one of the programs a shell line may name; nothing when it does not exist.
  std::optional<Ran> runProgram(const std::vector<std::string>& argv) const;
  /// Runs one line of shell input (line_no_ counts it for error messages).
  Ran runShellLine(std::string_view line);
  void writeOut(Output& out, std::string_view text) const;
  void writeErr(Output& out, std::string_view text) const;
  /// Feeds the process one line of input, or the end of it; with a TTY also ^C.
  void onInputEvent(Output& out, const LineDiscipline::Event& event);

  ExecRequest req_;
  Mode mode_ = Mode::kRunning;
  LineDiscipline line_discipline_;
  ResizeDecoder resize_;
  TerminalSize size_;
  /// Without a TTY: shell input after the last newline.
  std::string partial_line_;
  int line_no_ = 0;
  int last_status_ = 0;
  std::unique_ptr<FileCommand> file_command_;
};

}  // namespace kubehub::standin
