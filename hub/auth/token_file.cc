#include "hub/auth/token_file.h"

#include <openssl/evp.h>

#include <fstream>
#include <sstream>

#include "common/net/http_headers.h"

namespace kubehub::hub {

std::string sha256(std::string_view in) {
  // Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up again on every call, which
  // was most of the cost of checking a token on each request.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, kSha256 ? kSha256 : EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::optional<std::string_view> bearerToken(std::string_view authorization) {
  while (!authorization.empty() && authorization.front() == ' ') authorization.remove_prefix(1);
  if (authorization.size() < 7 || !net::iequals(authorization.substr(0, 7), "bearer ")) {
    return std::nullopt;
  }
  std::string_view token = authorization.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

namespace {

/// Splits one CSV line; supports double-quoted fields with "" escapes.
absl::StatusOr<std::vector<std::string>> splitCsv(std::string_view line) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (quoted) return absl::InvalidArgumentError("unterminated quote");
  fields.push_back(std::move(cur));
  return fields;
}

}  // namespace

absl::StatusOr<StaticTokenAuthenticator> StaticTokenAuthenticator::parse(std::string_view content) {
  StaticTokenAuthenticator auth;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < content.size()) {
    size_t end = content.find('\n', pos);
    if (end == std::string_view::npos) end = content.size();
    std::string_view line = content.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto fields = splitCsv(line);
    std::string where = "line " + std::to_string(line_no);
    if (!fields.ok())
      return absl::InvalidArgumentError(where + ": " + std::string(fields.status().message()));
    if (fields->size() < 3) {
      return absl::InvalidArgumentError(where + ": want token,user,uid[,\"group1,group2\"]");
    }
    const std::string& token = (*fields)[0];
    if (token.size() < 8)
      return absl::InvalidArgumentError(where + ": token shorter than 8 characters");
    if ((*fields)[1].empty()) return absl::InvalidArgumentError(where + ": empty user name");
    UserInfo user{(*fields)[1], (*fields)[2], {}};
    if (fields->size() >= 4 && !(*fields)[3].empty()) {
      auto groups = splitCsv((*fields)[3]);
      if (groups.ok()) user.groups = *groups;
    }
    if (!auth.users_.emplace(sha256(token), std::move(user)).second) {
      return absl::InvalidArgumentError(where + ": duplicate token");
    }
  }
  return auth;
}

absl::StatusOr<StaticTokenAuthenticator> StaticTokenAuthenticator::loadFile(
    const std::string& path) {
  std::ifstream in(path);
  if (!in.good()) return absl::InvalidArgumentError("token file \"" + path + "\" cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = parse(ss.str());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError("token file " + path + ": " +
                                      std::string(parsed.status().message()));
  }
  return parsed;
}

std::optional<UserInfo> StaticTokenAuthenticator::authenticate(std::string_view token) const {
  auto it = users_.find(sha256(token));
  if (it == users_.end()) return std::nullopt;
  return it->second;
}

}  // namespace kubehub::hub
