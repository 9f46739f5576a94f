#pragma once
/// TLS context construction from PEM files, with errors that name the file and the problem.
/// Contexts are built at start-up and then shared read-only by every connection.

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace kubehub::net {

struct ServerTlsOptions {
  std::string cert_file;
  std::string key_file;
  /// When set, clients must present a certificate signed by this CA (mutual TLS).
  std::string client_ca_file;
  /// Alternatives to the files (material held in memory, e.g. enrolled with the metaserver).
  std::string cert_pem{};
  std::string key_pem{};
  std::string client_ca_pem{};
};

struct ClientTlsOptions {
  /// CA bundle that must have signed the server's certificate. Empty: system roots.
  std::string ca_file;
  std::string ca_pem;  // alternative to ca_file (e.g. from a kubeconfig)
  std::string cert_file;
  std::string key_file;
  std::string cert_pem;  // alternatives to the files
  std::string key_pem{};
  /// Skip verification (never the default; only for an explicit user choice).
  bool insecure_skip_verify = false;
};

absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> makeServerContext(
    const ServerTlsOptions& options);
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> makeClientContext(
    const ClientTlsOptions& options);

/// Common name (CN) of a peer certificate's subject, or empty.
std::string certificateCommonName(X509* cert);

}  // namespace kubehub::net
