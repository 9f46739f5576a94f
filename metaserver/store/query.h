#pragma once
/// Small typed helpers the store's aggregates write their statements with, over pg.h: a
/// statement and a row reader give a record (one), records (all), a keyset page (page), or a
/// checked change (change); run() and transaction() borrow a pooled connection for several
/// statements. Each statement states its failures in one line (Errors), with messages naming
/// the resource, as API clients see them. Stateless; the pool is thread-safe, a connection is
/// not (use it only inside the run() or transaction() that lent it).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "metaserver/store/page.h"
#include "metaserver/store/pg.h"

/// A timestamp column as whole seconds since the epoch. A string literal, like the aggregates'
/// column lists, so that each statement is one literal where it is run.
#define KH_SQL_EPOCH(x) "floor(extract(epoch FROM " x "))::bigint"

namespace kubehub::metaserver::sql {

using Params = std::vector<PgParam>;

/// What a statement's failures mean to the caller, stated where the statement is:
/// `sql::about("tenant", name).ifReferenced(...)`. A failure not stated keeps the database's own
/// status (pg.h: unique_violation is AlreadyExists, foreign_key_violation FailedPrecondition).
class Errors {
 public:
  /// No row matched: one() and change(). Unstated: NotFound "not found".
  Errors ifMissing(absl::Status s) const;
  /// A unique index refused the row.
  Errors ifDuplicate(absl::Status s) const;
  /// A foreign key refused it (a missing parent, or children left behind).
  Errors ifReferenced(absl::Status s) const;

  /// The failure `s` of the statement as the caller states it.
  absl::Status map(absl::Status s) const;
  /// What no matching row means.
  absl::Status missing() const;

