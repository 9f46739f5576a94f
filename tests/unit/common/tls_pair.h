#pragma once
/// A TLS connection pair on loopback for tests of code over net::TlsStream: a throwaway CA with
/// a hub's server certificate (hub.test, 127.0.0.1) and an agent's client certificate
/// (cluster-a), made once per process with the metaserver's CA code.

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include "common/auth/csr.h"
#include "common/net/tls.h"
#include "common/net/tls_stream.h"
#include "metaserver/ca/certificate_authority.h"

namespace kubehub::net::testing_tls {

struct Pki {
  std::string ca_pem;
  std::string server_cert, server_key;
  std::string client_cert, client_key;
};

inline const Pki& pki() {
  static const Pki p = [] {
    Pki out;
    auto rec = metaserver::CertificateAuthority::generate("tls-stream-test-ca", 1);
    EXPECT_TRUE(rec.ok());
    auto ca = metaserver::CertificateAuthority::load(*rec);
    EXPECT_TRUE(ca.ok());
    out.ca_pem = rec->cert_pem;
    auto skc = auth::makeKeyAndCsr("hub-test");
    auto sc = (*ca)->sign(
        {skc->csr_pem, "hub-test", {"hub.test"}, {"127.0.0.1"}, metaserver::LeafRole::kHub, 3600});
    EXPECT_TRUE(sc.ok()) << sc.status();
    out.server_cert = sc->cert_pem;
    out.server_key = skc->key_pem;
    auto ckc = auth::makeKeyAndCsr("cluster-a");
    auto cc = (*ca)->sign({ckc->csr_pem, "cluster-a", {}, {}, metaserver::LeafRole::kAgent, 3600});
    EXPECT_TRUE(cc.ok()) << cc.status();
    out.client_cert = cc->cert_pem;
    out.client_key = ckc->key_pem;
    return out;
  }();
  return p;
}

inline std::shared_ptr<boost::asio::ssl::context> serverContext() {
  ServerTlsOptions o;
  o.cert_pem = pki().server_cert;
  o.key_pem = pki().server_key;
  o.client_ca_pem = pki().ca_pem;
  auto ctx = makeServerContext(o);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return *ctx;
}

inline std::shared_ptr<boost::asio::ssl::context> clientContext(bool with_certificate = true) {
  ClientTlsOptions o;
  o.ca_pem = pki().ca_pem;
  if (with_certificate) {
    o.cert_pem = pki().client_cert;
    o.key_pem = pki().client_key;
  }
  auto ctx = makeClientContext(o);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return *ctx;
}

/// Two connected TCP sockets on loopback.
inline std::pair<boost::asio::ip::tcp::socket, boost::asio::ip::tcp::socket> socketPair(
    boost::asio::io_context& io) {
  using tcp = boost::asio::ip::tcp;
  tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  client.set_option(tcp::no_delay(true));
  server.set_option(tcp::no_delay(true));
  return {std::move(client), std::move(server)};
}

/// A connected pair on one io_context; handshakeBoth() makes it a mutual-TLS one (client: SNI
/// and host-name check on 127.0.0.1, certificate).
struct TlsPair {
  boost::asio::io_context io;
  std::shared_ptr<boost::asio::ssl::context> server_ctx = serverContext();
  std::shared_ptr<boost::asio::ssl::context> client_ctx = clientContext();
  std::unique_ptr<TlsStream> client;
  std::unique_ptr<TlsStream> server;

  TlsPair() {
    auto [c, s] = socketPair(io);
    client = std::make_unique<TlsStream>(boost::beast::tcp_stream(std::move(c)), *client_ctx);
    server = std::make_unique<TlsStream>(boost::beast::tcp_stream(std::move(s)), *server_ctx);
  }

  void handshakeBoth() {
    ASSERT_TRUE(client->setServerName("hub.test"));
    ASSERT_TRUE(client->verifyHostName("127.0.0.1"));
    auto shake = [](TlsStream* s, boost::asio::ssl::stream_base::handshake_type type)
        -> boost::asio::awaitable<boost::system::error_code> {
      auto [ec] =
          co_await s->async_handshake(type, boost::asio::as_tuple(boost::asio::use_awaitable));
      co_return ec;
    };
    auto c = boost::asio::co_spawn(io, shake(client.get(), boost::asio::ssl::stream_base::client),
                                   boost::asio::use_future);
    auto s = boost::asio::co_spawn(io, shake(server.get(), boost::asio::ssl::stream_base::server),
                                   boost::asio::use_future);
    io.run_for(std::chrono::seconds(30));
    io.restart();
    ASSERT_EQ(c.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    ASSERT_EQ(s.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    boost::system::error_code cec = c.get(), sec = s.get();
    ASSERT_FALSE(cec) << cec.message();
    ASSERT_FALSE(sec) << sec.message();
  }
};

}  // namespace kubehub::net::testing_tls
