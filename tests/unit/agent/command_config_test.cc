#include "agent/commands/command_config.h"

#include <gtest/gtest.h>

#include <string>

#include "common/auth/secret_name.h"

namespace kubehub::agent {
namespace {

constexpr const char* kGood = R"(
commands:
  - name: greet
    description: says hello
    executable: /bin/echo
    args: ["--name={who}", "{who}", "{count}", "{loud}", "{{literal}}"]
    parameters:
      - name: who
        type: string
        pattern: "[a-z ;$()/-]+"
        required: true
      - name: count
        type: integer
        min: 1
        max: 5
        default: 2
      - name: loud
        type: boolean
    timeoutSeconds: 5
    killGraceSeconds: 7
    maxOutputBytes: 100
    workingDir: /tmp
    env:
      pass: [HOME, PATH]
      set: {LANG: C}
  - name: level
    executable: /bin/echo
    parameters:
      - name: level
        allowed: [debug, info]
      - name: api_token
        secret: true
    args: ["{level}", "{api_token}"]
)";

std::shared_ptr<const CommandSet> good() {
  auto set = CommandSet::parse(kGood);
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *set : nullptr;
}

std::string errorOf(const std::string& text) {
  auto set = CommandSet::parse(text);
  return set.ok() ? "" : std::string(set.status().message());
}

TEST(CommandConfig, ParsesAValidFile) {
  auto set = good();
  ASSERT_NE(set, nullptr);
  const Command* greet = set->find("greet");
  ASSERT_NE(greet, nullptr);
  EXPECT_EQ(greet->executable, "/bin/echo");
  EXPECT_EQ(greet->timeout, std::chrono::seconds(5));
  EXPECT_EQ(greet->kill_grace, std::chrono::seconds(7));
  EXPECT_EQ(set->find("level")->kill_grace, std::chrono::seconds(2)) << "the default";
  EXPECT_EQ(greet->max_output_bytes, 100u);
  EXPECT_EQ(greet->working_dir, "/tmp");
  EXPECT_EQ(set->find("nope"), nullptr);
  auto listing = set->listing();
  ASSERT_EQ(listing["items"].size(), 2u);
  EXPECT_EQ(listing["items"][0]["name"], "greet");
  EXPECT_EQ(listing["items"][0]["parameters"][1]["type"], "integer");
  EXPECT_EQ(listing["items"][1]["parameters"][1]["secret"], true);
  EXPECT_EQ(listing["items"][0]["killGraceSeconds"], 7);
  // The listing never shows what runs.
  EXPECT_EQ(listing.dump().find("/bin/echo"), std::string::npos);
}

TEST(CommandConfig, JsonIsAcceptedToo) {
  auto set = CommandSet::parse(
      R"({"commands":[{"name":"up","executable":"/usr/bin/uptime","timeoutSeconds":3}]})");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_NE((*set)->find("up"), nullptr);
}

TEST(CommandConfig, BadFilesNameTheCommandAndField) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const Case cases[] = {
      {"commands: [", "not valid YAML"},
      {"other: 1", "unknown field \"other\""},
      {"commands: {}", "a list named \"commands\""},
      {"commands: [{executable: /bin/true}]", "commands[0]: name is required"},
      {"commands: [{name: Bad_Name, executable: /bin/true}]", "commands[0].name"},
      {"commands: [{name: a}]", "command \"a\": executable is required"},
      {"commands: [{name: a, executable: bin/true}]",
       "command \"a\".executable: must be an "
       "absolute path"},
      {"commands: [{name: a, executable: /bin/true, timout: 3}]",
       "command \"a\": unknown field \"timout\""},
      {"commands: [{name: a, executable: /bin/true, timeoutSeconds: 0}]",
       "command \"a\".timeoutSeconds"},
      {"commands: [{name: a, executable: /bin/true, timeoutSeconds: soon}]",
       "command \"a\".timeoutSeconds: must be an integer"},
      {"commands: [{name: a, executable: /bin/true, killGraceSeconds: -1}]",
       "command \"a\".killGraceSeconds: must be between 0 and 60"},
      {"commands: [{name: a, executable: /bin/true, killGraceSeconds: 61}]",
       "command \"a\".killGraceSeconds: must be between 0 and 60"},
      {"commands: [{name: a, executable: /bin/true, maxOutputBytes: -1}]",
       "command \"a\".maxOutputBytes"},
      {"commands: [{name: a, executable: /bin/true, workingDir: tmp}]", "command \"a\".workingDir"},
      {"commands: [{name: a, executable: /bin/true, args: ['{x}']}]",
       "{x} names no declared parameter"},
      {"commands: [{name: a, executable: /bin/true, args: ['{x']}]", "unclosed '{'"},
      {"commands: [{name: a, executable: /bin/true, args: ['x}']}]", "unmatched '}'"},
      {"commands: [{name: a, executable: /bin/true, args: ['{x}'], parameters: [{name: x, "
       "type: float}]}]",
       "command \"a\".parameters[0] (x).type"},
      {"commands: [{name: a, executable: /bin/true, args: ['{x}'], parameters: [{name: x, "
       "pattern: '('}]}]",
       "(x).pattern: not a valid regular expression"},
      {"commands: [{name: a, executable: /bin/true, args: ['{x}'], parameters: [{name: x, "
       "pattern: 'a{1,33333333333333333333}'}]}]",
       "(x).pattern: not a valid regular expression: a repetition count has more than six "
       "digits"},
      {"commands: [{name: a, executable: /bin/true, args: ['{x}'], parameters: [{name: x, "
       "pattern: '(a)\\33333333333333333333'}]}]",
       "(x).pattern: not a valid regular expression: a backreference number is too long"},
      {"commands: [{name: a, executable: /bin/true, args: ['{x}'], parameters: [{name: x, "
       "type: integer, pattern: 'a'}]}]",
       "only string parameters have a pattern"},
      {"commands: [{name: a, executable: /bin/true, args: ['{x}'], parameters: [{name: x, "
       "type: string, min: 1}]}]",
       "only integer parameters have bounds"},
      {"commands: [{name: a, executable: /bin/true, args: ['{x}'], parameters: [{name: x, "
       "type: integer, min: 5, max: 1}]}]",
       "min is greater than max"},
      {"commands: [{name: a, executable: /bin/true, args: ['{x}'], parameters: [{name: x, "
       "type: integer, max: 3, default: 9}]}]",
       "default: parameter \"x\" must be between"},
      {"commands: [{name: a, executable: /bin/true, args: [], parameters: [{name: x}]}]",
       "\"x\" is used by no argument"},
      {"commands: [{name: a, executable: /bin/true, args: ['{x}'], parameters: [{name: x}, "
       "{name: x}]}]",
       "\"x\" is declared twice"},
      {"commands: [{name: a, executable: /bin/true}, {name: a, executable: /bin/true}]",
       "command \"a\": is declared twice"},
      {"commands: [{name: a, executable: /bin/true, env: {pass: ['A=B']}}]",
       "command \"a\".env.pass"},
      {"commands: [{name: a, executable: /bin/true, env: {keep: [A]}}]",
       "command \"a\".env: unknown field \"keep\""},
  };
  for (const auto& c : cases) {
    std::string error = errorOf(c.text);
    EXPECT_NE(error.find(c.expected), std::string::npos)
        << c.text << "\n  gave: " << error << "\n  expected: " << c.expected;
  }
}