 private:
  absl::Status missing_;
  absl::Status duplicate_;
  absl::Status referenced_;
};

/// NotFound `KIND "NAME" not found`.
absl::Status notFound(std::string_view kind, std::string_view name);
/// AlreadyExists `KIND "NAME" already exists`.
absl::Status alreadyExists(std::string_view kind, std::string_view name);
/// The errors of a statement on one named row: missing and duplicate name it.
Errors about(std::string_view kind, std::string_view name);

// ---- column readers ----

std::optional<int64_t> optInt(const PgResult& r, int row, int col);
/// A JSON array of strings (other elements skipped; not an array: empty).
std::vector<std::string> stringArray(std::string_view text);
/// Labels and addresses (the type of auth::Labels).
using TextMap = std::map<std::string, std::string, std::less<>>;
/// A JSON object of strings (other values skipped; not an object: empty).
TextMap stringMap(std::string_view text);
/// A map as a JSON object, for a jsonb parameter.
std::string mapJson(const TextMap& m);
/// Booleans and numbers as parameters.
inline std::string boolean(bool b) { return b ? "true" : "false"; }
inline std::string number(int64_t n) { return std::to_string(n); }
/// The first column, for statements that read one value.
inline std::string firstText(const PgResult& r, int i) { return r.str(i, 0); }
inline bool firstBool(const PgResult& r, int i) { return r.boolean(i, 0); }
inline int64_t firstInt(const PgResult& r, int i) { return r.int64(i, 0); }

// ---- rows ----

namespace detail {
template <class R>
struct Unwrap {
  using type = R;
};
template <class R>
struct Unwrap<absl::StatusOr<R>> {
  using type = R;
};
}  // namespace detail

/// What a row reader `F` (`T f(const PgResult&, int)` or one returning StatusOr<T>) reads.
template <class F>
using RowOf =
    typename detail::Unwrap<std::decay_t<std::invoke_result_t<F&, const PgResult&, int>>>::type;

/// The statement's result; failures mapped by `errors`.
absl::StatusOr<PgResult> query(PgConnection& c, std::string_view sql, const Params& params = {},
                               const Errors& errors = {});

/// Runs a statement whose result nobody reads.
absl::Status exec(PgConnection& c, std::string_view sql, const Params& params = {},
                  const Errors& errors = {});

/// An INSERT, UPDATE or DELETE that must change a row: errors.missing() when it changed none.
absl::Status change(PgConnection& c, std::string_view sql, const Params& params,
                    const Errors& errors);

/// The first row, or nullopt when there is none.
template <class F>
absl::StatusOr<std::optional<RowOf<F>>> maybe(PgConnection& c, std::string_view sql,
                                              const Params& params, F row,
                                              const Errors& errors = {}) {
  auto r = query(c, sql, params, errors);
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return std::optional<RowOf<F>>();
  absl::StatusOr<RowOf<F>> item = row(*r, 0);
  if (!item.ok()) return item.status();
  return std::optional<RowOf<F>>(std::move(*item));
}

/// The first row; errors.missing() when there is none.
template <class F>
absl::StatusOr<RowOf<F>> one(PgConnection& c, std::string_view sql, const Params& params, F row,
                             const Errors& errors = {}) {
  auto found = maybe(c, sql, params, row, errors);
  if (!found.ok()) return found.status();
  if (!*found) return errors.missing();
  return std::move(**found);
}

/// Every row.
template <class F>
absl::StatusOr<std::vector<RowOf<F>>> all(PgConnection& c, std::string_view sql,
                                          const Params& params, F row, const Errors& errors = {}) {
  auto r = query(c, sql, params, errors);
  if (!r.ok()) return r.status();
  std::vector<RowOf<F>> out;
  out.reserve(static_cast<size_t>(r->rows()));
  for (int i = 0; i < r->rows(); ++i) {
    absl::StatusOr<RowOf<F>> item = row(*r, i);
    if (!item.ok()) return item.status();
    out.push_back(std::move(*item));
  }
  return out;
}

/// The parameters a keyset page appends to a list statement's own: the previous page's key,
/// one text per column of `key` ("" on the first page), then the LIMIT, one row more than the
/// page holds (that row only tells whether another page follows).
Params pageParams(Params params, const PageQuery& page, size_t key_width);

/// One page of a list. The statement takes `params`, then the key and the limit
/// (pageParams()); it orders by its key, whose columns in a row are `key` (by default the
/// first, a name or an id), and starts after the key it is given.
template <class F>
absl::StatusOr<Listed<RowOf<F>>> page(PgConnection& c, std::string_view sql, Params params,
                                      const PageQuery& q, F row, std::vector<int> key = {0}) {
  auto r = query(c, sql, pageParams(std::move(params), q, key.size()));
  if (!r.ok()) return r.status();
  Listed<RowOf<F>> out;
  int rows = r->rows();
  bool more = q.limit > 0 && rows > q.limit;
  if (more) rows = q.limit;
  for (int i = 0; i < rows; ++i) {
    absl::StatusOr<RowOf<F>> item = row(*r, i);
    if (!item.ok()) return item.status();
    out.items.push_back(std::move(*item));
  }
  if (more) {
    for (int col : key) out.next.push_back(r->str(rows - 1, col));
  }
  return out;
}

// ---- connections ----

/// Runs `fn(PgConnection&)`, which returns a Status or a StatusOr, on a pooled connection
/// (pg.h: retried once on a fresh connection when a reused one was dead, so `fn` must start
/// from scratch each time). Lost connections are Unavailable.
template <class Fn>
std::invoke_result_t<Fn&, PgConnection&> run(PgPool& pool, Fn fn) {
  using R = std::invoke_result_t<Fn&, PgConnection&>;
  if constexpr (std::is_same_v<R, absl::Status>) {
    return pool.run(fn);
  } else {
    std::optional<typename R::value_type> out;
    absl::Status s = pool.run([&](PgConnection& c) -> absl::Status {
      R r = fn(c);
      if (!r.ok()) return r.status();
      out = std::move(*r);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return std::move(*out);
  }
}

/// run() between BEGIN and COMMIT: a failure of `fn` rolls back everything it did.
template <class Fn>
std::invoke_result_t<Fn&, PgConnection&> transaction(PgPool& pool, Fn fn) {
  return run(pool, [&](PgConnection& c) -> std::invoke_result_t<Fn&, PgConnection&> {
    using R = std::invoke_result_t<Fn&, PgConnection&>;
    std::optional<R> out;
    absl::Status s = c.transaction([&]() -> absl::Status {
      out.emplace(fn(c));
      if constexpr (std::is_same_v<R, absl::Status>) {
        return *out;
      } else {
        return out->status();
      }
    });
    if (!s.ok()) return s;
    return std::move(*out);
  });
}

// The same on a connection of their own, for one statement.

template <class F>
absl::StatusOr<RowOf<F>> one(PgPool& pool, std::string_view sql, const Params& params, F row,
                             const Errors& errors = {}) {
  return run(pool, [&](PgConnection& c) { return one(c, sql, params, row, errors); });
}

template <class F>
absl::StatusOr<std::vector<RowOf<F>>> all(PgPool& pool, std::string_view sql, const Params& params,
                                          F row, const Errors& errors = {}) {
  return run(pool, [&](PgConnection& c) { return all(c, sql, params, row, errors); });
}

template <class F>
absl::StatusOr<Listed<RowOf<F>>> page(PgPool& pool, std::string_view sql, const Params& params,
                                      const PageQuery& q, F row, std::vector<int> key = {0}) {
  return run(pool, [&](PgConnection& c) { return page(c, sql, params, q, row, key); });
}

absl::Status exec(PgPool& pool, std::string_view sql, const Params& params = {},
                  const Errors& errors = {});
absl::Status change(PgPool& pool, std::string_view sql, const Params& params, const Errors& errors);

}  // namespace kubehub::metaserver::sql
