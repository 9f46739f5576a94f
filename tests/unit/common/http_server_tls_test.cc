// HttpServer with a TlsSource: each new connection takes the certificate in force, so a
// rotated serving certificate is used without a restart (the metaserver's REST API).

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "common/auth/csr.h"
#include "common/net/http_client.h"
#include "common/net/http_server.h"
#include "common/net/tls.h"
#include "common/net/tls_source.h"
#include "metaserver/ca/certificate_authority.h"

namespace kubehub {
namespace {

namespace asio = boost::asio;

struct Issuer {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

/// A CA of its own and a serving certificate for 127.0.0.1 from it.
Issuer makeIssuer(const std::string& name) {
  auto rec = metaserver::CertificateAuthority::generate(name, 1);
  EXPECT_TRUE(rec.ok());
  auto ca = metaserver::CertificateAuthority::load(*rec);
  EXPECT_TRUE(ca.ok());
  auto kc = auth::makeKeyAndCsr("server");
  EXPECT_TRUE(kc.ok());
  auto cert =
      (*ca)->sign({kc->csr_pem, "server", {}, {"127.0.0.1"}, metaserver::LeafRole::kHub, 3600});
  EXPECT_TRUE(cert.ok()) << cert.status();
  return {rec->cert_pem, cert->cert_pem, kc->key_pem};
}

std::shared_ptr<asio::ssl::context> serverContext(const Issuer& i) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->use_certificate_chain(asio::buffer(i.cert_pem));
  ctx->use_private_key(asio::buffer(i.key_pem), asio::ssl::context::pem);
  return ctx;
}

/// Whether a client trusting only `ca_pem` gets an answer from `address`.
bool reaches(const std::string& address, const std::string& ca_pem) {
  net::HttpClientOptions o;
  o.tls.ca_pem = ca_pem;
  o.timeout = std::chrono::seconds(5);
  auto client = net::HttpClient::create("https://" + address, o);
  if (!client.ok()) return false;
  auto r = (*client)->request("GET", "/ping");
  return r.ok() && r->status == 200;
}

TEST(HttpServerTls, NewConnectionsTakeTheReplacedCertificate) {
  Issuer a = makeIssuer("ca-a");
  Issuer b = makeIssuer("ca-b");
  auto source = net::TlsSource::fixed("api", serverContext(a));
  asio::io_context io(1);
  auto work = asio::make_work_guard(io);
  net::HttpServerOptions options;
  options.name = "test";
  options.tls_source = source;
  net::HttpServer server(io, options, [](net::HttpRequest&) -> net::HttpResponse {
    return {200, "text/plain", "pong\n", {}};
  });
  auto bound = server.start(*net::parseHostPort("127.0.0.1:0"));
  ASSERT_TRUE(bound.ok()) << bound.status();
  std::thread runner([&io] { io.run(); });

  EXPECT_TRUE(reaches(bound->str(), a.ca_pem));
  EXPECT_FALSE(reaches(bound->str(), b.ca_pem));
  source->replace(serverContext(b));
  EXPECT_TRUE(reaches(bound->str(), b.ca_pem));
  EXPECT_FALSE(reaches(bound->str(), a.ca_pem));

  server.stop();
  work.reset();
  io.stop();
  runner.join();
}

}  // namespace
}  // namespace kubehub
