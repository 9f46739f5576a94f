#pragma once
// A throwaway PostgreSQL for integration tests of the metaserver's store, server and client.

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace kubehub::integration {

/// A PostgreSQL 15 on a unix socket in its own temporary directory, as the e2e tests start it
/// (e2e/lib/kubehub_e2e.py): run as the `postgres` user when we are root. KUBEHUB_PGBIN names
/// the server's bin directory. Each instance has its own directory, so one test may start
/// several. `running()` is false when there is no server to start: a test asserts it, so a
/// machine without PostgreSQL fails the test rather than skipping it.
class TestPostgres {
 public:
  TestPostgres() {
    const char* env = std::getenv("KUBEHUB_PGBIN");
    bin_ = env != nullptr ? env : "/usr/lib/postgresql/15/bin";
    if (!std::filesystem::exists(bin_ + "/initdb")) return;
    base_ =
        std::filesystem::temp_directory_path() / ("kubehub-pg-it-" + std::to_string(::getpid()) +
                                                  "-" + std::to_string(instances_.fetch_add(1)));
    std::filesystem::remove_all(base_);
    std::filesystem::create_directories(base_);
    std::filesystem::permissions(
        base_, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                   std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                   std::filesystem::perms::others_exec);
    if (::geteuid() == 0 && !sh("chown -R postgres: " + base_.string())) return;
    std::string data = (base_ / "data").string();
    if (!sh(asPostgres(bin_ + "/initdb -D " + data +
                       " -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync"))) {
      return;
    }
    running_ = sh(asPostgres(bin_ + "/pg_ctl -D " + data + " -l " + (base_ / "log").string() +
                             " -w -t 30 -o \"-k " + base_.string() +
                             " -c listen_addresses='' -c fsync=off\" start"));
  }
  ~TestPostgres() {
    if (running_) {
      sh(asPostgres(bin_ + "/pg_ctl -D " + (base_ / "data").string() +
                    " -m immediate -w -t 30 stop"));
    }
    if (!base_.empty()) std::filesystem::remove_all(base_);
  }
  TestPostgres(const TestPostgres&) = delete;
  TestPostgres& operator=(const TestPostgres&) = delete;

  bool running() const { return running_; }
  std::string conninfo() const {
    return "host=" + base_.string() + " user=postgres dbname=postgres";
  }

 private:
  static std::string asPostgres(const std::string& command) {
    return ::geteuid() == 0 ? "runuser -u postgres -- " + command : command;
  }
  static bool sh(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
  }

  static inline std::atomic<int> instances_{0};
  std::string bin_;
  std::filesystem::path base_;
  bool running_ = false;
};

}  // namespace kubehub::integration
