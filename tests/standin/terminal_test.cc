#include "tests/standin/terminal.h"

#include <gtest/gtest.h>

#include "tests/standin/api_server.h"
#include "tests/standin/exec_command.h"

namespace kubehub::standin {
namespace {

TEST(ResizeDecoderTest, SizesAsKubectlWritesThem) {
  ResizeDecoder d;
  // Go's json.Encoder: one object per line.
  auto sizes = d.feed("{\"Width\":80,\"Height\":24}\n{\"Width\":132,\"Height\":43}\n");
  ASSERT_EQ(sizes.size(), 2u);
  EXPECT_EQ(sizes[0], (TerminalSize{80, 24}));
  EXPECT_EQ(sizes[1], (TerminalSize{132, 43}));
  EXPECT_FALSE(d.failed());
}

TEST(ResizeDecoderTest, ObjectsSplitAcrossMessages) {
  ResizeDecoder d;
  EXPECT_TRUE(d.feed("{\"Wid").empty());
  EXPECT_TRUE(d.feed("th\":100, \"Hei").empty());
  auto sizes = d.feed("ght\":30}{\"Width\":1");
  ASSERT_EQ(sizes.size(), 1u);
  EXPECT_EQ(sizes[0], (TerminalSize{100, 30}));
  sizes = d.feed("0,\"Height\":5}");
  ASSERT_EQ(sizes.size(), 1u);
  EXPECT_EQ(sizes[0], (TerminalSize{10, 5}));
}

TEST(ResizeDecoderTest, FieldNamesIgnoreCaseAndUnknownFieldsAreSkipped) {
  ResizeDecoder d;
  auto sizes = d.feed("{\"width\":7,\"HEIGHT\":3,\"extra\":{\"x\":\"}\"}}");
  ASSERT_EQ(sizes.size(), 1u);
  EXPECT_EQ(sizes[0], (TerminalSize{7, 3}));
  // A missing field is zero, as in Go.
  sizes = d.feed("{\"Height\":9}");
  ASSERT_EQ(sizes.size(), 1u);
  EXPECT_EQ(sizes[0], (TerminalSize{0, 9}));
}

TEST(ResizeDecoderTest, StopsForGoodAtAMalformedValue) {
  for (const char* bad : {"[1,2]", "{\"Width\":-1,\"Height\":2}", "{\"Width\":70000}",
                          "{\"Width\":80.5}", "{\"Width\":\"80\"}", "{oops}", "42"}) {
    ResizeDecoder d;
    EXPECT_TRUE(d.feed(bad).empty()) << bad;
    EXPECT_TRUE(d.failed()) << bad;
    EXPECT_TRUE(d.feed("{\"Width\":80,\"Height\":24}").empty()) << bad;
  }
  ResizeDecoder endless;
  endless.feed("{\"Width\":\"" + std::string(ResizeDecoder::kMaxValue, 'x'));
  EXPECT_TRUE(endless.failed());
  ResizeDecoder padded;
  padded.feed("{\"Width\":1,\"x\":\"" + std::string(ResizeDecoder::kMaxValue, 'x') + "\"}");
  EXPECT_TRUE(padded.failed());
}

TEST(LineDisciplineTest, EchoesEditsAndHandsOverLines) {
  LineDiscipline t;
  auto r = t.input("ech");
  EXPECT_EQ(r.echo, "ech");
  EXPECT_TRUE(r.events.empty());
  r = t.input("x\x7fo hi\r");
  EXPECT_EQ(r.echo, "x\b \bo hi\r\n");
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].kind, LineDiscipline::Event::kLine);
  EXPECT_EQ(r.events[0].line, "echo hi");
  r = t.input("junk\x03\x04");
  EXPECT_EQ(r.echo, "junk^C");
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].kind, LineDiscipline::Event::kInterrupt);
  EXPECT_EQ(r.events[1].kind, LineDiscipline::Event::kEndOfInput);
  // ^D in the middle of a line does not end the input.
  r = t.input("ab\x04");
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(LineDiscipline::output("a\nb\n"), "a\r\nb\r\n");
}

ExecRequest ttyRequest(std::vector<std::string> command) {
  ExecRequest r;
  r.pod = "web-1";
  r.command = std::move(command);
  r.use_stdin = true;
  r.use_stderr = false;
  r.tty = true;
  return r;
}

std::string stdoutOf(const ExecCommand::Output& out) {
  std::string s;
  for (const auto& [channel, data] : out.frames) {
    EXPECT_EQ(channel, ExecCommand::kStdout) << "a terminal has no separate stderr";
    s += data;
  }
  return s;
}

