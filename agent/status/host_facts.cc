#include "agent/status/host_facts.h"

#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/status/status_macros.h"

namespace kubehub::agent {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

/// Calls `fn(line)` for each line of `text`.
template <typename Fn>
void eachLine(std::string_view text, Fn fn) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    fn(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

/// Printable ASCII within `max` bytes: what the status report accepts.
std::string reportable(std::string_view s, size_t max) {
  std::string out(s.substr(0, max));
  for (char& c : out) {
    if (c < 0x20 || c >= 0x7f) c = '?';
  }
  return out;
}

/// A small file's text; "" when it cannot be read (/proc files report size 0, so no stat).
std::string readSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::string out(64 * 1024, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

absl::StatusOr<double> leadingNumber(std::string_view text, std::string_view what) {
  std::string s(trim(text));
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end == s.c_str() || !(d >= 0) || d > 1e15) {
    return absl::InvalidArgumentError(std::string(what) + ": not a number");
  }
  return d;
}

}  // namespace

std::string parseOsReleasePrettyName(std::string_view text) {
  std::string out;
  eachLine(text, [&out](std::string_view line) {
    line = trim(line);
    constexpr std::string_view kKey = "PRETTY_NAME=";
    if (!line.starts_with(kKey)) return;
    line.remove_prefix(kKey.size());
    std::string value;
    if (!line.empty() && (line.front() == '"' || line.front() == '\'')) {
      char quote = line.front();
      for (size_t i = 1; i < line.size() && line[i] != quote; ++i) {
        if (line[i] == '\\' && quote == '"' && i + 1 < line.size()) ++i;
        value += line[i];
      }
    } else {
      value = std::string(line);
    }
    out = std::move(value);
  });
  return out;
}

absl::StatusOr<MemInfo> parseMemInfo(std::string_view text) {
  std::optional<int64_t> total, available;
  absl::Status problem = absl::OkStatus();
  eachLine(text, [&](std::string_view line) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    std::string_view key = line.substr(0, colon);
    std::optional<int64_t>* slot = key == "MemTotal"       ? &total
                                   : key == "MemAvailable" ? &available
                                                           : nullptr;
    if (slot == nullptr) return;
    std::string_view rest = trim(line.substr(colon + 1));
    size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    std::string_view unit = trim(rest.substr(digits));
    if (digits == 0 || digits > 15 || (unit != "kB" && !unit.empty())) {
      problem = absl::InvalidArgumentError("meminfo: malformed " + std::string(key));
      return;
    }
    int64_t n = std::strtoll(std::string(rest.substr(0, digits)).c_str(), nullptr, 10);
    *slot = unit.empty() ? n : n * 1024;
  });
  KH_RETURN_IF_ERROR(problem);
  if (!total || !available) {
    return absl::InvalidArgumentError("meminfo: MemTotal or MemAvailable missing");
  }
  return MemInfo{*total, *available};
}

absl::StatusOr<int64_t> parseUptime(std::string_view text) {
  KH_ASSIGN_OR_RETURN(double seconds, leadingNumber(text.substr(0, text.find(' ')), "uptime"));
  return static_cast<int64_t>(seconds);
}

absl::StatusOr<LoadAverage> parseLoadAverage(std::string_view text) {
  double fields[3];
  for (double& f : fields) {
    text = trim(text);
    size_t space = text.find(' ');
    if (space == std::string_view::npos) {
      return absl::InvalidArgumentError("loadavg: fewer than 3 fields");
    }
    KH_ASSIGN_OR_RETURN(f, leadingNumber(text.substr(0, space), "loadavg"));
    if (f > proto::kMaxStatusLoad) return absl::InvalidArgumentError("loadavg: out of range");
    text.remove_prefix(space + 1);
  }
  return LoadAverage{fields[0], fields[1], fields[2]};
}

absl::StatusOr<proto::HostFacts> readHostFacts(const std::string& disk_path,
                                               const std::string& root) {
  proto::HostFacts f;
  std::string os = parseOsReleasePrettyName(readSmallFile(root + "/etc/os-release"));
  if (os.empty()) os = parseOsReleasePrettyName(readSmallFile(root + "/usr/lib/os-release"));
  f.os = reportable(os, proto::kMaxStatusHostText);
  struct utsname u {};
  if (uname(&u) == 0) {
    f.kernel = reportable(u.release, proto::kMaxStatusHostText);
    f.arch = reportable(u.machine, proto::kMaxStatusVersionLength);
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus <= 0) return absl::UnavailableError("the number of CPUs is unknown");
  f.cpus = cpus;
  KH_ASSIGN_OR_RETURN(MemInfo mem, parseMemInfo(readSmallFile(root + "/proc/meminfo")));
  f.memory_total_bytes = mem.total_bytes;
  f.memory_available_bytes = mem.available_bytes;
  struct statvfs fs {};
  if (!disk_path.empty() && statvfs(disk_path.c_str(), &fs) == 0) {
    f.disk_path = reportable(disk_path, proto::kMaxStatusPathLength);
    f.disk_total_bytes = static_cast<int64_t>(fs.f_blocks * fs.f_frsize);
    f.disk_free_bytes = static_cast<int64_t>(fs.f_bavail * fs.f_frsize);
  }
  if (auto up = parseUptime(readSmallFile(root + "/proc/uptime")); up.ok()) {
    f.uptime_seconds = *up;
  }
  if (auto load = parseLoadAverage(readSmallFile(root + "/proc/loadavg")); load.ok()) {
    f.load1 = load->load1;
    f.load5 = load->load5;
    f.load15 = load->load15;
  }
  return f;
}

}  // namespace kubehub::agent
