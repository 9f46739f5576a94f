#include "metaserver/store/migrations.h"

#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "common/auth/token.h"
#include "common/log/log.h"
#include "metaserver/store/pg.h"

namespace kubehub::metaserver {

// Generated at build time from metaserver/store/migrations/*.sql (embed_files.cmake).
const std::vector<std::pair<std::string, std::string>>& embeddedMigrationFiles();

std::vector<MigrationFile> builtinMigrationFiles() {
  std::vector<MigrationFile> files;
  for (const auto& [name, sql] : embeddedMigrationFiles()) files.push_back({name, sql});
  return files;
}

absl::StatusOr<std::vector<Migration>> orderMigrations(std::vector<MigrationFile> files) {
  std::vector<Migration> out;
  for (auto& f : files) {
    const std::string& n = f.filename;
    bool ok = n.size() > 8 && n.ends_with(".sql") && n[3] == '_';
    for (size_t i = 0; ok && i < 3; ++i) ok = n[i] >= '0' && n[i] <= '9';
    std::string name = ok ? n.substr(4, n.size() - 8) : "";
    ok = ok && !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
    if (!ok) {
      return absl::InvalidArgumentError("migration file \"" + n +
                                        "\" is not named NNN_lower_snake_case.sql");
    }
    int version = 0;
    (void)absl::SimpleAtoi(n.substr(0, 3), &version);
    out.push_back(Migration{version, name, std::move(f.sql), ""});
    out.back().checksum = auth::sha256Hex(out.back().sql);
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0 && out[i].version == out[i - 1].version) {
      return absl::InvalidArgumentError("two migrations have version " +
                                        std::to_string(out[i].version));
    }
    if (out[i].version != static_cast<int>(i) + 1) {
      return absl::InvalidArgumentError("migration versions must run 1, 2, 3, ...: version " +
                                        std::to_string(i + 1) + " is missing");
    }
  }
  return out;
}

const std::vector<Migration>& builtinMigrations() {
  static const std::vector<Migration> migrations = [] {
    auto ordered = orderMigrations(builtinMigrationFiles());
    // The build embeds the checked-in files; a unit test proves they order cleanly.
    if (!ordered.ok()) std::abort();
    return *ordered;
  }();
  return migrations;
}

absl::StatusOr<MigrationReport> applyMigrations(PgConnection& conn,
                                                const std::vector<Migration>& migrations) {
  MigrationReport report;
  if (auto s = conn.run("SELECT pg_advisory_lock($1)", {std::to_string(kMigrationLockKey)});
      !s.ok())
    return s;
  auto work = [&]() -> absl::Status {
    if (auto s =
            conn.run("CREATE TABLE IF NOT EXISTS kubehub_schema_migrations ("
                     " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                     " applied_at timestamptz NOT NULL DEFAULT now())");
        !s.ok()) {
      return s;
    }
    auto applied =
        conn.exec("SELECT version, name, checksum FROM kubehub_schema_migrations ORDER BY version");
    if (!applied.ok()) return applied.status();
    std::map<int, std::string> checksums;
    for (int r = 0; r < applied->rows(); ++r)
      checksums[static_cast<int>(applied->int64(r, 0))] = applied->str(r, 2);
    int known = migrations.empty() ? 0 : migrations.back().version;
    if (!checksums.empty() && checksums.rbegin()->first > known) {
      return absl::FailedPreconditionError("the database schema is at version " +
                                           std::to_string(checksums.rbegin()->first) +
                                           " but this metaserver only knows migrations up to " +
                                           std::to_string(known) + ": run a newer metaserver");
    }
    for (const Migration& m : migrations) {
      auto it = checksums.find(m.version);
      if (it != checksums.end()) {
        if (it->second != m.checksum) {
          return absl::FailedPreconditionError(
              "migration " + std::to_string(m.version) + "_" + m.name +
              " was changed after it was applied (checksum mismatch)");
        }
        ++report.already_applied;
        continue;
      }
      absl::Status s = conn.transaction([&]() -> absl::Status {
        if (auto r = conn.runScript(m.sql); !r.ok()) return r;
        return conn.run(
            "INSERT INTO kubehub_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            {std::to_string(m.version), m.name, m.checksum});
      });
      if (!s.ok()) {
        return absl::Status(s.code(), "migration " + std::to_string(m.version) + "_" + m.name +
                                          " failed: " + std::string(s.message()));
      }
      log::info("applied migration", {{"version", m.version}, {"name", m.name}});
      ++report.applied;
    }
    return absl::OkStatus();
  };
  absl::Status s = work();
  if (!conn.broken())
    (void)conn.run("SELECT pg_advisory_unlock($1)", {std::to_string(kMigrationLockKey)});
  if (!s.ok()) return s;
  return report;
}

}  // namespace kubehub::metaserver
