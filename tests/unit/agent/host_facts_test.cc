#include "agent/status/host_facts.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace kubehub::agent {
namespace {

TEST(HostFacts, OsReleasePrettyName) {
  EXPECT_EQ(parseOsReleasePrettyName("NAME=\"Debian GNU/Linux\"\n"
                                     "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
                                     "VERSION_ID=\"12\"\n"),
            "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(parseOsReleasePrettyName("PRETTY_NAME='Alpine Linux v3.19'\n"), "Alpine Linux v3.19");
  EXPECT_EQ(parseOsReleasePrettyName("PRETTY_NAME=Arch\n"), "Arch");
  EXPECT_EQ(parseOsReleasePrettyName("PRETTY_NAME=\"say \\\"hi\\\"\"\n"), "say \"hi\"");
  EXPECT_EQ(parseOsReleasePrettyName("NAME=x\n"), "");
  EXPECT_EQ(parseOsReleasePrettyName(""), "");
}

TEST(HostFacts, MemInfo) {
  auto m = parseMemInfo(
      "MemTotal:        8041356 kB\n"
      "MemFree:          512000 kB\n"
      "MemAvailable:    5120000 kB\n"
      "HugePages_Total:       0\n");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->total_bytes, 8041356LL * 1024);
  EXPECT_EQ(m->available_bytes, 5120000LL * 1024);
  EXPECT_FALSE(parseMemInfo("MemTotal: 100 kB\n").ok());  // no MemAvailable
  EXPECT_FALSE(parseMemInfo("MemTotal: lots kB\nMemAvailable: 1 kB\n").ok());
  EXPECT_FALSE(parseMemInfo("MemTotal: 100 MB\nMemAvailable: 1 kB\n").ok());
  EXPECT_FALSE(parseMemInfo("").ok());
}

TEST(HostFacts, UptimeAndLoad) {
  auto up = parseUptime("350735.47 234388.90\n");
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(*up, 350735);
  EXPECT_FALSE(parseUptime("").ok());
  EXPECT_FALSE(parseUptime("soon 1\n").ok());
  auto load = parseLoadAverage("0.50 1.25 2.00 1/123 4567\n");
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_DOUBLE_EQ(load->load1, 0.5);
  EXPECT_DOUBLE_EQ(load->load5, 1.25);
  EXPECT_DOUBLE_EQ(load->load15, 2.0);
  EXPECT_FALSE(parseLoadAverage("0.50 1.25\n").ok());
  EXPECT_FALSE(parseLoadAverage("a b c d\n").ok());
}

TEST(HostFacts, ReadsFilesUnderRoot) {
  auto root =
      std::filesystem::temp_directory_path() / ("host_facts_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(root / "etc");
  std::filesystem::create_directories(root / "proc");
  std::ofstream(root / "etc/os-release") << "PRETTY_NAME=\"Test OS 1\"\n";
  std::ofstream(root / "proc/meminfo") << "MemTotal: 2048 kB\nMemAvailable: 1024 kB\n";
  std::ofstream(root / "proc/uptime") << "100.5 50.0\n";
  std::ofstream(root / "proc/loadavg") << "0.10 0.20 0.30 1/1 1\n";
  auto f = readHostFacts("/", root.string());
  std::filesystem::remove_all(root);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->os, "Test OS 1");
  EXPECT_EQ(f->memory_total_bytes, 2048 * 1024);
  EXPECT_EQ(f->memory_available_bytes, 1024 * 1024);
  EXPECT_EQ(f->uptime_seconds, 100);
  EXPECT_DOUBLE_EQ(f->load15, 0.3);
  EXPECT_GT(f->cpus, 0);
  EXPECT_FALSE(f->kernel.empty());
  EXPECT_EQ(f->disk_path, "/");
  EXPECT_GT(f->disk_total_bytes, 0);
}

}  // namespace
}  // namespace kubehub::agent
