#include "agent/enrol/credential_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "absl/strings/escaping.h"
#include "common/auth/csr.h"
#include "common/auth/tunnel_identity.h"
#include "common/log/log.h"
#include "common/net/http_client.h"

namespace kubehub::agent {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr const char* kCert = "tls.crt";
constexpr const char* kKey = "tls.key";
constexpr const char* kCa = "ca.crt";
/// The link every name points through; replaced as a whole by a rename.
constexpr const char* kDataLink = "..data";

std::string formatEpoch(int64_t t) {
  char buf[32];
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string errnoText(const std::string& what, const fs::path& p) {
  return what + " " + p.string() + ": " + std::strerror(errno);
}

/// Reads a file; nullopt when it does not exist.
absl::StatusOr<std::optional<std::string>> readOptional(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(p, ec)) return std::optional<std::string>();
    return absl::PermissionDeniedError("cannot read " + p.string());
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::optional<std::string>(ss.str());
}

/// Creates `p` with `mode` from the start (no moment with wider permissions), writes and syncs.
absl::Status writeNew(const fs::path& p, const std::string& data, mode_t mode) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return absl::InternalError(errnoText("cannot create", p));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return absl::InternalError(errnoText("cannot write", p));
    }
    off += static_cast<size_t>(n);
  }
  ::fchmod(fd, mode);  // whatever the umask
  bool ok = ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  return ok ? absl::OkStatus() : absl::InternalError(errnoText("cannot sync", p));
}

void syncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

/// Points `link` at `target` atomically (a new link renamed over the old name).
absl::Status replaceLink(const fs::path& link, const std::string& target) {
  fs::path tmp = link.parent_path() / (".tmp-" + link.filename().string());
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  if (ec) return absl::InternalError("cannot link " + tmp.string() + ": " + ec.message());
  fs::rename(tmp, link, ec);
  if (ec) return absl::InternalError("cannot rename to " + link.string() + ": " + ec.message());
  return absl::OkStatus();
}

class DirectoryStore : public CredentialStore {
 public:
  explicit DirectoryStore(std::string dir) : dir_(std::move(dir)) {}

  absl::StatusOr<std::optional<Credentials>> load() override {
    auto cert = readOptional(dir_ / kCert);
    if (!cert.ok()) return cert.status();
    auto key = readOptional(dir_ / kKey);
    if (!key.ok()) return key.status();
    auto ca = readOptional(dir_ / kCa);
    if (!ca.ok()) return ca.status();
    if (!*cert && !*key) return std::optional<Credentials>();
    if (!*cert || !*key) {
      return absl::FailedPreconditionError(describe() + " has " + (*cert ? kCert : kKey) +
                                           " but not " + (*cert ? kKey : kCert));
    }
    return std::optional<Credentials>(Credentials{**cert, **key, ca->value_or("")});
  }

  absl::Status save(const Credentials& c) override {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) return absl::InternalError("cannot create " + dir_.string() + ": " + ec.message());
    std::mt19937_64 rng(std::random_device{}());
    std::string data_name = "..data-" +
                            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count()) +
                            "-" + std::to_string(rng() % 1000000);
    fs::path data = dir_ / data_name;
    if (::mkdir(data.c_str(), 0700) != 0)
      return absl::InternalError(errnoText("cannot create", data));
    for (auto [name, text, mode] :
         {std::tuple{kCert, &c.cert_pem, 0644}, std::tuple{kKey, &c.key_pem, 0600},
          std::tuple{kCa, &c.ca_pem, 0644}}) {
      if (auto s = writeNew(data / name, *text, static_cast<mode_t>(mode)); !s.ok()) {
        fs::remove_all(data, ec);
        return s;
      }
    }
    syncDirectory(data);
    fs::path link = dir_ / kDataLink;
    std::string previous;
    if (fs::is_symlink(link, ec)) previous = fs::read_symlink(link, ec).string();
    // The one step that changes what readers see: all three files at once.
    if (auto s = replaceLink(link, data_name); !s.ok()) {
      fs::remove_all(data, ec);
      return s;
    }
    for (const char* name : {kCert, kKey, kCa}) {
      fs::path p = dir_ / name;
      std::string want = std::string(kDataLink) + "/" + name;
      if (fs::is_symlink(p, ec) && fs::read_symlink(p, ec).string() == want) continue;
      if (auto s = replaceLink(p, want); !s.ok()) return s;
    }
    syncDirectory(dir_);
    if (!previous.empty() && previous != data_name && previous.find('/') == std::string::npos)
      fs::remove_all(dir_ / previous, ec);
    return absl::OkStatus();
  }

  std::string describe() const override { return "directory " + dir_.string(); }

 private:
  fs::path dir_;
};

