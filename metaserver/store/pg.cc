#include "metaserver/store/pg.h"

#include <libpq-fe.h>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "common/log/log.h"

namespace kubehub::metaserver {

namespace {

// A failed connection attempt is not retried for this long: while PostgreSQL is down,
// requests fail fast instead of each waiting for a connect.
constexpr std::chrono::milliseconds kReconnectBackoff{200};

std::string trimmed(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  // libpq may report several lines; the first says what happened.
  if (auto nl = s.find('\n'); nl != std::string::npos) s = s.substr(0, nl);
  return s;
}

absl::Status withSqlState(absl::Status s, std::string_view state) {
  s.SetPayload(absl::string_view(kSqlStatePayload.data(), kSqlStatePayload.size()),
               absl::Cord(absl::string_view(state.data(), state.size())));
  return s;
}

absl::Status unavailable(absl::string_view detail) {
  return absl::UnavailableError("database unavailable: " + std::string(detail));
}

}  // namespace

std::string sqlState(const absl::Status& status) {
  auto p = status.GetPayload(absl::string_view(kSqlStatePayload.data(), kSqlStatePayload.size()));
  return p ? std::string(*p) : std::string();
}

PgResult::PgResult(PGresult* r) : res_(r, PQclear) {}
int PgResult::rows() const { return res_ ? PQntuples(res_.get()) : 0; }
int PgResult::affected() const {
  if (!res_) return 0;
  int n = 0;
  (void)absl::SimpleAtoi(PQcmdTuples(res_.get()), &n);
  return n;
}
bool PgResult::isNull(int row, int col) const { return PQgetisnull(res_.get(), row, col) == 1; }
std::string_view PgResult::get(int row, int col) const {
  return std::string_view(PQgetvalue(res_.get(), row, col),
                          static_cast<size_t>(PQgetlength(res_.get(), row, col)));
}
int64_t PgResult::int64(int row, int col) const {
  int64_t v = 0;
  auto s = get(row, col);
  (void)absl::SimpleAtoi(absl::string_view(s.data(), s.size()), &v);
  return v;
}
double PgResult::number(int row, int col) const {
  double v = 0;
  auto s = get(row, col);
  (void)absl::SimpleAtod(absl::string_view(s.data(), s.size()), &v);
  return v;
}

absl::Status validateConninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
  if (parsed == nullptr) {
    std::string msg = trimmed(err);
    if (err != nullptr) PQfreemem(err);
    return absl::InvalidArgumentError("invalid database URL: " +
                                      redactConninfoPassword(msg, conninfo));
  }
  PQconninfoFree(parsed);
  return absl::OkStatus();
}

std::string redactConninfoPassword(std::string text, const std::string& conninfo) {
  std::vector<std::string> secrets;
  if (PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), nullptr); parsed != nullptr) {
    for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
      if (o->val != nullptr && *o->val != '\0' && std::string_view(o->keyword) == "password") {
        secrets.emplace_back(o->val);
      }
    }
    PQconninfoFree(parsed);
  } else {
    // Unparseable: take whatever follows "password=" or sits between "://user:" and "@".
    auto add_until = [&](size_t from, std::string_view stops) {
      size_t end = conninfo.find_first_of(stops, from);
      std::string value = conninfo.substr(from, end == std::string::npos ? end : end - from);
      if (!value.empty()) secrets.push_back(std::move(value));
    };
    if (size_t p = conninfo.find("password="); p != std::string::npos) add_until(p + 9, " &");
    if (size_t scheme = conninfo.find("://"); scheme != std::string::npos) {
      size_t at = conninfo.find('@', scheme);
      size_t colon = conninfo.find(':', scheme + 3);
      if (at != std::string::npos && colon != std::string::npos && colon < at) {
        add_until(colon + 1, "@");
      }
    }
  }
  for (const auto& secret : secrets) {
    for (size_t p = text.find(secret); p != std::string::npos; p = text.find(secret, p + 3)) {
      text.replace(p, secret.size(), "***");
    }
  }
  return text;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::connect(const std::string& conninfo) {
  if (auto s = validateConninfo(conninfo); !s.ok()) return s;
  // Defaults first: values in the caller's conninfo (expanded from dbname) override them.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"5", "kubehub-metaserver", conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (conn == nullptr) return unavailable("out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = redactConninfoPassword(trimmed(PQerrorMessage(conn)), conninfo);
    PQfinish(conn);
    return unavailable(msg);
  }
  auto connection = std::unique_ptr<PgConnection>(new PgConnection(conn));
  // What the metaserver acknowledges (a grant, a revocation) must survive a database crash: a
  // server configured with synchronous_commit=off would lose the last commits before it. Any
  // stronger setting (local, remote_write, remote_apply) is left as the operator chose it.
  auto durable = connection->exec(
      "SELECT set_config('synchronous_commit', 'on', false) "
      "WHERE current_setting('synchronous_commit') = 'off'");
  if (!durable.ok()) return durable.status();
  if (durable->rows() > 0) {
    static std::once_flag once;
    std::call_once(once, [] {
      log::info(
          "the database has synchronous_commit=off; the metaserver's sessions turn it on, so "
          "that a write it acknowledged survives a database crash");
    });
  }
  return connection;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::broken() const { return PQstatus(conn_) != CONNECTION_OK; }

int PgConnection::socket() const { return PQsocket(conn_); }

absl::StatusOr<std::vector<std::string>> PgConnection::takeNotifications() {
  if (PQconsumeInput(conn_) == 0 || broken()) {
    return unavailable(trimmed(PQerrorMessage(conn_)));
  }
  std::vector<std::string> out;
  while (PGnotify* n = PQnotifies(conn_)) {
    out.emplace_back(n->extra ? n->extra : "");
    PQfreemem(n);
  }
  return out;
}

