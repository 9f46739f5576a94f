#pragma once
/// List continue tokens shaped like the real server's: base64url (no padding) of
/// {"v":"meta.k8s.io/v1","rv":N,"start":"<key>\u0000"}, where the list resumes after `key` at
/// resourceVersion N (rv -1: at the latest revision, as 410 responses offer). Pure.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kubehub::standin {

struct ContinueToken {
  int64_t rv = 0;
  /// The last key returned; the next page starts strictly after it.
  std::string after_key;

  std::string encode() const;
  /// 400 BadRequest with the real server's wording for malformed tokens.
  static absl::StatusOr<ContinueToken> decode(std::string_view token);
};

}  // namespace kubehub::standin
