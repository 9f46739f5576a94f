#pragma once
/// Throwaway PKI for in-process integration tests: a CA and leaf certificates made with the
/// openssl CLI in a temporary directory removed at the end. One per test; not thread-safe.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace kubehub {

/// A throwaway CA and leaf certificates made with the openssl CLI.
class TestPki {
 public:
  TestPki() {
    dir_ = std::filesystem::temp_directory_path() / ("kubehub-spine-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out "
        "ca.crt "
        "-days 2 -subj /CN=spine-ca -addext basicConstraints=critical,CA:TRUE");
  }
  ~TestPki() { std::filesystem::remove_all(dir_); }

  /// Issues NAME.crt/NAME.key; server certificates carry 127.0.0.1 and localhost, client
  /// certificates are agents' (O=kubehub:agents, which the hub requires).
  void issue(const std::string& name, const std::string& cn, bool server) {
    std::ofstream(dir_ / (name + ".ext"))
        << (server ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                   : "extendedKeyUsage=clientAuth\n");
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name +
        ".key -out " + name + ".csr -subj /" + (server ? "" : "O=kubehub:agents/") + "CN=" + cn);
    run("openssl x509 -req -in " + name +
        ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out " + name + ".crt -extfile " +
        name + ".ext");
  }
  /// Issues NAME.crt/NAME.key as the metaserver's CA issues a hub's: O=kubehub:hubs, CN = the
  /// hub id, usable to serve (127.0.0.1) and as a client (peer links both ways).
  void issueHub(const std::string& name, const std::string& hub_id) {
    std::ofstream(dir_ / (name + ".ext"))
        << "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n";
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name +
        ".key -out " + name + ".csr -subj /O=kubehub:hubs/CN=" + hub_id);
    run("openssl x509 -req -in " + name +
        ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out " + name + ".crt -extfile " +
        name + ".ext");
  }
  std::string path(const std::string& file) const { return (dir_ / file).string(); }

 private:
  void run(const std::string& cmd) {
    std::string full = "cd " + dir_.string() + " && " + cmd + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(full.c_str()), 0) << cmd;
  }
  std::filesystem::path dir_;
};

}  // namespace kubehub
