#pragma once
/// A thin libpq layer: one connection (PgConnection), results (PgResult), and a small pool
/// (PgPool) that reconnects after PostgreSQL restarts. Every statement is parameterised
/// (PQexecParams); SQLSTATEs become absl codes (unique_violation → AlreadyExists, lost or
/// refused connections → Unavailable with "database unavailable: ..."). A PgConnection is
/// used by one thread at a time; PgPool is thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace kubehub::metaserver {

/// A statement parameter; nullopt is SQL NULL.
using PgParam = std::optional<std::string>;

class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r);
  int rows() const;
  int affected() const;  // rows changed by INSERT/UPDATE/DELETE
  bool isNull(int row, int col) const;
  std::string_view get(int row, int col) const;
  std::string str(int row, int col) const { return std::string(get(row, col)); }
  int64_t int64(int row, int col) const;
  double number(int row, int col) const;
  bool boolean(int row, int col) const { return get(row, col) == "t"; }

 private:
  std::shared_ptr<PGresult> res_;
};

/// The SQLSTATE of a failed statement is attached to its Status under this payload URL.
inline constexpr std::string_view kSqlStatePayload = "kubehub.dev/sqlstate";
std::string sqlState(const absl::Status& status);

/// InvalidArgument when `conninfo` is neither a key=value string nor a postgresql:// URI.
absl::Status validateConninfo(const std::string& conninfo);

/// `text` with the password of `conninfo` (key=value or URI) replaced by "***": libpq echoes
/// pieces of a malformed conninfo in its messages, and those messages reach the log.
std::string redactConninfoPassword(std::string text, const std::string& conninfo);

class PgConnection {
 public:
  /// Connects (blocking, bounded by connect_timeout). Unavailable when the server cannot be
  /// reached, InvalidArgument for a malformed conninfo.
  static absl::StatusOr<std::unique_ptr<PgConnection>> connect(const std::string& conninfo);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  absl::StatusOr<PgResult> exec(std::string_view sql, const std::vector<PgParam>& params = {});
  /// exec for statements without a result the caller needs.
  absl::Status run(std::string_view sql, const std::vector<PgParam>& params = {});
  /// Runs several statements without parameters (PQexec): only for the trusted migration
  /// files compiled into the binary, never for anything built from input.
  absl::Status runScript(const std::string& sql);
  /// Runs fn between BEGIN and COMMIT (ROLLBACK when fn fails).
  absl::Status transaction(const std::function<absl::Status()>& fn);

  /// True once the connection to the server is lost; the pool then drops it.
  bool broken() const;
  /// The socket, to wait for notifications (LISTEN) with poll().
  int socket() const;
  /// Reads what the server sent and returns the payloads of the notifications received
  /// (after LISTEN); Unavailable when the connection is lost.
  absl::StatusOr<std::vector<std::string>> takeNotifications();
  /// Statements that succeeded since the last resetCounters().
  int succeeded() const { return succeeded_; }
  void resetCounters() { succeeded_ = 0; }

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
  int succeeded_ = 0;
};

struct PgPoolStats {
  size_t open = 0;
  size_t idle = 0;
  uint64_t connects = 0;
  uint64_t connect_failures = 0;
  uint64_t broken = 0;
};

class PgPool {
 public:
  /// `conninfo`: a libpq key=value string or postgresql:// URI.
  PgPool(std::string conninfo, size_t size, std::chrono::milliseconds acquire_timeout);
  ~PgPool();

  /// Runs fn on a pooled connection. When a reused connection turns out to be dead before
  /// any statement succeeded (PostgreSQL restarted while it sat idle), fn is retried once on
  /// a fresh connection, so the first request after a restart does not fail needlessly.
  absl::Status run(const std::function<absl::Status(PgConnection&)>& fn);
  /// run() inside a transaction.
  absl::Status transaction(const std::function<absl::Status(PgConnection&)>& fn);

  /// A cheap round trip (SELECT 1), for /readyz.
  absl::Status ping();
  PgPoolStats stats() const;

 private:
  absl::StatusOr<std::unique_ptr<PgConnection>> acquire(bool* reused);
  void release(std::unique_ptr<PgConnection> conn);

  std::string conninfo_;
  size_t size_;
  std::chrono::milliseconds acquire_timeout_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  size_t open_ = 0;
  std::chrono::steady_clock::time_point last_failure_{};
  std::string last_error_;
  bool healthy_ = true;  // for logging state changes only
  PgPoolStats counters_;
};

}  // namespace kubehub::metaserver