std::string baseUrl(const net::Url& u) {
  std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  return u.scheme + "://" + host + ":" + std::to_string(u.port) + u.path;
}

std::string apiMessage(const net::HttpClientResponse& r) {
  Json j = Json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string())
    return j["message"].get<std::string>().substr(0, 300);
  return r.body.substr(0, 200);
}

class SecretStore : public CredentialStore {
 public:
  SecretStore(std::unique_ptr<net::HttpClient> client, const KubeTarget& target, std::string ns,
              std::string name)
      : client_(std::move(client)), tokens_(target), ns_(std::move(ns)), name_(std::move(name)) {}

  absl::StatusOr<std::optional<Credentials>> load() override {
    auto object = get();
    if (!object.ok()) return object.status();
    if (!*object) return std::optional<Credentials>();
    const Json& data = (**object).value("data", Json::object());
    Credentials c;
    for (auto [key, out] :
         {std::pair{kCert, &c.cert_pem}, std::pair{kKey, &c.key_pem}, std::pair{kCa, &c.ca_pem}}) {
      if (!data.is_object() || !data.contains(key) || !data[key].is_string()) continue;
      std::string encoded = data[key].get<std::string>();
      if (!absl::Base64Unescape(encoded, out)) {
        return absl::FailedPreconditionError(describe() + ": data." + key + " is not base64");
      }
    }
    // The chart creates the Secret with empty values: nothing stored yet.
    if (c.cert_pem.empty() && c.key_pem.empty()) return std::optional<Credentials>();
    if (c.cert_pem.empty() || c.key_pem.empty()) {
      return absl::FailedPreconditionError(describe() + " has " +
                                           (c.cert_pem.empty() ? kKey : kCert) + " but not " +
                                           (c.cert_pem.empty() ? kCert : kKey));
    }
    return std::optional<Credentials>(std::move(c));
  }