TEST(CommandCall, ShellMetacharactersStayOneLiteralArgument) {
  auto set = good();
  ASSERT_NE(set, nullptr);
  auto call = buildCall(*set->find("greet"), R"json({"who":"x; rm -rf / $(id)"})json", {});
  ASSERT_TRUE(call.ok()) << call.status();
  std::vector<std::string> expected = {"/bin/echo", "--name=x; rm -rf / $(id)", "x; rm -rf / $(id)",
                                       "2", "{literal}"};
  EXPECT_EQ(call->argv, expected);  // {loud} left out: its element is dropped
}

TEST(CommandCall, TypesBoundsAndAllowedValues) {
  auto set = good();
  ASSERT_NE(set, nullptr);
  const Command& greet = *set->find("greet");
  auto ok = buildCall(greet, R"({"who":"bob","count":5,"loud":true})", {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->argv[3], "5");
  EXPECT_EQ(ok->argv[4], "true");
  struct Case {
    std::string body;
    std::string expected;
  };
  const Case cases[] = {
      {"{}", "parameter \"who\" is required"},
      {"[1]", "must be a JSON object"},
      {"{", "must be a JSON object"},
      {R"({"who":"BOB"})", "parameter \"who\" must match"},
      {R"({"who":5})", "parameter \"who\" must be a string"},
      {R"({"who":"bob","count":0})", "parameter \"count\" must be between 1 and 5"},
      {R"({"who":"bob","count":"3"})", "parameter \"count\" must be an integer"},
      {R"({"who":"bob","count":1.5})", "parameter \"count\" must be an integer"},
      {R"({"who":"bob","loud":"yes"})", "parameter \"loud\" must be true or false"},
      {R"({"who":"bob","extra":1})", "has no parameter \"extra\""},
  };
  for (const auto& c : cases) {
    auto call = buildCall(greet, c.body, {});
    ASSERT_FALSE(call.ok()) << c.body;
    EXPECT_NE(std::string(call.status().message()).find(c.expected), std::string::npos)
        << c.body << " gave " << call.status();
  }
  const Command& level = *set->find("level");
  EXPECT_TRUE(buildCall(level, R"({"level":"info"})", {}).ok());
  auto refused = buildCall(level, R"({"level":"trace"})", {});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.status().message()).find("must be one of: debug, info"),
            std::string::npos);
}

TEST(CommandCall, OnlyTheAllowlistedEnvironmentPasses) {
  auto set = good();
  ASSERT_NE(set, nullptr);
  auto call = buildCall(*set->find("greet"), R"({"who":"a"})",
                        {"HOME=/root", "PATHX=no", "PATH=/bin", "SECRET=s", "LANG=en"});
  ASSERT_TRUE(call.ok());
  std::vector<std::string> expected = {"HOME=/root", "PATH=/bin", "LANG=C"};
  EXPECT_EQ(call->env, expected);
}

TEST(CommandCall, SecretLookingNames) {
  EXPECT_TRUE(auth::looksSecret("password"));
  EXPECT_TRUE(auth::looksSecret("API_TOKEN"));
  EXPECT_TRUE(auth::looksSecret("sshKey"));
  EXPECT_TRUE(auth::looksSecret("client-secret"));
  EXPECT_FALSE(auth::looksSecret("path"));
  EXPECT_FALSE(auth::looksSecret("count"));
}

}  // namespace
}  // namespace kubehub::agent
