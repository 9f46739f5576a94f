#include "tests/standin/pod_logs.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace kubehub::standin {
namespace {

std::string timestampNow() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(now);
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now - secs).count();
  std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%09lldZ", static_cast<long long>(nanos));
  return buf;
}

}  // namespace

std::string PodLogs::line(const LogRequest& req, int64_t n) {
  std::string out;
  if (req.timestamps) {
    out = timestampNow();
    out.push_back(' ');
  }
  out += "line " + std::to_string(n) + " from " + req.container + "\n";
  return out;
}

std::string PodLogs::history(const LogRequest& req) {
  int64_t first = 1;
  if (req.tail_lines >= 0) first = std::max<int64_t>(1, kHistoryLines - req.tail_lines + 1);
  std::string out;
  for (int64_t n = first; n <= kHistoryLines; ++n) out += line(req, n);
  if (req.limit_bytes >= 0 && out.size() > static_cast<size_t>(req.limit_bytes)) {
    out.resize(static_cast<size_t>(req.limit_bytes));
  }
  return out;
}

std::string PodLogs::fillerBlock(const std::string& container, size_t size) {
  std::string out;
  out.reserve(size + 128);
  char buf[128];
  for (uint64_t n = 1; out.size() < size; ++n) {
    int len =
        std::snprintf(buf, sizeof(buf), "filler line %09llu from %s abcdefghijklmnopqrstuvwxyz\n",
                      static_cast<unsigned long long>(n), container.c_str());
    out.append(buf, static_cast<size_t>(len));
  }
  out.resize(size);
  return out;
}

}  // namespace kubehub::standin