absl::StatusOr<PgResult> PgConnection::exec(std::string_view sql,
                                            const std::vector<PgParam>& params) {
  std::string statement(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* raw = PQexecParams(conn_, statement.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  PgResult res(raw);
  ExecStatusType st = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    ++succeeded_;
    return res;
  }
  std::string state = raw ? trimmed(PQresultErrorField(raw, PG_DIAG_SQLSTATE)) : "";
  std::string msg = raw ? trimmed(PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY)) : "";
  if (msg.empty()) msg = trimmed(PQerrorMessage(conn_));
  if (broken() || state.starts_with("08") || state.starts_with("57P") || state.starts_with("53")) {
    return withSqlState(unavailable(msg.empty() ? "connection lost" : msg), state);
  }
  absl::Status s;
  if (state == "23505") {
    s = absl::AlreadyExistsError(msg);
  } else if (state == "23503") {
    s = absl::FailedPreconditionError(msg);
  } else if (state == "40001" || state == "40P01") {
    s = absl::AbortedError(msg);
  } else if (state.starts_with("22") || state.starts_with("23")) {
    s = absl::InvalidArgumentError(msg);
  } else {
    s = absl::InternalError("database error: " + msg);
  }
  return withSqlState(s, state);
}

absl::Status PgConnection::run(std::string_view sql, const std::vector<PgParam>& params) {
  auto r = exec(sql, params);
  return r.ok() ? absl::OkStatus() : r.status();
}

absl::Status PgConnection::runScript(const std::string& sql) {
  PGresult* raw = PQexec(conn_, sql.c_str());
  PgResult res(raw);
  ExecStatusType st = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    ++succeeded_;
    return absl::OkStatus();
  }
  std::string msg = raw ? trimmed(PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY)) : "";
  if (msg.empty()) msg = trimmed(PQerrorMessage(conn_));
  if (broken()) return unavailable(msg);
  return absl::InternalError("database error: " + msg);
}

absl::Status PgConnection::transaction(const std::function<absl::Status()>& fn) {
  if (auto s = run("BEGIN"); !s.ok()) return s;
  absl::Status s = fn();
  if (s.ok()) return run("COMMIT");
  if (!broken()) (void)run("ROLLBACK");
  return s;
}

PgPool::PgPool(std::string conninfo, size_t size, std::chrono::milliseconds acquire_timeout)
    : conninfo_(std::move(conninfo)),
      size_(std::max<size_t>(1, size)),
      acquire_timeout_(acquire_timeout) {}

PgPool::~PgPool() = default;

absl::StatusOr<std::unique_ptr<PgConnection>> PgPool::acquire(bool* reused) {
  std::unique_lock lk(mu_);
  auto deadline = std::chrono::steady_clock::now() + acquire_timeout_;
  for (;;) {
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      *reused = true;
      return c;
    }
    if (open_ < size_) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_failure_ < kReconnectBackoff) return unavailable(last_error_);
      ++open_;
      lk.unlock();
      auto c = PgConnection::connect(conninfo_);
      lk.lock();
      if (!c.ok()) {
        --open_;
        last_failure_ = std::chrono::steady_clock::now();
        last_error_ = std::string(c.status().message().substr(c.status().message().find(':') + 2));
        ++counters_.connect_failures;
        if (healthy_) {
          healthy_ = false;
          log::warn("database unavailable", {{"error", last_error_}});
        }
        cv_.notify_one();
        return c.status();
      }
      ++counters_.connects;
      if (!healthy_) {
        healthy_ = true;
        log::info("database reachable again");
      }
      *reused = false;
      return c;
    }
    if (cv_.wait_until(lk, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= size_) {
      return absl::UnavailableError("database connection pool exhausted: all " +
                                    std::to_string(size_) + " connections are busy");
    }
  }
}

void PgPool::release(std::unique_ptr<PgConnection> conn) {
  std::vector<std::unique_ptr<PgConnection>> dropped;
  {
    std::lock_guard lk(mu_);
    if (conn->broken()) {
      // The server went away: the idle connections are most likely dead too.
      ++counters_.broken;
      log::warn("database connection lost", {{"dropped_idle", idle_.size()}});
      open_ -= 1 + idle_.size();
      dropped = std::move(idle_);
      idle_.clear();
      dropped.push_back(std::move(conn));
    } else {
      idle_.push_back(std::move(conn));
    }
  }
  cv_.notify_all();
  // PQfinish outside the lock.
  dropped.clear();
}

absl::Status PgPool::run(const std::function<absl::Status(PgConnection&)>& fn) {
  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    auto conn = acquire(&reused);
    if (!conn.ok()) return conn.status();
    (*conn)->resetCounters();
    absl::Status s = fn(**conn);
    bool broken = (*conn)->broken();
    int succeeded = (*conn)->succeeded();
    release(std::move(*conn));
    if (s.ok() || !broken) return s;
    if (attempt == 0 && reused && succeeded == 0) continue;
    if (s.code() != absl::StatusCode::kUnavailable) return unavailable(s.message());
    return s;
  }
}

absl::Status PgPool::transaction(const std::function<absl::Status(PgConnection&)>& fn) {
  return run([&](PgConnection& c) { return c.transaction([&] { return fn(c); }); });
}

absl::Status PgPool::ping() {
  return run([](PgConnection& c) { return c.run("SELECT 1"); });
}

PgPoolStats PgPool::stats() const {
  std::lock_guard lk(mu_);
  PgPoolStats s = counters_;
  s.open = open_;
  s.idle = idle_.size();
  return s;
}

}  // namespace kubehub::metaserver
