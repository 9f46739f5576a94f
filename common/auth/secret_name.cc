#include "common/auth/secret_name.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace kubehub::auth {

bool looksSecret(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::string_view word : {"password", "passwd", "token", "secret", "key", "credential"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace kubehub::auth
