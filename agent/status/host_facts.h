#pragma once
/// What a host agent (--mode native) reports of its machine: the /proc and /etc parsers are pure
/// functions over the files' text; readHostFacts reads the files and asks uname, sysconf and
/// statvfs. Any thread.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/cluster_status.h"

namespace kubehub::agent {

/// PRETTY_NAME of an /etc/os-release text (quotes and escapes removed); "" when absent.
std::string parseOsReleasePrettyName(std::string_view text);

struct MemInfo {
  int64_t total_bytes = 0;
  int64_t available_bytes = 0;
};
/// MemTotal and MemAvailable of a /proc/meminfo text (kB there). InvalidArgument when either is
/// missing or malformed.
absl::StatusOr<MemInfo> parseMemInfo(std::string_view text);

/// The first field of /proc/uptime, whole seconds.
absl::StatusOr<int64_t> parseUptime(std::string_view text);

struct LoadAverage {
  double load1 = 0, load5 = 0, load15 = 0;
};
/// The first three fields of /proc/loadavg.
absl::StatusOr<LoadAverage> parseLoadAverage(std::string_view text);

/// The machine's facts now; `disk_path` is the file system measured with statvfs, `root` is
/// prefixed to the /proc and /etc files (tests; "" in production). Fields that cannot be read
/// stay empty or 0, except memory and CPUs, whose absence is an error.
absl::StatusOr<proto::HostFacts> readHostFacts(const std::string& disk_path,
                                               const std::string& root);

}  // namespace kubehub::agent
