#include "agent/commands/command_runner.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace kubehub::agent {
namespace {

namespace asio = boost::asio;

struct Collected : CommandOutput {
  std::vector<std::pair<OutputStream, std::string>> pieces;
  std::vector<std::chrono::steady_clock::time_point> when;
  bool listening = true;
  asio::awaitable<bool> write(OutputStream which, std::string data) override {
    pieces.emplace_back(which, std::move(data));
    when.push_back(std::chrono::steady_clock::now());
    co_return listening;
  }
  std::string all(OutputStream which) const {
    std::string s;
    for (const auto& [w, d] : pieces) {
      if (w == which) s += d;
    }
    return s;
  }
};

CommandCall shell(std::string script, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                  uint64_t limit = 1 << 20) {
  CommandCall c;
  c.argv = {"/bin/sh", "-c", std::move(script)};
  c.env = {"PATH=/usr/bin:/bin"};
  c.working_dir = "/";
  c.timeout = timeout;
  c.max_output_bytes = limit;
  return c;
}

CommandResult run(CommandCall call, Collected* out) {
  asio::io_context io;
  CommandResult result;
  asio::co_spawn(io, runCommand(std::move(call), out), [&](std::exception_ptr e, CommandResult r) {
    if (e) std::rethrow_exception(e);
    result = std::move(r);
  });
  io.run();
  return result;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

TEST(CommandRunner, StreamsStdoutAndStderrApartAndGivesTheExitCode) {
  Collected out;
  auto r = run(shell("echo one; echo two >&2; sleep 0.3; echo three; exit 7"), &out);
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kExited);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(out.all(OutputStream::kStdout), "one\nthree\n");
  EXPECT_EQ(out.all(OutputStream::kStderr), "two\n");
  // "one" arrived before the command finished: output is handed on as it is produced.
  ASSERT_GE(out.when.size(), 2u);
  EXPECT_GE(out.when.back() - out.when.front(), std::chrono::milliseconds(200));
}

TEST(CommandRunner, ArgumentsAreLiteral) {
  Collected out;
  CommandCall c = shell("");
  c.argv = {"/bin/echo", "x; rm -rf / $(id)", "`id`"};
  auto r = run(c, &out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(out.all(OutputStream::kStdout), "x; rm -rf / $(id) `id`\n");
}

TEST(CommandRunner, StdinIsEmptyAndNoDescriptorLeaks) {
  Collected out;
  // Descriptors 0-2 only (ls of /proc/self/fd also shows the one it reads the directory with).
  auto r = run(shell("cat; ls /proc/self/fd | wc -l"), &out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(out.all(OutputStream::kStdout), "4\n");
}

TEST(CommandRunner, TimeoutKillsTheWholeProcessGroup) {
  auto dir = std::filesystem::temp_directory_path() / ("kubehub-cmd-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto pid_file = dir / "grandchild";
  Collected out;
  auto started = std::chrono::steady_clock::now();
  auto r = run(shell("sleep 30 & echo $! > " + pid_file.string() + "; echo started; wait",
                     std::chrono::milliseconds(500)),
               &out);
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kTimeout);
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(out.all(OutputStream::kStdout), "started\n");
  std::ifstream in(pid_file);
  pid_t grandchild = 0;
  in >> grandchild;
  ASSERT_GT(grandchild, 0);
  // Killed with its group (reaped by init; give it a moment to disappear).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (alive(grandchild) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(alive(grandchild));
  std::filesystem::remove_all(dir);
}

TEST(CommandRunner, TimeoutWithoutGraceIsSigkill) {
  Collected out;
  auto r = run(
      shell("trap 'echo term' TERM; echo started; sleep 30 & wait", std::chrono::milliseconds(300)),
      &out);
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kTimeout);
  EXPECT_TRUE(r.killed);
  EXPECT_EQ(out.all(OutputStream::kStdout), "started\n") << "no SIGTERM to trap";
}

TEST(CommandRunner, TimeoutSendsSigtermFirstAndPassesOnWhatTheCommandSaysThen) {
  Collected out;
  CommandCall c = shell("trap 'echo cleaning up; exit 0' TERM; echo started; sleep 30 & wait",
                        std::chrono::milliseconds(300));
  c.kill_grace = std::chrono::seconds(10);
  auto started = std::chrono::steady_clock::now();
  auto r = run(c, &out);
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kTimeout);
  EXPECT_FALSE(r.killed) << "it ended on SIGTERM";
  EXPECT_EQ(out.all(OutputStream::kStdout), "started\ncleaning up\n");
  EXPECT_LT(took, std::chrono::seconds(5)) << "not the whole grace";
}

TEST(CommandRunner, ACommandIgnoringSigtermIsKilledAfterTheGrace) {
  Collected out;
  CommandCall c = shell("trap '' TERM; echo started; sleep 30", std::chrono::milliseconds(300));
  c.kill_grace = std::chrono::milliseconds(700);
  auto started = std::chrono::steady_clock::now();
  auto r = run(c, &out);
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kTimeout);
  EXPECT_TRUE(r.killed);
  EXPECT_GE(took, std::chrono::milliseconds(1000));
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(out.all(OutputStream::kStdout), "started\n");
}

TEST(CommandRunner, OutputLimitStopsTheCommand) {
  Collected out;
  auto r = run(shell("while true; do echo 0123456789; done", std::chrono::seconds(10), 1000), &out);
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kOutputLimit);
  EXPECT_EQ(out.all(OutputStream::kStdout).size(), 1000u);
}

TEST(CommandRunner, AGoneListenerStopsTheCommand) {
  Collected out;
  out.listening = false;
  auto r = run(shell("echo hi; sleep 30"), &out);
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kCancelled);
}

TEST(CommandRunner, MissingExecutableOrDirectoryFailsToStart) {
  Collected out;
  CommandCall c = shell("");
  c.argv = {"/nonexistent/program"};
  auto r = run(c, &out);
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kStartFailed);
  EXPECT_NE(r.message.find("No such file"), std::string::npos) << r.message;
  c = shell("true");
  c.working_dir = "/nonexistent-dir";
  r = run(c, &out);
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kStartFailed);
}

TEST(CommandRunner, OnlyTheGivenEnvironment) {
  Collected out;
  CommandCall c = shell("");
  c.argv = {"/usr/bin/env"};
  c.env = {"A=1", "B=two words"};
  auto r = run(c, &out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(out.all(OutputStream::kStdout), "A=1\nB=two words\n");
}

}  // namespace
}  // namespace kubehub::agent
