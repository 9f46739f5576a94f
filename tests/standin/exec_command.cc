#include "tests/standin/exec_command.h"

#include "absl/strings/numbers.h"
#include "tests/standin/file_commands.h"

namespace kubehub::standin {
namespace {

std::string joinArgs(const std::vector<std::string>& v, size_t from) {
  std::string out;
  for (size_t i = from; i < v.size(); ++i) {
    if (i > from) out.push_back(' ');
    out += v[i];
  }
  return out;
}

}  // namespace

ExecCommand::ExecCommand(ExecRequest request) : req_(std::move(request)) {}

ExecCommand::~ExecCommand() = default;

ExecCommand::Output ExecCommand::fromFileCommand(Output out) {
  if (out.status.has_value()) finished_ = true;
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

std::string ExecCommand::text(std::string s) const {
  if (!req_.tty) return s;
  // A terminal turns "\n" into "\r\n".
  std::string out;
  for (char c : s) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

ExecCommand::Output ExecCommand::finish(Output out, int code) {
  finished_ = true;
  out.status = code == 0 ? successStatus() : exitCodeStatus(req_.command, code);
  return out;
}

ExecCommand::Output ExecCommand::start() {
  Output out;
  const auto& cmd = req_.command;
  const std::string& prog = cmd.empty() ? std::string() : cmd[0];
  if ((file_command_ = FileCommand::match(req_)) != nullptr) {
    return fromFileCommand(file_command_->start());
  }
  auto stdoutFrame = [&](std::string s) {
    if (req_.use_stdout) out.frames.emplace_back(kStdout, text(std::move(s)));
  };
  if (prog == "echo") {
    stdoutFrame(joinArgs(cmd, 1) + "\n");
    return finish(std::move(out), 0);
  }
  if (prog == "hostname") {
    stdoutFrame(req_.pod + "\n");
    return finish(std::move(out), 0);
  }
  if (prog == "env") {
    std::string s =
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOSTNAME=" + req_.pod +
        "\n";
    for (const std::string& e : req_.env) s += e + "\n";
    s += "HOME=/root\n";
    stdoutFrame(s);
    return finish(std::move(out), 0);
  }
  if (prog == "true") return finish(std::move(out), 0);
  if (prog == "false") return finish(std::move(out), 1);
  if (prog == "cat" && cmd.size() == 1) {
    cat_ = true;
    if (!req_.use_stdin) return finish(std::move(out), 0);
    return out;
  }
  if ((prog == "sh" || prog == "/bin/sh" || prog == "bash" || prog == "/bin/bash") &&
      cmd.size() == 3 && cmd[1] == "-c") {
    std::string_view script = cmd[2];
    if (script.starts_with("exit")) {
      std::string_view arg = script.substr(4);
      while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
      int code = 0;
      if (arg.empty() || absl::SimpleAtoi(absl::string_view(arg.data(), arg.size()), &code)) {
        return finish(std::move(out), code & 255);
      }
    }
    if (script.starts_with("echo ")) {
      stdoutFrame(std::string(script.substr(5)) + "\n");
      return finish(std::move(out), 0);
    }
    if (req_.use_stderr) {
      out.frames.emplace_back(kStderr, text("sh: 1: " + std::string(script) + ": not found\n"));
    }
    return finish(std::move(out), 127);
  }
  // What containerd answers for a binary that is not in the image.
  finished_ = true;
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

ExecCommand::Output ExecCommand::onStdin(std::string_view data) {
  Output out;
  if (!finished_ && file_command_ != nullptr) return fromFileCommand(file_command_->onStdin(data));
  if (finished_ || !cat_) return out;
  if (req_.use_stdout && !data.empty()) out.frames.emplace_back(kStdout, std::string(data));
  return out;
}

ExecCommand::Output ExecCommand::onStdinClosed() {
  Output out;
  if (finished_) return out;
  if (file_command_ != nullptr) return fromFileCommand(file_command_->onStdinClosed());
  return finish(std::move(out), 0);
}

}  // namespace kubehub::standin
