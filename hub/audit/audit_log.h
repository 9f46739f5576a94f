#pragma once
/// The audit log: one JSON line per user request (time, tenant, user, cluster, verb, resource,
/// namespace, name, status code, latency, bytes, served from cache or forwarded), to stdout or
/// to a file rotated by size. Never contains tokens or request bodies. Thread-safe; a write is
/// a buffered append under a mutex, flushed at least every second.

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"

namespace kubehub::hub {

struct AuditRecord {
  std::string tenant;
  std::string user;
  std::string cluster;
  std::string verb;
  std::string api_group;
  std::string resource;
  std::string subresource;
  std::string namespace_name;
  std::string name;
  std::string path;  // non-resource requests
  int status = 0;
  double latency_seconds = 0;
  uint64_t bytes = 0;
  std::string served_from;  // cache, forward, hub
  std::string peer;
  std::string reason;  // why refused, if refused
};

class AuditLog {
 public:
  /// `path`: "-" for stdout, "" for none, else a file (created, appended, rotated to
  /// path.1..path.N when it exceeds max_bytes).
  static absl::StatusOr<std::unique_ptr<AuditLog>> open(const std::string& path, size_t max_bytes,
                                                        int max_files);
  ~AuditLog();
  void write(const AuditRecord& r);
  /// The line written for a record (exposed for tests).
  static std::string format(const AuditRecord& r, std::chrono::system_clock::time_point now);

 private:
  AuditLog(std::string path, FILE* f, size_t max_bytes, int max_files, size_t size);
  void rotateLocked();

  std::mutex mu_;
  std::string path_;
  FILE* file_;
  size_t max_bytes_;
  int max_files_;
  size_t size_;
  std::chrono::steady_clock::time_point last_flush_;
};

}  // namespace kubehub::hub