  absl::Status save(const Credentials& c) override {
    Json data = {{kCert, absl::Base64Escape(c.cert_pem)},
                 {kKey, absl::Base64Escape(c.key_pem)},
                 {kCa, absl::Base64Escape(c.ca_pem)}};
    // A concurrent writer (an operator's edit) bumps the resourceVersion: read again and retry.
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto object = get();
      if (!object.ok()) return object.status();
      absl::StatusOr<net::HttpClientResponse> r;
      if (!*object) {
        Json secret = {{"apiVersion", "v1"},
                       {"kind", "Secret"},
                       {"metadata",
                        {{"name", name_},
                         {"namespace", ns_},
                         {"labels", {{"app.kubernetes.io/managed-by", "kubehub-agent"}}}}},
                       {"type", "kubernetes.io/tls"},
                       {"data", data}};
        r = send("POST", collectionPath(), secret.dump());
      } else {
        Json secret = std::move(**object);
        // Other keys (and the Secret's type, which is immutable) stay as they are.
        if (!secret.contains("data") || !secret["data"].is_object())
          secret["data"] = Json::object();
        for (auto& [k, v] : data.items()) secret["data"][k] = v;
        r = send("PUT", objectPath(), secret.dump());
      }
      if (!r.ok()) return r.status();
      if (r->status == 200 || r->status == 201) return absl::OkStatus();
      if (r->status == 409) continue;
      return failure("write", *r);
    }
    return absl::AbortedError(describe() + " kept changing while the agent wrote it");
  }

  std::string describe() const override { return "Secret " + ns_ + "/" + name_; }

 private:
  std::string collectionPath() const { return "/api/v1/namespaces/" + ns_ + "/secrets"; }
  std::string objectPath() const { return collectionPath() + "/" + name_; }

  absl::StatusOr<net::HttpClientResponse> send(const std::string& method, const std::string& path,
                                               const std::string& body = "") {
    net::HeaderList headers = {{"Accept", "application/json"}};
    if (std::string token = tokens_.token(); !token.empty())
      headers.emplace_back("Authorization", "Bearer " + token);
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    auto r = client_->request(method, path, body, headers);
    if (!r.ok()) {
      return absl::UnavailableError("the API server cannot be reached for " + describe() + ": " +
                                    std::string(r.status().message()));
    }
    return r;
  }

  /// The Secret as JSON; nullopt when it does not exist.
  absl::StatusOr<std::optional<Json>> get() {
    auto r = send("GET", objectPath());
    if (!r.ok()) return r.status();
    if (r->status == 404) return std::optional<Json>();
    if (r->status != 200) return failure("read", *r);
    Json j = Json::parse(r->body, nullptr, false);
    if (!j.is_object()) return absl::UnavailableError(describe() + ": the answer is not JSON");
    return std::optional<Json>(std::move(j));
  }

  absl::Status failure(const std::string& verb, const net::HttpClientResponse& r) {
    std::string what = "the API server refused to " + verb + " " + describe() + " (HTTP " +
                       std::to_string(r.status) + ": " + apiMessage(r) + ")";
    if (r.status == 401 || r.status == 403) {
      return absl::PermissionDeniedError(
          what +
          ": the agent's ServiceAccount needs get and update on this Secret (the chart's "
          "Role grants them when it creates the Secret)");
    }
    if (r.status == 429 || r.status >= 500) return absl::UnavailableError(what);
    return absl::FailedPreconditionError(what);
  }

  std::unique_ptr<net::HttpClient> client_;
  TokenSource tokens_;
  std::string ns_;
  std::string name_;
};

}  // namespace

absl::Status checkCredentials(const Credentials& c, std::string_view cluster, int64_t now) {
  auto validity = auth::certificateValidity(c.cert_pem);
  if (!validity.ok()) return absl::FailedPreconditionError("the certificate does not parse");
  if (!auth::keyMatchesCertificate(c.cert_pem, c.key_pem))
    return absl::FailedPreconditionError("the key is not the certificate's");
  if (now >= validity->not_after) {
    return absl::FailedPreconditionError("the certificate expired at " +
                                         formatEpoch(validity->not_after));
  }
  if (now < validity->not_before) {
    return absl::FailedPreconditionError("the certificate is valid only from " +
                                         formatEpoch(validity->not_before) + " (check the clock)");
  }
  auto identity = auth::certificateIdentityFromPem(c.cert_pem);
  if (!identity.ok()) return absl::FailedPreconditionError("the certificate does not parse");
  auto owner = auth::agentClusterOf(*identity);
  if (!owner.ok()) return absl::FailedPreconditionError(owner.status().message());
  if (*owner != cluster) {
    return absl::FailedPreconditionError("the certificate is cluster \"" + *owner + "\"'s, not \"" +
                                         std::string(cluster) + "\"'s");
  }
  return absl::OkStatus();
}

std::unique_ptr<CredentialStore> makeDirectoryStore(std::string dir) {
  return std::make_unique<DirectoryStore>(std::move(dir));
}

absl::StatusOr<std::unique_ptr<CredentialStore>> makeSecretStore(const KubeTarget& target,
                                                                 std::string ns, std::string name) {
  net::HttpClientOptions options;
  options.tls = target.tls;
  options.server_name = target.server_name;
  options.timeout = std::chrono::seconds(15);
  options.max_response_bytes = 1 << 20;
  auto client = net::HttpClient::create(baseUrl(target.server), options);
  if (!client.ok()) return client.status();
  return std::unique_ptr<CredentialStore>(
      new SecretStore(std::move(*client), target, std::move(ns), std::move(name)));
}

}  // namespace kubehub::agent
