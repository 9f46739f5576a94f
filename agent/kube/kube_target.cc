#include "agent/kube/kube_target.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "common/log/log.h"

namespace kubehub::agent {

namespace {

absl::StatusOr<std::string> readFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good())
    return absl::InvalidArgumentError(std::string(what) + " \"" + path + "\" cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / path).string();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

const YAML::Node findNamed(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name) return item;
  }
  return YAML::Node();
}

absl::StatusOr<std::string> decodeData(const YAML::Node& n, std::string_view what) {
  std::string out;
  if (!absl::Base64Unescape(n.as<std::string>(), &out)) {
    return absl::InvalidArgumentError(std::string(what) + " is not valid base64");
  }
  return out;
}

}  // namespace

absl::StatusOr<KubeTarget> parseKubeconfig(std::string_view yaml, const std::string& base_dir,
                                           const std::string& context_name,
                                           const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(source + ": not valid YAML: " + e.what());
  }
  try {
    std::string ctx_name = context_name;
    if (ctx_name.empty() && root["current-context"])
      ctx_name = root["current-context"].as<std::string>();
    if (ctx_name.empty())
      return absl::InvalidArgumentError(source + ": no current-context and no --context given");
    YAML::Node ctx = findNamed(root["contexts"], ctx_name);
    if (!ctx || !ctx["context"])
      return absl::InvalidArgumentError(source + ": context \"" + ctx_name + "\" not found");
    std::string cluster_name =
        ctx["context"]["cluster"] ? ctx["context"]["cluster"].as<std::string>() : "";
    std::string user_name = ctx["context"]["user"] ? ctx["context"]["user"].as<std::string>() : "";
    YAML::Node cluster = findNamed(root["clusters"], cluster_name);
    if (!cluster || !cluster["cluster"]) {
      return absl::InvalidArgumentError(source + ": cluster \"" + cluster_name + "\" not found");
    }
    YAML::Node c = cluster["cluster"];
    KubeTarget t;
    t.source = source + " (context " + ctx_name + ")";
    if (!c["server"])
      return absl::InvalidArgumentError(source + ": cluster \"" + cluster_name +
                                        "\" has no server");
    auto url = net::parseUrl(c["server"].as<std::string>());
    if (!url.ok())
      return absl::InvalidArgumentError(source + ": " + std::string(url.status().message()));
    if (url->scheme != "https") {
      return absl::InvalidArgumentError(source + ": the API server must be https (got " +
                                        url->scheme + ")");
    }
    t.server = *url;
    t.server_name = c["tls-server-name"] ? c["tls-server-name"].as<std::string>() : url->host;
    if (c["insecure-skip-tls-verify"] && c["insecure-skip-tls-verify"].as<bool>()) {
      t.tls.insecure_skip_verify = true;
    }
    if (c["certificate-authority-data"]) {
      auto ca = decodeData(c["certificate-authority-data"], "certificate-authority-data");
      if (!ca.ok()) return ca.status();
      t.tls.ca_pem = *ca;
    } else if (c["certificate-authority"]) {
      t.tls.ca_file = resolve(base_dir, c["certificate-authority"].as<std::string>());
    }
    YAML::Node user = findNamed(root["users"], user_name);
    if (user && user["user"]) {
      YAML::Node u = user["user"];
      if (u["exec"]) {
        return absl::InvalidArgumentError(source + ": user \"" + user_name +
                                          "\" uses an exec credential plugin, which the agent does "
                                          "not run; use a token, token file or client certificate");
      }
      if (u["auth-provider"]) {
        return absl::InvalidArgumentError(
            source + ": user \"" + user_name +
            "\" uses an auth-provider, which the agent does not support");
      }
      if (u["token"]) t.token = u["token"].as<std::string>();
      if (u["tokenFile"]) t.token_file = resolve(base_dir, u["tokenFile"].as<std::string>());
      if (u["client-certificate-data"]) {
        auto d = decodeData(u["client-certificate-data"], "client-certificate-data");
        if (!d.ok()) return d.status();
        t.tls.cert_pem = *d;
      } else if (u["client-certificate"]) {
        t.tls.cert_file = resolve(base_dir, u["client-certificate"].as<std::string>());
      }
      if (u["client-key-data"]) {
        auto d = decodeData(u["client-key-data"], "client-key-data");
        if (!d.ok()) return d.status();
        t.tls.key_pem = *d;
      } else if (u["client-key"]) {
        t.tls.key_file = resolve(base_dir, u["client-key"].as<std::string>());
      }
    }
    return t;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(source + ": unexpected structure: " + e.what());
  }
}

absl::StatusOr<KubeTarget> loadKubeconfig(const std::string& path, const std::string& context) {
  auto text = readFile(path, "kubeconfig");
  if (!text.ok()) return text.status();
  std::string dir = std::filesystem::path(path).parent_path().string();
  return parseKubeconfig(*text, dir, context, "kubeconfig " + path);
}

absl::StatusOr<KubeTarget> loadInCluster(
    const std::function<std::optional<std::string>(const char*)>& getenv,
    const std::string& sa_dir) {
  auto host = getenv("KUBERNETES_SERVICE_HOST");
  auto port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port || host->empty() || port->empty()) {
    return absl::InvalidArgumentError(
        "not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/PORT unset); pass --kubeconfig");
  }
  std::string h = *host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  auto url = net::parseUrl("https://" + h + ":" + *port);
  if (!url.ok()) return url.status();
  KubeTarget t;
  t.server = *url;
  t.server_name = url->host;
  t.source = "in-cluster";
  t.tls.ca_file = sa_dir + "/ca.crt";
  t.token_file = sa_dir + "/token";
  if (auto tok = readFile(t.token_file, "ServiceAccount token"); !tok.ok()) return tok.status();
  return t;
}

std::string TokenSource::token() {
  std::lock_guard lock(mu_);
  if (file_.empty()) return token_;
  auto now = std::chrono::steady_clock::now();
  if (token_.empty() || now - read_at_ > std::chrono::minutes(1)) {
    auto text = readFile(file_, "token file");
    if (text.ok()) {
      token_ = trim(*text);
      read_at_ = now;
    } else if (token_.empty()) {
      log::warn("cannot read token file", {{"file", file_}});
    }
  }
  return token_;
}

}  // namespace kubehub::agent
