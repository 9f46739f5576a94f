#include "metaserver/api/routes.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "metaserver/api/api_server.h"
#include "metaserver/model/codec.h"

namespace kubehub::metaserver {
namespace {

TEST(Routes, MatchesWithDecodedParams) {
  auto m = matchRoute("GET", "/api/v1/users/alice%40example.com/kubeconfig");
  ASSERT_TRUE(m.ok());
  ASSERT_NE(m->route, nullptr);
  EXPECT_EQ(m->route->operation, "getKubeconfig");
  EXPECT_EQ(m->params.at("user"), "alice@example.com");
  auto slash = matchRoute("GET", "/api/v1/tenants/");
  ASSERT_TRUE(slash.ok());
  EXPECT_EQ(slash->route->operation, "listTenants");
}

TEST(Routes, WrongMethodListsTheAllowedOnes) {
  auto m = matchRoute("PUT", "/api/v1/tenants/acme");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->route, nullptr);
  EXPECT_EQ(std::set<std::string>(m->allowed.begin(), m->allowed.end()),
            (std::set<std::string>{"GET", "PATCH", "DELETE"}));
}

TEST(Routes, BansAreForHubsAndChangedByAdmins) {
  auto bans = matchRoute("GET", "/api/v1/bans");
  ASSERT_TRUE(bans.ok());
  ASSERT_NE(bans->route, nullptr);
  EXPECT_EQ(bans->route->operation, "listBans");
  EXPECT_EQ(bans->route->access, Access::kHub);
  EXPECT_FALSE(bans->route->audit);  // polled twice a second by every hub
  for (const auto& [path, op] : {std::pair{"/api/v1/users/alice%40example.com", "updateUser"},
                                 std::pair{"/api/v1/tenants/acme", "updateTenant"}}) {
    auto m = matchRoute("PATCH", path);
    ASSERT_TRUE(m.ok()) << path;
    ASSERT_NE(m->route, nullptr) << path;
    EXPECT_EQ(m->route->operation, op);
    EXPECT_EQ(m->route->access, Access::kAdmin);
    EXPECT_TRUE(m->route->audit);
  }
  EXPECT_EQ(matchRoute("PATCH", "/api/v1/users/alice%40example.com")->params.at("user"),
            "alice@example.com");
}

TEST(Routes, UnknownPathsAndEmptySegments) {
  EXPECT_FALSE(matchRoute("GET", "/api/v1/nothing").ok());
  EXPECT_FALSE(matchRoute("GET", "/api/v1/tenants//x").ok());
  EXPECT_FALSE(matchRoute("GET", "").ok());
  EXPECT_FALSE(matchRoute("GET", "/api/v1/users//kubeconfig").ok());
}

TEST(Routes, EveryRouteHasAHandler) {
  for (const Route& r : routeTable())
    EXPECT_TRUE(ApiServer::hasHandler(r.operation)) << r.operation;
}

TEST(Routes, MutatingRoutesAreAudited) {
  for (const Route& r : routeTable()) {
    if (r.method != "GET") {
      EXPECT_TRUE(r.audit) << r.operation;
    }
  }
}

// The OpenAPI document describes exactly the routes the server handles: same paths, methods
// and operation ids, in both directions.
void expectMatchesOpenApi(const Json& doc) {
  ASSERT_TRUE(doc.contains("paths"));
  std::set<std::string> documented, served;
  for (const auto& [path, methods] : doc["paths"].items()) {
    for (const auto& [method, op] : methods.items()) {
      std::string upper = method;
      for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      documented.insert(upper + " " + path + " " + op.value("operationId", "?"));
      // Path parameters are declared.
      size_t brace = path.find('{');
      while (brace != std::string::npos) {
        std::string name = path.substr(brace + 1, path.find('}', brace) - brace - 1);
        bool declared = false;
        for (const auto& p : op.value("parameters", Json::array())) {
          declared = declared || (p["in"] == "path" && p["name"] == name);
        }
        EXPECT_TRUE(declared) << method << " " << path << " does not declare {" << name << "}";
        brace = path.find('{', brace + 1);
      }
      EXPECT_TRUE(op.contains("responses")) << path;
    }
  }
  for (const Route& r : routeTable()) {
    served.insert(std::string(r.method) + " " + std::string(r.pattern) + " " +
                  std::string(r.operation));
  }
  for (const auto& s : served) EXPECT_TRUE(documented.contains(s)) << "not in openapi.json: " << s;
  for (const auto& d : documented)
    EXPECT_TRUE(served.contains(d)) << "documented but not served: " << d;
}

TEST(Routes, OpenApiDocumentCoversEveryRoute) {
  Json embedded = Json::parse(openApiDocument(), nullptr, false);
  ASSERT_FALSE(embedded.is_discarded());
  EXPECT_EQ(embedded["openapi"].get<std::string>().substr(0, 2), "3.");
  expectMatchesOpenApi(embedded);
  std::ifstream in(std::string(KUBEHUB_SOURCE_DIR) + "/metaserver/api/openapi.json");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(Json::parse(ss.str()), embedded) << "the binary embeds a stale openapi.json";
}

TEST(Routes, HttpStatusMapping) {
  EXPECT_EQ(httpStatusFor(badRequest("x")), 400);
  EXPECT_EQ(httpStatusFor(absl::InvalidArgumentError("x")), 422);
  EXPECT_EQ(httpStatusFor(absl::NotFoundError("x")), 404);
  EXPECT_EQ(httpStatusFor(absl::AlreadyExistsError("x")), 409);
  EXPECT_EQ(httpStatusFor(absl::FailedPreconditionError("x")), 409);
  EXPECT_EQ(httpStatusFor(absl::UnavailableError("x")), 503);
  EXPECT_EQ(httpStatusFor(absl::UnauthenticatedError("x")), 401);
  EXPECT_EQ(httpStatusFor(absl::PermissionDeniedError("x")), 403);
  EXPECT_EQ(httpStatusFor(absl::InternalError("x")), 500);
}

}  // namespace
}  // namespace kubehub::metaserver
