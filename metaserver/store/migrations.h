#pragma once
/// Schema migrations: the SQL files in metaserver/store/migrations/ (NNN_name.sql, compiled
/// into the binary), put in order and checked (pure), and applied at start-up under a
/// PostgreSQL advisory lock so that metaservers starting at once apply each migration once.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::metaserver {

class PgConnection;

struct MigrationFile {
  std::string filename;  // "001_core.sql"
  std::string sql;
};

struct Migration {
  int version = 0;
  std::string name;  // "core"
  std::string sql;
  std::string checksum;  // SHA-256 hex of sql
};

/// Sorts by version and checks names (NNN_lower_snake.sql), duplicates and gaps (versions
/// must run 1, 2, 3, ... so that a missing file is noticed).
absl::StatusOr<std::vector<Migration>> orderMigrations(std::vector<MigrationFile> files);

/// The migration files compiled into this binary, as found.
std::vector<MigrationFile> builtinMigrationFiles();
/// The migrations compiled into this binary, in order.
const std::vector<Migration>& builtinMigrations();

struct MigrationReport {
  int applied = 0;          // by this call
  int already_applied = 0;  // found in schema_migrations
};

/// Applies the pending migrations, each in its own transaction, recorded in
/// kubehub_schema_migrations, while holding a session advisory lock. Fails when an applied
/// migration's checksum differs from the file's (someone edited a released migration) or the
/// database has migrations this binary does not know (it is older than the schema).
absl::StatusOr<MigrationReport> applyMigrations(PgConnection& conn,
                                                const std::vector<Migration>& migrations);

/// Advisory lock keys (pg_advisory_lock takes a bigint); one place so they never collide.
inline constexpr int64_t kMigrationLockKey = 0x6b68'6d69'6772'0001;   // "khmigr" 1
inline constexpr int64_t kBootstrapLockKey = 0x6b68'6d69'6772'0002;   // keys and CA at start
inline constexpr int64_t kRevocationLockKey = 0x6b68'6d69'6772'0003;  // orders the revocation feed

}  // namespace kubehub::metaserver
