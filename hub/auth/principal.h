#pragma once
/// Who a request comes from, once its token is verified (see authenticator.h).

#include <cstdint>
#include <string>
#include <vector>

namespace kubehub::hub {

/// An authenticated caller: plain data, held for the request it made.
struct Principal {
  std::string user;
  std::string tenant;
  std::vector<std::string> groups;
  std::string token_id;
  int64_t expires_at = 0;
  /// A static-token identity: not subject to grants.
  bool break_glass = false;
};

}  // namespace kubehub::hub