TEST(ExecTtyTest, ShellReportsTheLatestSize) {
  ExecCommand sh(ttyRequest({"sh"}));
  EXPECT_EQ(stdoutOf(sh.start()), "# ");
  EXPECT_TRUE(stdoutOf(sh.onResize("{\"Width\":120,\"Height\":40}\n")).empty());
  EXPECT_EQ(stdoutOf(sh.onStdin("stty size\r")), "stty size\r\n40 120\r\n# ");
  // Zero sizes are ignored, as by the kubelet.
  sh.onResize("{\"Width\":0,\"Height\":0}\n{\"Width\":90,");
  sh.onResize("\"Height\":33}\n");
  EXPECT_EQ(sh.terminalSize(), (TerminalSize{90, 33}));
  EXPECT_EQ(stdoutOf(sh.onStdin("stty size\r")), "stty size\r\n33 90\r\n# ");
  EXPECT_EQ(stdoutOf(sh.onStdin("nope\r")), "nope\r\nsh: 3: nope: not found\r\n# ");
  ExecCommand::Output bye = sh.onStdin("exit 4\r");
  EXPECT_EQ(stdoutOf(bye), "exit 4\r\n");
  ASSERT_TRUE(bye.status.has_value());
  EXPECT_EQ((*bye.status)["details"]["causes"][0]["message"], "4");
  EXPECT_TRUE(sh.finished());
}

TEST(ExecTtyTest, ShellEndsAtControlDWithTheLastStatus) {
  ExecCommand sh(ttyRequest({"/bin/bash"}));
  sh.start();
  EXPECT_EQ(stdoutOf(sh.onStdin("false\r")), "false\r\n# ");
  EXPECT_EQ(stdoutOf(sh.onStdin("x\x03")), "x^C\r\n# ");
  ExecCommand::Output out = sh.onStdin("\x04");
  ASSERT_TRUE(out.status.has_value());
  EXPECT_EQ((*out.status)["details"]["causes"][0]["message"], "130");
}

TEST(ExecTtyTest, SttySizeAloneWaitsForTheFirstSize) {
  ExecCommand stty(ttyRequest({"stty", "size"}));
  ExecCommand::Output out = stty.start();
  EXPECT_FALSE(out.status.has_value());
  out = stty.onResize("{\"Width\":100,\"Height\":50}\n");
  EXPECT_EQ(stdoutOf(out), "50 100\r\n");
  ASSERT_TRUE(out.status.has_value());
  EXPECT_EQ((*out.status)["status"], "Success");

  ExecCommand no_size(ttyRequest({"stty", "size"}));
  no_size.start();
  EXPECT_EQ(stdoutOf(no_size.onStdinClosed()), "0 0\r\n");
}

TEST(ExecTtyTest, CatBehindATerminalSeesLines) {
  ExecCommand cat(ttyRequest({"cat"}));
  cat.start();
  // The terminal echoes, then cat writes the line back.
  EXPECT_EQ(stdoutOf(cat.onStdin("hi\r")), "hi\r\nhi\r\n");
  ExecCommand::Output out = cat.onStdin("\x04");
  ASSERT_TRUE(out.status.has_value());
  EXPECT_EQ((*out.status)["status"], "Success");
}

TEST(ExecNoTtyTest, SttyNeedsATerminalAndShellReadsStdin) {
  ExecRequest r;
  r.pod = "web-1";
  r.command = {"stty", "size"};
  ExecCommand stty(r);
  ExecCommand::Output out = stty.start();
  ASSERT_EQ(out.frames.size(), 1u);
  EXPECT_EQ(out.frames[0].first, ExecCommand::kStderr);
  EXPECT_EQ(out.frames[0].second, "stty: 'standard input': Inappropriate ioctl for device\n");
  EXPECT_EQ((*out.status)["details"]["causes"][0]["message"], "1");

  r.command = {"sh"};
  r.use_stdin = true;
  ExecCommand sh(r);
  EXPECT_TRUE(sh.start().frames.empty()) << "no prompt without a terminal";
  out = sh.onStdin("echo 'a  b'; hostname\nech");
  ASSERT_EQ(out.frames.size(), 1u);
  EXPECT_EQ(out.frames[0].second, "a  b\nweb-1\n");
  out = sh.onStdin("o $?\nfoo");
  EXPECT_EQ(out.frames[0].second, "0\n");
  out = sh.onStdinClosed();
  ASSERT_EQ(out.frames.size(), 1u);
  EXPECT_EQ(out.frames[0].first, ExecCommand::kStderr);
  EXPECT_EQ(out.frames[0].second, "sh: 3: foo: not found\n");
  EXPECT_EQ((*out.status)["details"]["causes"][0]["message"], "127");
}

TEST(ExecPlanTest, TtyDropsStderrLikeTheKubelet) {
  ApiServer api(StandinConfig{.token = "t"});
  api.seed(true, 0);
  HttpRequest req;
  req.method = "GET";
  req.target =
      "/api/v1/namespaces/default/pods/web-1/exec?command=sh&stdin=true&stdout=true"
      "&stderr=true&tty=true";
  req.headers = {{"Authorization", "Bearer t"},
                 {"Upgrade", "websocket"},
                 {"Sec-WebSocket-Protocol", "v5.channel.k8s.io"}};
  ApiResult r = api.handle(req);
  ASSERT_TRUE(r.exec.has_value()) << r.response.body;
  EXPECT_TRUE(r.exec->request.tty);
  EXPECT_FALSE(r.exec->request.use_stderr);
  EXPECT_EQ(api.sessions().open(SessionCounts::kExec), 1);
  r = ApiResult{};
  EXPECT_EQ(api.sessions().open(SessionCounts::kExec), 0) << "the plan's hold is gone";
}

}  // namespace
}  // namespace kubehub::standin
