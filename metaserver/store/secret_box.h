#pragma once
/// Secrets at rest: the token signing keys and the tunnel CA's key are sealed with AES-256-GCM
/// under an envelope key the metaserver is given (a file, never the database), so a copy of the
/// database (a backup, a replica, a leaked dump) holds no usable key.
///
/// Key file: one key per line, `ID:BASE64` (32 random bytes; `#` comments and blank lines
/// ignored), e.g. made with `echo "k1:$(head -c 32 /dev/urandom | base64)"`. The first key seals;
/// every key opens. Rotation: add the new key as the second line on every replica and restart
/// them, move it first and restart again (each start seals again whatever another key sealed),
/// then remove the old one.
///
/// Sealed text: `kh-sealed:v1:ID:BASE64(nonce | ciphertext | tag)`, bound to where it is stored
/// (the caller's `context`, e.g. "signing_keys/kid-1") so a sealed value moved to another row
/// does not open. Text without the prefix is a value stored before encryption was configured:
/// it opens as is and is sealed at the next start. Pure; thread-safe after construction.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::metaserver {

class SecretBox {
 public:
  /// No keys: values are stored as they are (the metaserver warns at start).
  static std::shared_ptr<const SecretBox> plaintext();
  /// Parses a key file's contents; InvalidArgument naming the line for anything malformed.
  static absl::StatusOr<std::shared_ptr<const SecretBox>> fromKeys(std::string_view text);
  static absl::StatusOr<std::shared_ptr<const SecretBox>> fromFile(const std::string& path);

  bool encrypts() const { return !keys_.empty(); }
  /// The id of the key that seals ("" without keys).
  const std::string& primaryKeyId() const;

  /// Sealed under the first key, or `plain` itself without keys.
  absl::StatusOr<std::string> seal(std::string_view plain, std::string_view context) const;
  /// The plain value of sealed text (or of text stored unsealed). FailedPrecondition naming the
  /// key id when it was sealed under a key this metaserver is not given; DataLoss when it does
  /// not open (tampered, or moved from another context).
  absl::StatusOr<std::string> open(std::string_view stored, std::string_view context) const;
  /// Whether `stored` is sealed under the primary key already (nothing to do at start).
  bool sealedWithPrimary(std::string_view stored) const;
  static bool isSealed(std::string_view stored);

 private:
  struct Key {
    std::string id;
    std::string bytes;  // 32
  };
  std::vector<Key> keys_;
};

}  // namespace kubehub::metaserver
