#include "hub/audit/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/auth/secret_name.h"

namespace kubehub::hub {

namespace {

int openForAppend(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/// Writes all of `data`, retrying partial writes and interrupts. False on an error.
bool writeFully(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

/// Length of the well-formed UTF-8 sequence starting at s[0], or 0 when it is not one.
size_t utf8SequenceLength(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = byte(0);
  size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  if (byte(1) < lo || byte(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return n;
}

void appendKey(std::string& out, std::string_view key) {
  out += ",\"";
  out += key;
  out += "\":";
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path, size_t max_bytes,
                                                         int max_files) {
  if (path.empty()) return std::unique_ptr<AuditLog>();
  if (path == "-") {
    return std::unique_ptr<AuditLog>(new AuditLog(path, STDOUT_FILENO, false, 0, 0, 0));
  }
  int fd = openForAppend(path);
  if (fd < 0) {
    return absl::InvalidArgumentError("audit log \"" + path +
                                      "\" cannot be opened: " + std::strerror(errno));
  }
  struct stat st {};
  size_t size = ::fstat(fd, &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  return std::unique_ptr<AuditLog>(
      new AuditLog(path, fd, true, max_bytes, std::max(max_files, 1), size));
}

AuditLog::AuditLog(std::string path, int fd, bool owned, size_t max_bytes, int max_files,
                   size_t size)
    : path_(std::move(path)),
      fd_(fd),
      owned_(owned),
      max_bytes_(max_bytes),
      max_files_(max_files),
      size_(size) {}

AuditLog::~AuditLog() {
  flush();
  std::unique_lock lock(mu_);
  if (owned_ && fd_ >= 0) ::close(fd_);
}

void AuditLog::appendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = utf8SequenceLength(s.substr(i));
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

std::string redactParameters(std::string_view parameters, std::string_view secret_names) {
  auto j = nlohmann::json::parse(parameters, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "{}";
  std::vector<std::string_view> secret;
  for (size_t at = 0; at <= secret_names.size();) {
    size_t comma = std::min(secret_names.find(',', at), secret_names.size());
    if (comma > at) secret.push_back(secret_names.substr(at, comma - at));
    at = comma + 1;
  }
  for (auto& [name, value] : j.items()) {
    bool marked = std::find(secret.begin(), secret.end(), name) != secret.end();
    if (marked || auth::looksSecret(name)) value = "[redacted]";
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string AuditLog::format(const AuditRecord& r, std::chrono::system_clock::time_point now) {
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[96];
  std::snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  std::string out;
  out.reserve(320);
  out += "{\"time\":\"";
  out += ts;
  out += '"';
  appendKey(out, "tenant");
  appendJsonString(out, r.tenant);
  appendKey(out, "user");
  appendJsonString(out, r.user);
  appendKey(out, "cluster");
  appendJsonString(out, r.cluster);
  appendKey(out, "verb");
  appendJsonString(out, r.verb);
  if (!r.resource.empty()) {
    appendKey(out, "apiGroup");
    appendJsonString(out, r.api_group);
    appendKey(out, "resource");
    appendJsonString(out, r.resource);
    if (!r.subresource.empty()) {
      appendKey(out, "subresource");
      appendJsonString(out, r.subresource);
    }
    appendKey(out, "namespace");
    appendJsonString(out, r.namespace_name);
    appendKey(out, "name");
    appendJsonString(out, r.name);
  } else {
    appendKey(out, "path");
    appendJsonString(out, r.path);
  }
  if (!r.command.empty()) {
    appendKey(out, "command");
    appendJsonString(out, r.command);
    appendKey(out, "parameters");
    out += r.parameters.empty() ? "{}" : r.parameters;
  }
  appendKey(out, "code");
  out += std::to_string(r.status);
  char latency[32];
  double ms_latency = r.latency_seconds > 0 ? r.latency_seconds * 1e3 : 0.0;
  std::snprintf(latency, sizeof(latency), "%.3f", ms_latency);
  appendKey(out, "latencyMs");
  out += latency;
  appendKey(out, "bytes");
  out += std::to_string(r.bytes);
  appendKey(out, "servedFrom");
  appendJsonString(out, r.served_from);
  appendKey(out, "peer");
  appendJsonString(out, r.peer);
  if (!r.reason.empty()) {
    appendKey(out, "reason");
    appendJsonString(out, r.reason);
  }
  out += "}\n";
  return out;
}

void AuditLog::write(const AuditRecord& r) {
  writeOut(format(r, std::chrono::system_clock::now()));
}

void AuditLog::write(const AuditRecord& r, const boost::asio::any_io_executor& executor) {
  std::string line = format(r, std::chrono::system_clock::now());
  auto self = weak_from_this();
  if (self.expired()) {
    writeOut(line);
    return;
  }
  std::string overflow;
  bool post = false;
  {
    std::lock_guard lock(pending_mu_);
    if (pending_.size() + line.size() > kMaxPending) overflow.swap(pending_);
    pending_ += line;
    if (!flush_posted_) post = flush_posted_ = true;
  }
  if (!overflow.empty()) {
    std::lock_guard lock(batch_mu_);
    writeOut(overflow);
  }
  if (post) {
    boost::asio::post(executor, [self] {
      if (auto log = self.lock()) log->flush();
    });
  }
}

void AuditLog::flush() {
  std::lock_guard batch(batch_mu_);
  std::string lines;
  {
    std::lock_guard lock(pending_mu_);
    lines.swap(pending_);
    flush_posted_ = false;
  }
  if (!lines.empty()) writeOut(lines);
}

void AuditLog::writeOut(std::string_view line) {
  {
    std::shared_lock lock(mu_);
    if (fd_ < 0) return;
    if (!writeFully(fd_, line)) {
      if (!error_reported_.exchange(true)) {
        std::fprintf(stderr, "kubehub-hub: cannot write the audit log %s: %s\n", path_.c_str(),
                     std::strerror(errno));
      }
      return;
    }
  }
  size_t size = size_.fetch_add(line.size()) + line.size();
  if (owned_ && max_bytes_ > 0 && size >= max_bytes_) rotate();
}

void AuditLog::rotate() {
  std::unique_lock lock(mu_);
  if (size_.load() < max_bytes_ || fd_ < 0) return;  // another writer rotated first
  ::close(fd_);
  for (int i = max_files_ - 1; i >= 1; --i) {
    std::string from = path_ + "." + std::to_string(i);
    std::string to = path_ + "." + std::to_string(i + 1);
    std::rename(from.c_str(), to.c_str());
  }
  std::rename(path_.c_str(), (path_ + ".1").c_str());
  std::remove((path_ + "." + std::to_string(max_files_ + 1)).c_str());
  fd_ = openForAppend(path_);
  if (fd_ < 0) {
    // The directory went away or filled up: later lines have nowhere to go; say so once.
    std::fprintf(stderr, "kubehub-hub: audit log %s cannot be reopened after rotation: %s\n",
                 path_.c_str(), std::strerror(errno));
  }
  size_.store(0);
}

}  // namespace kubehub::hub
