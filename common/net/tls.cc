#include "common/net/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

namespace kubehub::net {
namespace ssl = boost::asio::ssl;

namespace {

absl::Status fileReadable(const std::string& path, std::string_view what) {
  std::ifstream in(path);
  if (!in.good()) {
    return absl::InvalidArgumentError(std::string(what) + " file \"" + path + "\" cannot be read");
  }
  return absl::OkStatus();
}

std::string describe(const boost::system::error_code& ec) {
  std::string m = ec.message();
  unsigned long err = ERR_get_error();
  if (err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    m = buf;
  }
  ERR_clear_error();
  return m;
}

}  // namespace

absl::StatusOr<std::shared_ptr<ssl::context>> makeServerContext(const ServerTlsOptions& o) {
  bool cert_in_memory = !o.cert_pem.empty();
  if (cert_in_memory ? o.key_pem.empty() : (o.cert_file.empty() || o.key_file.empty())) {
    return absl::InvalidArgumentError("a TLS certificate and key are required");
  }
  if (!cert_in_memory) {
    for (auto [path, what] :
         {std::pair{o.cert_file, "certificate"}, std::pair{o.key_file, "key"}}) {
      if (auto s = fileReadable(path, what); !s.ok()) return s;
    }
  }
  std::string cert_name = cert_in_memory ? "(in memory)" : o.cert_file;
  std::string key_name = cert_in_memory ? "(in memory)" : o.key_file;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  boost::system::error_code ec;
  if (cert_in_memory) {
    ctx->use_certificate_chain(boost::asio::buffer(o.cert_pem), ec);
  } else {
    ctx->use_certificate_chain_file(o.cert_file, ec);
  }
  if (ec) return absl::InvalidArgumentError("certificate " + cert_name + ": " + describe(ec));
  if (cert_in_memory) {
    ctx->use_private_key(boost::asio::buffer(o.key_pem), ssl::context::pem, ec);
  } else {
    ctx->use_private_key_file(o.key_file, ssl::context::pem, ec);
  }
  if (ec) return absl::InvalidArgumentError("key " + key_name + ": " + describe(ec));
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("key " + key_name + " does not match certificate " +
                                      cert_name);
  }
  if (!o.client_ca_pem.empty()) {
    ctx->add_certificate_authority(boost::asio::buffer(o.client_ca_pem), ec);
    if (ec) return absl::InvalidArgumentError("client CA data: " + describe(ec));
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // Tell clients which CA we accept, so they pick the right certificate.
    BIO* bio = BIO_new_mem_buf(o.client_ca_pem.data(), static_cast<int>(o.client_ca_pem.size()));
    while (bio != nullptr) {
      X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
      if (ca == nullptr) break;
      SSL_CTX_add_client_CA(ctx->native_handle(), ca);
      X509_free(ca);
    }
    if (bio != nullptr) BIO_free(bio);
    ERR_clear_error();  // the end of the bundle reads as an error
  } else if (!o.client_ca_file.empty()) {
    if (auto s = fileReadable(o.client_ca_file, "client CA"); !s.ok()) return s;
    ctx->load_verify_file(o.client_ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError("client CA " + o.client_ca_file + ": " + describe(ec));
    }
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // Tell clients which CA we accept, so they pick the right certificate.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
  }
  // No resumption at all: a resumed session would skip the client-certificate checks against a
  // rotated CA, and full handshakes are cheap enough for long-lived tunnels. SSL_OP_NO_TICKET
  // alone only turns TLS 1.3's stateless tickets into stateful ones, still sent after every
  // handshake: no tickets and no session cache.
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx->native_handle(), 0);
  return ctx;
}

absl::StatusOr<std::shared_ptr<ssl::context>> makeClientContext(const ClientTlsOptions& o) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (o.insecure_skip_verify) {
    ctx->set_verify_mode(ssl::verify_none);
  } else {
    ctx->set_verify_mode(ssl::verify_peer);
    if (!o.ca_pem.empty()) {
      ctx->add_certificate_authority(boost::asio::buffer(o.ca_pem), ec);
      if (ec) return absl::InvalidArgumentError("CA certificate data: " + describe(ec));
    } else if (!o.ca_file.empty()) {
      if (auto s = fileReadable(o.ca_file, "CA"); !s.ok()) return s;
      ctx->load_verify_file(o.ca_file, ec);
      if (ec) return absl::InvalidArgumentError("CA " + o.ca_file + ": " + describe(ec));
    } else {
      ctx->set_default_verify_paths(ec);
      if (ec) return absl::InvalidArgumentError("system CA bundle: " + describe(ec));
    }
  }
  if (!o.cert_pem.empty() || !o.cert_file.empty()) {
    if (!o.cert_pem.empty()) {
      ctx->use_certificate_chain(boost::asio::buffer(o.cert_pem), ec);
      if (ec) return absl::InvalidArgumentError("client certificate data: " + describe(ec));
    } else {
      if (auto s = fileReadable(o.cert_file, "client certificate"); !s.ok()) return s;
      ctx->use_certificate_chain_file(o.cert_file, ec);
      if (ec)
        return absl::InvalidArgumentError("client certificate " + o.cert_file + ": " +
                                          describe(ec));
    }
    if (!o.key_pem.empty()) {
      ctx->use_private_key(boost::asio::buffer(o.key_pem), ssl::context::pem, ec);
      if (ec) return absl::InvalidArgumentError("client key data: " + describe(ec));
    } else {
      if (o.key_file.empty())
        return absl::InvalidArgumentError("a client key is required with a client certificate");
      if (auto s = fileReadable(o.key_file, "client key"); !s.ok()) return s;
      ctx->use_private_key_file(o.key_file, ssl::context::pem, ec);
      if (ec) return absl::InvalidArgumentError("client key " + o.key_file + ": " + describe(ec));
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError("client key does not match the client certificate");
    }
  }
  return ctx;
}

std::string certificateCommonName(X509* cert) {
  if (cert == nullptr) return {};
  X509_NAME* subject = X509_get_subject_name(cert);
  if (subject == nullptr) return {};
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0) return {};
  X509_NAME_ENTRY* entry = X509_NAME_get_entry(subject, idx);
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(entry);
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string cn(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return cn;
}

}  // namespace kubehub::net
