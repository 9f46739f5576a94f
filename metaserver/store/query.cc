#include "metaserver/store/query.h"

#include <nlohmann/json.hpp>

namespace kubehub::metaserver::sql {

Errors Errors::ifMissing(absl::Status s) const {
  Errors e = *this;
  e.missing_ = std::move(s);
  return e;
}

Errors Errors::ifDuplicate(absl::Status s) const {
  Errors e = *this;
  e.duplicate_ = std::move(s);
  return e;
}

Errors Errors::ifReferenced(absl::Status s) const {
  Errors e = *this;
  e.referenced_ = std::move(s);
  return e;
}

absl::Status Errors::map(absl::Status s) const {
  if (s.code() == absl::StatusCode::kAlreadyExists && !duplicate_.ok()) return duplicate_;
  if (s.code() == absl::StatusCode::kFailedPrecondition && !referenced_.ok()) return referenced_;
  return s;
}

absl::Status Errors::missing() const {
  return missing_.ok() ? absl::NotFoundError("not found") : missing_;
}

absl::Status notFound(std::string_view kind, std::string_view name) {
  return absl::NotFoundError(std::string(kind) + " \"" + std::string(name) + "\" not found");
}

absl::Status alreadyExists(std::string_view kind, std::string_view name) {
  return absl::AlreadyExistsError(std::string(kind) + " \"" + std::string(name) +
                                  "\" already exists");
}

Errors about(std::string_view kind, std::string_view name) {
  return Errors().ifMissing(notFound(kind, name)).ifDuplicate(alreadyExists(kind, name));
}

std::optional<int64_t> optInt(const PgResult& r, int row, int col) {
  if (r.isNull(row, col)) return std::nullopt;
  return r.int64(row, col);
}

std::vector<std::string> stringArray(std::string_view text) {
  std::vector<std::string> out;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_array()) {
    for (const auto& v : j) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

TextMap stringMap(std::string_view text) {
  TextMap out;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (v.is_string()) out.emplace(k, v.get<std::string>());
    }
  }
  return out;
}

std::string mapJson(const TextMap& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j.dump();
}

absl::StatusOr<PgResult> query(PgConnection& c, std::string_view sql, const Params& params,
                               const Errors& errors) {
  auto r = c.exec(sql, params);
  if (!r.ok()) return errors.map(r.status());
  return r;
}

absl::Status exec(PgConnection& c, std::string_view sql, const Params& params,
                  const Errors& errors) {
  auto r = query(c, sql, params, errors);
  return r.ok() ? absl::OkStatus() : r.status();
}

absl::Status change(PgConnection& c, std::string_view sql, const Params& params,
                    const Errors& errors) {
  auto r = query(c, sql, params, errors);
  if (!r.ok()) return r.status();
  if (r->affected() == 0) {
    return errors.missing();
  }
  return absl::OkStatus();
}

Params pageParams(Params params, const PageQuery& page, size_t key_width) {
  for (size_t i = 0; i < key_width; ++i) {
    params.emplace_back(i < page.after.size() ? page.after[i] : "");
  }
  params.emplace_back(page.limit > 0 ? std::to_string(page.limit + 1) : "9223372036854775807");
  return params;
}

absl::Status exec(PgPool& pool, std::string_view sql, const Params& params, const Errors& errors) {
  return pool.run([&](PgConnection& c) { return exec(c, sql, params, errors); });
}

absl::Status change(PgPool& pool, std::string_view sql, const Params& params,
                    const Errors& errors) {
  return pool.run([&](PgConnection& c) { return change(c, sql, params, errors); });
}

}  // namespace kubehub::metaserver::sql
