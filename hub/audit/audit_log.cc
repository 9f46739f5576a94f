#include "hub/audit/audit_log.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

namespace kubehub::hub {

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path, size_t max_bytes,
                                                         int max_files) {
  if (path.empty()) return std::unique_ptr<AuditLog>();
  if (path == "-") return std::unique_ptr<AuditLog>(new AuditLog(path, stdout, 0, 0, 0));
  FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) {
    return absl::InvalidArgumentError("audit log \"" + path +
                                      "\" cannot be opened: " + std::strerror(errno));
  }
  struct stat st {};
  size_t size = ::stat(path.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  return std::unique_ptr<AuditLog>(new AuditLog(path, f, max_bytes, std::max(max_files, 1), size));
}

AuditLog::AuditLog(std::string path, FILE* f, size_t max_bytes, int max_files, size_t size)
    : path_(std::move(path)),
      file_(f),
      max_bytes_(max_bytes),
      max_files_(max_files),
      size_(size),
      last_flush_(std::chrono::steady_clock::now()) {}

AuditLog::~AuditLog() {
  std::lock_guard lock(mu_);
  if (file_ == nullptr) return;
  std::fflush(file_);
  if (file_ != stdout) std::fclose(file_);
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
  nlohmann::ordered_json j;
  j["time"] = ts;
  j["tenant"] = r.tenant;
  j["user"] = r.user;
  j["cluster"] = r.cluster;
  j["verb"] = r.verb;
  if (!r.resource.empty()) {
    j["apiGroup"] = r.api_group;
    j["resource"] = r.resource;
    if (!r.subresource.empty()) j["subresource"] = r.subresource;
    j["namespace"] = r.namespace_name;
    j["name"] = r.name;
  } else {
    j["path"] = r.path;
  }
  j["code"] = r.status;
  j["latencyMs"] = static_cast<double>(static_cast<int64_t>(r.latency_seconds * 1e6)) / 1000.0;
  j["bytes"] = r.bytes;
  j["servedFrom"] = r.served_from;
  j["peer"] = r.peer;
  if (!r.reason.empty()) j["reason"] = r.reason;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void AuditLog::rotateLocked() {
  if (file_ == stdout || max_bytes_ == 0 || size_ < max_bytes_) return;
  std::fclose(file_);
  for (int i = max_files_ - 1; i >= 1; --i) {
    std::string from = path_ + "." + std::to_string(i);
    std::string to = path_ + "." + std::to_string(i + 1);
    std::rename(from.c_str(), to.c_str());
  }
  std::rename(path_.c_str(), (path_ + ".1").c_str());
  std::remove((path_ + "." + std::to_string(max_files_ + 1)).c_str());
  file_ = std::fopen(path_.c_str(), "a");
  size_ = 0;
}

void AuditLog::write(const AuditRecord& r) {
  std::string line = format(r, std::chrono::system_clock::now());
  std::lock_guard lock(mu_);
  if (file_ == nullptr) return;
  std::fwrite(line.data(), 1, line.size(), file_);
  size_ += line.size();
  // Every line reaches the file at once: an audit trail must not lose the last requests.
  std::fflush(file_);
  rotateLocked();
}

}  // namespace kubehub::hub
