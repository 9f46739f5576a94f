// Fuzzes the metaserver's REST codec: the request body reader and every body decoder, stored
// grant specs, TTLs and the route matcher (the first line is also a path). No crash, no
// exception; a grant that decodes is stored as a spec that reads back to the same grant, and a
// route matched is one of the method asked for.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "metaserver/api/routes.h"
#include "metaserver/model/codec.h"

namespace {

using namespace kubehub::metaserver;

bool sameGrant(const kubehub::auth::Grant& a, const kubehub::auth::Grant& b) {
  if (a.name != b.name || a.tenant != b.tenant || a.user != b.user ||
      a.cluster_names != b.cluster_names || a.cluster_selector != b.cluster_selector ||
      a.rules.size() != b.rules.size()) {
    return false;
  }
  for (size_t i = 0; i < a.rules.size(); ++i) {
    const auto& x = a.rules[i];
    const auto& y = b.rules[i];
    if (x.api_groups != y.api_groups || x.resources != y.resources || x.verbs != y.verbs ||
        x.namespaces != y.namespaces) {
      return false;
    }
  }
  return true;
}

void fuzzBody(std::string_view in) {
  auto body = parseJsonObject(in, /*empty_ok=*/true);
  if (!body.ok()) return;
  if (!body->is_object()) std::abort();
  (void)decodeTenant(*body);
  (void)decodeUser(*body);
  (void)decodeCluster(*body);
  (void)decodeClusterPatch(*body);
  (void)decodeBanPatch(*body, "user");
  (void)decodeTokenRequest(*body);
  (void)decodeHubHeartbeat(*body);
  if (auto g = decodeGrant(*body); g.ok()) {
    auto back = grantFromSpec(g->name, g->tenant, g->user, grantSpecJson(*g));
    if (!back.ok() || !sameGrant(*g, *back)) std::abort();
  }
  if (body->contains("ttl")) (void)parseTtl((*body)["ttl"], "ttl");
  if (body->contains("spec")) {
    (void)grantFromSpec("g", "t", "", (*body)["spec"]);
  }
}

void fuzzRoute(std::string_view path) {
  for (std::string_view method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    auto m = matchRoute(method, path);
    if (!m.ok() || m->route == nullptr) continue;
    if (m->route->method != method) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  fuzzBody(in);
  fuzzRoute(in.substr(0, in.find('\n')));
  (void)checkUserName(in);
  (void)checkHubId(in);
  return 0;
}
