#include "tests/standin/exec_command.h"

#include "absl/strings/numbers.h"
#include "tests/standin/file_commands.h"

namespace kubehub::standin {
namespace {

/// The exit code of a process the terminal's ^C (SIGINT) killed.
constexpr int kInterruptedCode = 128 + 2;

std::string joinArgs(const std::vector<std::string>& v, size_t from) {
  std::string out;
  for (size_t i = from; i < v.size(); ++i) {
    if (i > from) out.push_back(' ');
    out += v[i];
  }
  return out;
}

bool isShell(const std::string& prog) {
  return prog == "sh" || prog == "/bin/sh" || prog == "bash" || prog == "/bin/bash";
}

/// Splits one line of shell input into commands (at `;`) and words: blanks separate words,
/// single quotes keep everything, double quotes and backslashes as a shell reads them, `$?` is
/// the last status, `#` at a word's start begins a comment. Enough for the lines a test types.
std::vector<std::vector<std::string>> parseCommands(std::string_view line, int last_status) {
  std::vector<std::vector<std::string>> commands(1);
  std::string word;
  bool in_word = false;
  auto endWord = [&] {
    if (in_word) commands.back().push_back(std::move(word));
    word.clear();
    in_word = false;
  };
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote == '\'') {
      if (c == '\'') {
        quote = 0;
      } else {
        word.push_back(c);
      }
      continue;
    }
    if (c == '\\' && i + 1 < line.size() &&
        (quote == 0 || line[i + 1] == '"' || line[i + 1] == '\\' || line[i + 1] == '$')) {
      word.push_back(line[++i]);
      in_word = true;
      continue;
    }
    if (c == '$' && i + 1 < line.size() && line[i + 1] == '?') {
      word += std::to_string(last_status);
      in_word = true;
      ++i;
      continue;
    }
    if (quote == '"') {
      if (c == '"') {
        quote = 0;
      } else {
        word.push_back(c);
      }
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      endWord();
    } else if (c == ';') {
      endWord();
      commands.emplace_back();
    } else if (c == '#' && !in_word) {
      break;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  endWord();
  return commands;
}

void appendFrame(ExecCommand::Output& out, int channel, std::string_view data) {
  if (data.empty()) return;
  if (!out.frames.empty() && out.frames.back().first == channel) {
    out.frames.back().second += data;
  } else {
    out.frames.emplace_back(channel, std::string(data));
  }
}

}  // namespace

ExecCommand::ExecCommand(ExecRequest request) : req_(std::move(request)) {}

ExecCommand::~ExecCommand() = default;

ExecCommand::Output ExecCommand::fromFileCommand(Output out) {
  if (out.status.has_value()) mode_ = Mode::kFinished;
  return out;
}

Json ExecCommand::successStatus() {
  return Json{{"metadata", Json::object()}, {"status", "Success"}};
}

Json ExecCommand::exitCodeStatus(const std::vector<std::string>& command, int code) {
  return Json{{"metadata", Json::object()},
              {"status", "Failure"},
              {"message", "command terminated with non-zero exit code: error executing command [" +
                              joinArgs(command, 0) + "], exit code " + std::to_string(code)},
              {"reason", "NonZeroExitCode"},
              {"details",
               {{"causes",
                 Json::array({Json{{"reason", "ExitCode"}, {"message", std::to_string(code)}}})}}}};
}

void ExecCommand::writeOut(Output& out, std::string_view text) const {
  if (!req_.use_stdout) return;
  appendFrame(out, kStdout, req_.tty ? LineDiscipline::output(text) : std::string(text));
}

void ExecCommand::writeErr(Output& out, std::string_view text) const {
  // A terminal has one output: what the process writes to stderr shows up among stdout.
  if (req_.tty) {
    writeOut(out, text);
  } else if (req_.use_stderr) {
    appendFrame(out, kStderr, text);
  }
}

ExecCommand::Output ExecCommand::finish(Output out, int code) {
  mode_ = Mode::kFinished;
  out.status = code == 0 ? successStatus() : exitCodeStatus(req_.command, code);
  return out;
}

std::optional<ExecCommand::Ran> ExecCommand::runProgram(
    const std::vector<std::string>& argv) const {
  const std::string& prog = argv[0];
  Ran r;
  if (prog == "echo") {
    r.out = joinArgs(argv, 1) + "\n";
  } else if (prog == "hostname") {
    r.out = req_.pod + "\n";
  } else if (prog == "env") {
    r.out =
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOSTNAME=" + req_.pod +
        "\n";
    // containerd sets TERM for a process that runs on a terminal.
    if (req_.tty) r.out += "TERM=xterm\n";
    for (const std::string& e : req_.env) r.out += e + "\n";
    r.out += "HOME=/root\n";
  } else if (prog == "true") {
    r.code = 0;
  } else if (prog == "false") {
    r.code = 1;
  } else if (prog == "stty") {
    if (!req_.tty) {
      r.err = "stty: 'standard input': Inappropriate ioctl for device\n";
      r.code = 1;
    } else if (argv.size() == 2 && argv[1] == "size") {
      r.out = std::to_string(size_.height) + " " + std::to_string(size_.width) + "\n";
    } else {
      r.err = "stty: invalid argument '" + joinArgs(argv, 1) +
              "'\nTry 'stty --help' for more information.\n";
      r.code = 1;
    }
  } else {
    return std::nullopt;
  }
  return r;
}

ExecCommand::Ran ExecCommand::runShellLine(std::string_view line) {
  ++line_no_;
  Ran all;
  for (const std::vector<std::string>& argv : parseCommands(line, last_status_)) {
    if (argv.empty()) continue;
    Ran r;
    if (argv[0] == "exit") {
      r.exit = true;
      r.code = last_status_;
      if (argv.size() > 1 && !absl::SimpleAtoi(argv[1], &r.code)) {
        r.err = "sh: " + std::to_string(line_no_) + ": exit: Illegal number: " + argv[1] + "\n";
        r.code = 2;
      }
      r.code &= 255;
    } else if (auto ran = runProgram(argv); ran.has_value()) {
      r = std::move(*ran);
    } else {
      r.err = "sh: " + std::to_string(line_no_) + ": " + argv[0] + ": not found\n";
      r.code = 127;
    }
    all.out += r.out;
    all.err += r.err;
    all.code = r.code;
    last_status_ = r.code;
    if (r.exit) {
      all.exit = true;
      break;
    }
  }
  all.code = last_status_;
  return all;
}

ExecCommand::Output ExecCommand::start() {
  Output out;
  const auto& cmd = req_.command;
  const std::string prog = cmd.empty() ? std::string() : cmd[0];
  if ((file_command_ = FileCommand::match(req_)) != nullptr) {
    mode_ = Mode::kFile;
    return fromFileCommand(file_command_->start());
  }
  if (prog == "cat" && cmd.size() == 1) {
    mode_ = Mode::kCat;
    if (!req_.use_stdin) return finish(std::move(out), 0);
    return out;
  }
  if (isShell(prog) && (cmd.size() == 1 || (cmd.size() == 2 && cmd[1] == "-i"))) {
    // An interactive shell: commands come from stdin, a prompt shows on a terminal.
    mode_ = Mode::kShell;
    if (!req_.use_stdin) return finish(std::move(out), 0);
    if (req_.tty) writeOut(out, kPrompt);
    return out;
  }
  if (isShell(prog) && cmd.size() == 3 && cmd[1] == "-c") {
    std::string_view script = cmd[2];
    while (true) {
      size_t nl = script.find('\n');
      Ran r = runShellLine(script.substr(0, nl));
      writeOut(out, r.out);
      writeErr(out, r.err);
      if (r.exit || nl == std::string_view::npos) break;
      script.remove_prefix(nl + 1);
    }
    return finish(std::move(out), last_status_);
  }
  if (prog == "stty" && req_.tty && size_ == TerminalSize{}) {
    // kubectl sends its terminal's size as soon as the streams are up, but on streams of its
    // own: wait for it rather than race it (until stdin closes, for clients that never send one).
    mode_ = Mode::kAwaitingSize;
    return out;
  }
  if (!prog.empty()) {
    if (auto ran = runProgram(cmd); ran.has_value()) {
      writeOut(out, ran->out);
      writeErr(out, ran->err);
      return finish(std::move(out), ran->code);
    }
  }
  // What containerd answers for a binary that is not in the image.
  mode_ = Mode::kFinished;
  std::string err =
      "failed to exec in container: failed to start exec: OCI runtime exec failed: "
      "exec failed: unable to start container process: exec: \"" +
      prog + "\": executable file not found in $PATH: unknown";
  out.status =
      Json{{"metadata", Json::object()},
           {"status", "Failure"},
           {"message", "Internal error occurred: error executing command in container: " + err},
           {"reason", "InternalError"},
           {"details",
            {{"causes",
              Json::array({Json{{"message", "error executing command in container: " + err}}})}}},
           {"code", 500}};
  return out;
}

void ExecCommand::onInputEvent(Output& out, const LineDiscipline::Event& event) {
  using Event = LineDiscipline::Event;
  if (mode_ == Mode::kCat) {
    if (event.kind == Event::kLine) {
      writeOut(out, event.line + "\n");
    } else {
      out = finish(std::move(out), event.kind == Event::kInterrupt ? kInterruptedCode : 0);
    }
    return;
  }
  // The shell.
  if (event.kind == Event::kEndOfInput) {
    out = finish(std::move(out), last_status_);
    return;
  }
  if (event.kind == Event::kInterrupt) {
    last_status_ = kInterruptedCode;
    writeOut(out, "\n");
  } else {
    Ran r = runShellLine(event.line);
    writeOut(out, r.out);
    writeErr(out, r.err);
    if (r.exit) {
      out = finish(std::move(out), r.code);
      return;
    }
  }
  if (req_.tty) writeOut(out, kPrompt);
}

ExecCommand::Output ExecCommand::onStdin(std::string_view data) {
  Output out;
  if (mode_ == Mode::kFile) return fromFileCommand(file_command_->onStdin(data));
  if (mode_ != Mode::kCat && mode_ != Mode::kShell) return out;
  if (req_.tty) {
    LineDiscipline::Result typed = line_discipline_.input(data);
    if (req_.use_stdout) appendFrame(out, kStdout, typed.echo);
    for (const LineDiscipline::Event& event : typed.events) {
      onInputEvent(out, event);
      if (finished()) break;
    }
    return out;
  }
  if (mode_ == Mode::kCat) {
    if (req_.use_stdout) appendFrame(out, kStdout, data);
    return out;
  }
  partial_line_.append(data);
  size_t from = 0;
  for (size_t nl = partial_line_.find('\n'); nl != std::string::npos;
       nl = partial_line_.find('\n', from)) {
    LineDiscipline::Event line{LineDiscipline::Event::kLine, partial_line_.substr(from, nl - from)};
    from = nl + 1;
    onInputEvent(out, line);
    if (finished()) break;
  }
  partial_line_.erase(0, from);
  return out;
}

ExecCommand::Output ExecCommand::onStdinClosed() {
  Output out;
  switch (mode_) {
    case Mode::kFinished:
      return out;
    case Mode::kFile:
      return fromFileCommand(file_command_->onStdinClosed());
    case Mode::kShell:
      if (!req_.tty && !partial_line_.empty()) {
        LineDiscipline::Event last{LineDiscipline::Event::kLine, std::move(partial_line_)};
        partial_line_.clear();
        onInputEvent(out, last);
        if (finished()) return out;
      }
      return finish(std::move(out), last_status_);
    case Mode::kAwaitingSize:
      writeOut(out, "0 0\n");
      return finish(std::move(out), 0);
    default:
      return finish(std::move(out), 0);
  }
}

ExecCommand::Output ExecCommand::onResize(std::string_view data) {
  Output out;
  for (const TerminalSize& size : resize_.feed(data)) {
    // The kubelet passes on only sizes of at least one cell each way.
    if (size.width >= 1 && size.height >= 1) size_ = size;
  }
  if (mode_ == Mode::kAwaitingSize && size_ != TerminalSize{}) {
    auto ran = runProgram(req_.command);
    writeOut(out, ran->out);
    writeErr(out, ran->err);
    return finish(std::move(out), ran->code);
  }
  return out;
}

}  // namespace kubehub::standin
