#include "metaserver/store/secret_box.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

namespace kubehub::metaserver {
namespace {

constexpr std::string_view kPrefix = "kh-sealed:v1:";
constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

struct CipherFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Cipher = std::unique_ptr<EVP_CIPHER_CTX, CipherFree>;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::shared_ptr<const SecretBox> SecretBox::plaintext() {
  return std::shared_ptr<const SecretBox>(new SecretBox());
}

absl::StatusOr<std::shared_ptr<const SecretBox>> SecretBox::fromKeys(std::string_view text) {
  std::shared_ptr<SecretBox> box(new SecretBox());
  std::set<std::string> ids;
  int line_no = 0;
  std::istringstream in{std::string(text)};
  for (std::string raw; std::getline(in, raw);) {
    ++line_no;
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    std::string where = "encryption key file, line " + std::to_string(line_no);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(where + ": expected ID:BASE64 (32 random bytes)");
    }
    std::string id(line.substr(0, colon));
    for (char ch : id) {
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.')) {
        return absl::InvalidArgumentError(where + ": a key id has letters, digits, '-', '_', '.'");
      }
    }
    if (!ids.insert(id).second) {
      return absl::InvalidArgumentError(where + ": key id \"" + id + "\" appears twice");
    }
    auto bytes = unbase64(trim(line.substr(colon + 1)));
    if (!bytes || bytes->size() != kKeyBytes) {
      return absl::InvalidArgumentError(where + ": key \"" + id +
                                        "\" is not 32 bytes in base64 (make one with: head -c 32 "
                                        "/dev/urandom | base64)");
    }
    box->keys_.push_back({std::move(id), std::move(*bytes)});
  }
  if (box->keys_.empty()) {
    return absl::InvalidArgumentError("encryption key file holds no key (ID:BASE64 per line)");
  }
  return std::shared_ptr<const SecretBox>(std::move(box));
}

absl::StatusOr<std::shared_ptr<const SecretBox>> SecretBox::fromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in.good()) {
    return absl::InvalidArgumentError("--encryption-key-file \"" + path + "\" cannot be read");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return fromKeys(text.str());
}

const std::string& SecretBox::primaryKeyId() const {
  static const std::string kNone;
  return keys_.empty() ? kNone : keys_.front().id;
}

bool SecretBox::isSealed(std::string_view stored) { return stored.starts_with(kPrefix); }

bool SecretBox::sealedWithPrimary(std::string_view stored) const {
  if (keys_.empty()) return !isSealed(stored);
  return stored.starts_with(std::string(kPrefix) + keys_.front().id + ":");
}

absl::StatusOr<std::string> SecretBox::seal(std::string_view plain,
                                            std::string_view context) const {
  if (keys_.empty()) return std::string(plain);
  const Key& key = keys_.front();
  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes) != 1) {
    return absl::InternalError("no randomness for a nonce");
  }
  Cipher ctx(EVP_CIPHER_CTX_new());
  std::string out = nonce;
  out.resize(kNonceBytes + plain.size() + kTagBytes);
  auto* dst = reinterpret_cast<unsigned char*>(out.data()) + kNonceBytes;
  int len = 0, total = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key.bytes.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(context.data()),
                        static_cast<int>(context.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), dst, &len, reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())) != 1) {
    return absl::InternalError("sealing a secret failed");
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), dst + total, &len) != 1) {
    return absl::InternalError("sealing a secret failed");
  }
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, dst + total) != 1) {
    return absl::InternalError("sealing a secret failed");
  }
  return std::string(kPrefix) + key.id + ":" + base64(out);
}

absl::StatusOr<std::string> SecretBox::open(std::string_view stored,
                                            std::string_view context) const {
  if (!isSealed(stored)) return std::string(stored);
  std::string_view rest = stored.substr(kPrefix.size());
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return absl::DataLossError("a sealed secret is malformed");
  std::string id(rest.substr(0, colon));
  const Key* key = nullptr;
  for (const Key& k : keys_) {
    if (k.id == id) key = &k;
  }
  if (key == nullptr) {
    return absl::FailedPreconditionError(
        "a secret in the database is sealed with encryption key \"" + id +
        "\", which --encryption-key-file does not hold" +
        (keys_.empty() ? " (no key file was given)" : ""));
  }
  auto bytes = unbase64(rest.substr(colon + 1));
  if (!bytes || bytes->size() < kNonceBytes + kTagBytes) {
    return absl::DataLossError("a sealed secret is malformed");
  }
  size_t body = bytes->size() - kNonceBytes - kTagBytes;
  const auto* src = reinterpret_cast<const unsigned char*>(bytes->data());
  std::string plain(body, '\0');
  Cipher ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  std::string tag = bytes->substr(kNonceBytes + body);
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key->bytes.data()), src) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(context.data()),
                        static_cast<int>(context.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                        src + kNonceBytes, static_cast<int>(body)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &len) !=
          1) {
    return absl::DataLossError("a sealed secret does not open with key \"" + id +
                               "\": tampered with, or moved from another row");
  }
  return plain;
}

}  // namespace kubehub::metaserver
