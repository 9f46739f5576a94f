#include "hub/audit/audit_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace kubehub::hub {
namespace {

AuditRecord sampleRecord(const std::string& user, int i) {
  AuditRecord r;
  r.user = user;
  r.verb = "get";
  r.resource = "pods";
  r.name = "pod-" + std::to_string(i);
  r.status = 200;
  return r;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kubehub-audit-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  /// Every line of every file in the directory, each checked to be one JSON object.
  std::vector<nlohmann::json> readAll() {
    std::vector<nlohmann::json> out;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      std::ifstream in(entry.path());
      std::string line;
      while (std::getline(in, line)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        EXPECT_TRUE(j.is_object()) << "not a JSON line: " << line;
        out.push_back(std::move(j));
      }
    }
    return out;
  }

  void writeFromThreads(AuditLog* log, int threads, int per_thread) {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([log, t, per_thread] {
        for (int i = 0; i < per_thread; ++i)
          log->write(sampleRecord("user-" + std::to_string(t), i));
      });
    }
    for (auto& w : workers) w.join();
  }

  /// The directory holds `n` lines, each a different (user, name): none lost, none twice.
  void expectEachLineOnce(size_t n) {
    auto lines = readAll();
    ASSERT_EQ(lines.size(), n);
    std::set<std::string> seen;
    for (const auto& j : lines)
      seen.insert(j["user"].get<std::string>() + "/" + j["name"].get<std::string>());
    EXPECT_EQ(seen.size(), n) << "a line was lost or written twice";
  }

  std::string dir_;
};

TEST_F(AuditLogTest, EveryLineFromManyThreadsReachesTheFileWhole) {
  {
    auto log = AuditLog::open(dir_ + "/audit.log", 0, 1);
    ASSERT_TRUE(log.ok()) << log.status();
    writeFromThreads(log->get(), 4, 2500);
  }  // destruction drains the writer
  expectEachLineOnce(10000);
}

TEST_F(AuditLogTest, LinesAreInTheFileWithoutWaitingForShutdown) {
  auto log = AuditLog::open(dir_ + "/audit.log", 0, 1);
  ASSERT_TRUE(log.ok());
  AuditRecord r;
  r.user = "alice";
  r.path = "/version";
  r.status = 200;
  (*log)->write(r);
  // The writer hands lines to the kernel on its own; poll with a deadline (no sleep-and-hope).
  bool found = false;
  for (int i = 0; i < 500 && !found; ++i) {
    found = readAll().size() == 1;
    if (!found) usleep(10 * 1000);
  }
  EXPECT_TRUE(found) << "the line did not reach the file while the log was open";
}

TEST_F(AuditLogTest, RotationKeepsEveryLine) {
  {
    auto log = AuditLog::open(dir_ + "/audit.log", 64 * 1024, 200);
    ASSERT_TRUE(log.ok());
    writeFromThreads(log->get(), 2, 3000);
  }
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_GT(files, 2u) << "no rotation happened";
  EXPECT_EQ(readAll().size(), 6000u);
}

size_t countLines(const std::string& file) {
  std::ifstream in(file);
  size_t n = 0;
  std::string line;
  while (std::getline(in, line)) ++n;
  return n;
}

TEST_F(AuditLogTest, BatchedLinesAreWrittenWhenTheEventLoopMovesOnNotAtShutdown) {
  auto opened = AuditLog::open(dir_ + "/audit.log", 0, 1);
  ASSERT_TRUE(opened.ok());
  std::shared_ptr<AuditLog> log = std::move(*opened);
  boost::asio::io_context io;
  size_t inside = 99;
  boost::asio::post(io, [&] {
    for (int i = 0; i < 3; ++i) log->write(sampleRecord("alice", i), io.get_executor());
    inside = countLines(dir_ + "/audit.log");  // queued: one write() for the three, later
  });
  io.run();
  EXPECT_EQ(inside, 0u);
  EXPECT_EQ(countLines(dir_ + "/audit.log"), 3u) << "the posted flush did not write the lines";
}

TEST_F(AuditLogTest, BatchedLinesFromManyLoopsAllArriveWholeAcrossRotation) {
  {
    auto opened = AuditLog::open(dir_ + "/audit.log", 64 * 1024, 200);
    ASSERT_TRUE(opened.ok());
    std::shared_ptr<AuditLog> log = std::move(*opened);
    std::vector<std::unique_ptr<boost::asio::io_context>> loops;
    for (int t = 0; t < 3; ++t) {
      loops.push_back(std::make_unique<boost::asio::io_context>(1));
      auto* io = loops.back().get();
      for (int i = 0; i < 2000; ++i) {
        boost::asio::post(*io, [log, io, t, i] {
          log->write(sampleRecord("user-" + std::to_string(t), i), io->get_executor());
        });
      }
    }
    std::vector<std::thread> threads;
    for (auto& io : loops) threads.emplace_back([&io] { io->run(); });
    for (auto& t : threads) t.join();
  }
  expectEachLineOnce(6000);
}

