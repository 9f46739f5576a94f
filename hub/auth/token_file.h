#pragma once
/// Static bearer tokens from a CSV file in kube-apiserver's format
/// (`token,user,uid,"group1,group2"`), until tokens come from the metaserver.
/// Immutable after load; safe to share between threads.

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::hub {

struct UserInfo {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
};

/// The token of an `Authorization: Bearer <token>` header value, or nullopt.
std::optional<std::string_view> bearerToken(std::string_view authorization);

class StaticTokenAuthenticator {
 public:
  static absl::StatusOr<StaticTokenAuthenticator> loadFile(const std::string& path);
  static absl::StatusOr<StaticTokenAuthenticator> parse(std::string_view content);

  /// The user a token belongs to, or nullopt. Tokens are kept only as SHA-256 digests.
  std::optional<UserInfo> authenticate(std::string_view token) const;
  size_t size() const { return users_.size(); }

 private:
  std::unordered_map<std::string, UserInfo> users_;  // SHA-256(token) -> user
};

/// SHA-256 of the input as raw bytes.
std::string sha256(std::string_view in);

}  // namespace kubehub::hub
