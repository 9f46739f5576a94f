// Fuzzes the metaserver's REST codec: the request body reader and every body decoder, stored
// grant specs, TTLs, the answer decoders the client reads with, and the route matcher (the first
// line is also a path). No crash, no exception; a grant that decodes is stored as a spec that
// reads back to the same grant; an answer that decodes encodes to JSON that decodes to the same
// record; a route matched is one of the method asked for.
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

/// encode(decode(x)) decodes to the same record (encoding may normalise, but only once).
template <class T>
void fuzzAnswer(const Json& j) {
  auto decoded = fromJson<T>(j);
  if (!decoded.ok()) return;
  auto again = fromJson<T>(toJson(*decoded));
  if (!again.ok() || !(toJson(*again) == toJson(*decoded))) std::abort();
}

void fuzzAnswers(std::string_view in) {
  Json j = Json::parse(in, nullptr, false);
  if (j.is_discarded()) return;
  fuzzAnswer<TenantRecord>(j);
  fuzzAnswer<UserRecord>(j);
  fuzzAnswer<ClusterRecord>(j);
  fuzzAnswer<GrantRecord>(j);
  fuzzAnswer<TokenRecord>(j);
  fuzzAnswer<HubRecord>(j);
  fuzzAnswer<EndpointRecord>(j);
  fuzzAnswer<RoutingTable>(j);
  fuzzAnswer<AuditRecord>(j);
  fuzzAnswer<BansAnswer>(j);
  fuzzAnswer<IssuedToken>(j);
  fuzzAnswer<BootstrapToken>(j);
  fuzzAnswer<SignedCertificate>(j);
  fuzzAnswer<Whoami>(j);
  fuzzAnswer<RevocationsAnswer>(j);
  fuzzAnswer<ChangesPage>(j);
  fuzzAnswer<ClusterEndpoints>(j);
  if (j.is_string()) {
    // Years 1970 to 9999 (an offset may move a time out of what formatTime writes).
    constexpr int64_t kYear10000 = 253402300800;
    auto t = parseTime(j.get<std::string>());
    if (t.ok() && *t >= 0 && *t < kYear10000 && parseTime(formatTime(*t)).value_or(-1) != *t) {
      std::abort();
    }
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
  fuzzAnswers(in);
  fuzzRoute(in.substr(0, in.find('\n')));
  (void)checkUserName(in);
  (void)checkHubId(in);
  return 0;
}