TEST_F(AuditLogTest, TheBatchIsBoundedAndSpillsToTheFile) {
  auto opened = AuditLog::open(dir_ + "/audit.log", 0, 1);
  ASSERT_TRUE(opened.ok());
  std::shared_ptr<AuditLog> log = std::move(*opened);
  boost::asio::io_context io;
  size_t inside = 0;
  boost::asio::post(io, [&] {
    // ~1 MiB of lines in one pass of the loop: more than the batch may hold.
    for (int i = 0; i < 1000; ++i) {
      log->write(sampleRecord(std::string(1000, 'u'), i), io.get_executor());
    }
    inside = countLines(dir_ + "/audit.log");
  });
  io.run();
  EXPECT_GT(inside, 0u) << "the batch grew without bound";
  EXPECT_EQ(countLines(dir_ + "/audit.log"), 1000u);
}

TEST_F(AuditLogTest, WithoutSharedOwnershipALineIsWrittenAtOnce) {
  auto log = AuditLog::open(dir_ + "/audit.log", 0, 1);
  ASSERT_TRUE(log.ok());
  boost::asio::io_context io;  // never run
  (*log)->write(sampleRecord("alice", 1), io.get_executor());
  EXPECT_EQ(countLines(dir_ + "/audit.log"), 1u);
}

TEST(AuditLogFormat, IsOneValidJsonLineWhateverTheNamesContain) {
  AuditRecord r;
  r.tenant = "acme";
  r.user = "eve\"\\\n\t\x01";                       // quote, backslash, newline, tab, control
  r.cluster = std::string("edge-\xff\xc3\x28", 8);  // invalid UTF-8
  r.verb = "get";
  r.resource = "pods";
  r.namespace_name = "caf\xc3\xa9";  // valid UTF-8 (é) passes through
  r.name = "\xed\xa0\x80x";          // a UTF-16 surrogate encoded in UTF-8: invalid
  r.status = 403;
  r.latency_seconds = 0.0012346;
  r.bytes = 42;
  r.served_from = "hub";
  r.peer = "127.0.0.1:1";
  r.reason = "no grant";
  std::string line =
      AuditLog::format(r, std::chrono::system_clock::time_point(std::chrono::seconds(1764460800)));
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "exactly one line";
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2025-11-30T00:00:00.000Z");
  EXPECT_EQ(j["user"], "eve\"\\\n\t\x01");
  EXPECT_EQ(j["cluster"], "edge-\xef\xbf\xbd\xef\xbf\xbd(");
  EXPECT_EQ(j["namespace"], "caf\xc3\xa9");
  EXPECT_EQ(j["name"], "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
  EXPECT_EQ(j["code"], 403);
  EXPECT_DOUBLE_EQ(j["latencyMs"].get<double>(), 1.235);
  EXPECT_EQ(j["bytes"], 42);
  EXPECT_EQ(j["reason"], "no grant");
  EXPECT_FALSE(j.contains("path"));
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys.size(), 15u);
}

}  // namespace
}  // namespace kubehub::hub

namespace kubehub::hub {
namespace {

TEST(AuditParameters, SecretLookingAndMarkedParametersAreRedacted) {
  EXPECT_EQ(
      redactParameters(R"({"path":"/var","password":"p","API_TOKEN":"t","pin":"1","n":3})",
                       "pin,other"),
      R"({"API_TOKEN":"[redacted]","n":3,"password":"[redacted]","path":"/var","pin":"[redacted]"})");
  EXPECT_EQ(redactParameters("not json", ""), "{}");
  EXPECT_EQ(redactParameters("[1]", ""), "{}");
}

TEST(AuditParameters, ACommandCallsLineNamesTheCommandAndItsParameters) {
  AuditRecord r;
  r.user = "alice";
  r.cluster = "edge-1";
  r.verb = "create";
  r.api_group = "kubehub.io";
  r.resource = "commands";
  r.name = "disk-usage";
  r.command = "disk-usage";
  r.parameters = redactParameters(R"({"path":"/var","secret":"s"})", "");
  r.status = 200;
  std::string line =
      AuditLog::format(r, std::chrono::system_clock::time_point(std::chrono::seconds(1764460800)));
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["command"], "disk-usage");
  EXPECT_EQ(j["parameters"]["path"], "/var");
  EXPECT_EQ(j["parameters"]["secret"], "[redacted]");
  EXPECT_EQ(line.find("\"s\""), std::string::npos);
  r.command.clear();
  EXPECT_FALSE(nlohmann::json::parse(AuditLog::format(r, {})).contains("command"));
}

}  // namespace
}  // namespace kubehub::hub
