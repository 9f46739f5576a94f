#pragma once
/// The audit log: one JSON line per user request (time, tenant, user, cluster, verb, resource,
/// namespace, name, status code, latency, bytes, served from cache or forwarded), to stdout or
/// to a file rotated by size. Never contains tokens or request bodies (a
/// command call's parameters excepted, with secret ones redacted). Thread-safe.
///
/// write(r) hands the line to the kernel before it returns. write(r, executor) lets lines of
/// requests that end in the same pass of an event loop share one write(): the line is queued
/// and a flush is posted to `executor`, which runs before that loop's thread next waits for I/O
/// (a write() per line was 13% of the hub's CPU for cached reads). Either way a line is in the
/// kernel microseconds after its response, and a crash of the hub loses none that were written.
/// Appends to a file opened O_APPEND (and pipe writes of less than PIPE_BUF) are atomic, so
/// writers do not serialize on a lock; only rotation takes the lock exclusively. A line is
/// formatted by hand: building it as a JSON tree cost the hub 5% of its cached reads.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

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
  /// A native command call: its name, and its parameters as a JSON object's text with the
  /// secret ones redacted (see redactParameters).
  std::string command;
  std::string parameters;
};

/// A command call's parameters (a JSON object's text) for the audit line: values of names that
/// look secret or that the agent marks secret replaced by "[redacted]". Not an object: "{}".
std::string redactParameters(std::string_view parameters, std::string_view secret_names);

class AuditLog : public std::enable_shared_from_this<AuditLog> {
 public:
  /// `path`: "-" for stdout, "" for none, else a file (created, appended, rotated to
  /// path.1..path.N when it exceeds max_bytes).
  static absl::StatusOr<std::unique_ptr<AuditLog>> open(const std::string& path, size_t max_bytes,
                                                        int max_files);
  ~AuditLog();
  void write(const AuditRecord& r);
  /// Queues the line and posts its flush to `executor` (see above). Without shared ownership of
  /// this log (nothing to keep it alive for the flush) the line is written at once.
  void write(const AuditRecord& r, const boost::asio::any_io_executor& executor);
  /// Writes what is queued (also done by the destructor).
  void flush();
  /// The line written for a record (exposed for tests).
  static std::string format(const AuditRecord& r, std::chrono::system_clock::time_point now);
  /// Appends `s` as a JSON string: quotes, escapes, and invalid UTF-8 replaced by U+FFFD.
  static void appendJsonString(std::string& out, std::string_view s);

 private:
  AuditLog(std::string path, int fd, bool owned, size_t max_bytes, int max_files, size_t size);
  void rotate();
  void writeOut(std::string_view lines);

  /// Lines queued by write(r, executor); at most kMaxPending bytes (beyond, written at once).
  static constexpr size_t kMaxPending = 256 * 1024;
  std::mutex pending_mu_;
  /// Held while a batch is written: batches (over PIPE_BUF) must not interleave on a pipe.
  std::mutex batch_mu_;
  std::string pending_;
  bool flush_posted_ = false;

  /// Shared: writing a line. Exclusive: swapping the file during rotation.
  std::shared_mutex mu_;
  std::string path_;
  int fd_;
  bool owned_;  // false for stdout
  size_t max_bytes_;
  int max_files_;
  std::atomic<size_t> size_;
  std::atomic<bool> error_reported_{false};
};

}  // namespace kubehub::hub
