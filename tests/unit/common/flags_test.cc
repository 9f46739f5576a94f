#include "common/config/flags.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace kubehub::config {
namespace {

struct Argv {
  explicit Argv(std::vector<std::string> a) : args(std::move(a)) {
    for (auto& s : args) ptrs.push_back(s.data());
  }
  int argc() { return static_cast<int>(ptrs.size()); }
  char** argv() { return ptrs.data(); }
  std::vector<std::string> args;
  std::vector<char*> ptrs;
};

TEST(Flags, ParsesAllKindsAndForms) {
  std::string listen = "127.0.0.1:0";
  int64_t threads = 2;
  bool verbose = false;
  std::chrono::milliseconds timeout{1000};
  FlagSet fs("prog", "test");
  fs.addString("listen", &listen, "address");
  fs.addInt("threads", &threads, "threads");
  fs.addBool("verbose", &verbose, "verbose");
  fs.addDuration("timeout", &timeout, "timeout");
  Argv a({"prog", "--listen=0.0.0.0:443", "--threads", "8", "--verbose", "--timeout=250ms", "x"});
  ASSERT_TRUE(fs.parse(a.argc(), a.argv()).ok());
  EXPECT_EQ(listen, "0.0.0.0:443");
  EXPECT_EQ(threads, 8);
  EXPECT_TRUE(verbose);
  EXPECT_EQ(timeout.count(), 250);
  ASSERT_EQ(fs.args().size(), 1u);
  EXPECT_EQ(fs.args()[0], "x");
}

TEST(Flags, GivenTellsAnEmptyValueFromALeftOutFlag) {
  std::string user, tenant, group;
  FlagSet fs("prog", "test");
  fs.addString("user", &user, "user");
  fs.addString("tenant", &tenant, "tenant");
  fs.addString("group", &group, "group");
  Argv a({"prog", "--user", "", "--tenant=acme"});
  ASSERT_TRUE(fs.parse(a.argc(), a.argv()).ok());
  EXPECT_TRUE(fs.given("user"));
  EXPECT_EQ(user, "");
  EXPECT_TRUE(fs.given("tenant"));
  EXPECT_FALSE(fs.given("group"));
  EXPECT_FALSE(fs.given("no-such-flag"));
}

TEST(Flags, UnknownFlagIsAnErrorNamingIt) {
  std::string s;
  FlagSet fs("prog", "test");
  fs.addString("listen", &s, "address");
  Argv a({"prog", "--lisen=1"});
  absl::Status st = fs.parse(a.argc(), a.argv());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find("--lisen"), std::string::npos);
}

TEST(Flags, BadValuesAreErrors) {
  int64_t n = 0;
  std::chrono::milliseconds d{0};
  FlagSet fs("prog", "test");
  fs.addInt("n", &n, "n");
  fs.addDuration("d", &d, "d");
  Argv a1({"prog", "--n=abc"});
  EXPECT_FALSE(fs.parse(a1.argc(), a1.argv()).ok());
  Argv a2({"prog", "--d=soon"});
  EXPECT_FALSE(fs.parse(a2.argc(), a2.argv()).ok());
  Argv a3({"prog", "--n"});
  EXPECT_FALSE(fs.parse(a3.argc(), a3.argv()).ok());
}

TEST(Flags, EnvironmentIsReadAndFlagWins) {
  std::string a = "default", b = "default";
  FlagSet fs("prog", "test");
  fs.addString("tunnel-listen", &a, "a");
  fs.addString("admin-listen", &b, "b");
  EXPECT_EQ(FlagSet::envName("tunnel-listen"), "KUBEHUB_TUNNEL_LISTEN");
  setenv("KUBEHUB_TUNNEL_LISTEN", "from-env", 1);
  setenv("KUBEHUB_ADMIN_LISTEN", "from-env", 1);
  Argv argv({"prog", "--admin-listen=from-flag"});
  ASSERT_TRUE(fs.parse(argv.argc(), argv.argv()).ok());
  unsetenv("KUBEHUB_TUNNEL_LISTEN");
  unsetenv("KUBEHUB_ADMIN_LISTEN");
  EXPECT_EQ(a, "from-env");
  EXPECT_EQ(b, "from-flag");
}

TEST(Flags, ListsTakeCommasAndRepetitionAndTheCommandLineReplacesTheEnvironment) {
  std::vector<std::string> urls = {"wss://default"};
  FlagSet fs("prog", "test");
  fs.addStringList("hub-url", &urls, "hubs");
  EXPECT_NE(fs.usage().find("default wss://default"), std::string::npos);
  setenv("KUBEHUB_HUB_URL", "wss://env-a, wss://env-b", 1);
  Argv none({"prog"});
  ASSERT_TRUE(fs.parse(none.argc(), none.argv()).ok());
  EXPECT_EQ(urls, (std::vector<std::string>{"wss://env-a", "wss://env-b"}));

  FlagSet again("prog", "test");
  again.addStringList("hub-url", &urls, "hubs");
  Argv a({"prog", "--hub-url=wss://a,wss://b", "--hub-url", "wss://c,", "--hub-url="});
  ASSERT_TRUE(again.parse(a.argc(), a.argv()).ok());
  unsetenv("KUBEHUB_HUB_URL");
  EXPECT_EQ(urls, (std::vector<std::string>{"wss://a", "wss://b", "wss://c"}));
}

TEST(Flags, HelpListsFlagsWithEnvNames) {
  std::string s = "x";
  FlagSet fs("prog", "does things");
  fs.addString("listen", &s, "where to listen");
  Argv a({"prog", "--help"});
  ASSERT_TRUE(fs.parse(a.argc(), a.argv()).ok());
  EXPECT_TRUE(fs.helpRequested());
  std::string u = fs.usage();
  EXPECT_NE(u.find("--listen"), std::string::npos);
  EXPECT_NE(u.find("KUBEHUB_LISTEN"), std::string::npos);
  EXPECT_NE(u.find("does things"), std::string::npos);
}

TEST(Flags, Durations) {
  std::chrono::milliseconds d{0};
  ASSERT_TRUE(parseDuration("2m", &d).ok());
  EXPECT_EQ(d.count(), 120000);
  ASSERT_TRUE(parseDuration("1.5s", &d).ok());
  EXPECT_EQ(d.count(), 1500);
  ASSERT_TRUE(parseDuration("3", &d).ok());
  EXPECT_EQ(d.count(), 3000);
  EXPECT_FALSE(parseDuration("-1s", &d).ok());
  EXPECT_FALSE(parseDuration("", &d).ok());
}

}  // namespace
}  // namespace kubehub::config
