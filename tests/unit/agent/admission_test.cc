#include "agent/forward/admission.h"

#include <gtest/gtest.h>

namespace kubehub::agent {
namespace {

proto::RequestHead head(std::string method, proto::Headers headers, bool internal = false) {
  proto::RequestHead h{std::move(method), "/api/v1/namespaces/default/pods", std::move(headers)};
  h.internal = internal;
  return h;
}

TEST(Admission, AUserRequestMustNameTheUserOnceTheHubMarksItsOwn) {
  auto impersonated = head(
      "DELETE", {{"Impersonate-User", "alice"}, {"Impersonate-Group", "system:authenticated"}});
  EXPECT_TRUE(admitForwardedRequest(impersonated, true).ok());
  auto lower_case = head("GET", {{"impersonate-user", "alice"}});
  EXPECT_TRUE(admitForwardedRequest(lower_case, true).ok());

  auto anonymous = head("GET", {{"Accept", "application/json"}});
  auto refused = admitForwardedRequest(anonymous, true);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(refused));
  EXPECT_NE(std::string(refused.message()).find("Impersonate-User"), std::string::npos);
  // Groups alone name nobody: the API server would refuse them, the agent refuses first.
  EXPECT_FALSE(admitForwardedRequest(head("GET", {{"Impersonate-Group", "x"}}), true).ok());
  EXPECT_FALSE(admitForwardedRequest(head("GET", {{"Impersonate-User", ""}}), true).ok());
}

TEST(Admission, TheHubsOwnRequestsMayOnlyRead) {
  EXPECT_TRUE(admitForwardedRequest(head("GET", {}, true), true).ok());
  EXPECT_TRUE(admitForwardedRequest(head("GET", {}, true), false).ok());
  for (const char* m : {"POST", "PUT", "PATCH", "DELETE", "CONNECT"}) {
    auto r = admitForwardedRequest(head(m, {}, true), true);
    EXPECT_TRUE(absl::IsPermissionDenied(r)) << m;
  }
}

TEST(Admission, AnOlderHubThatMarksNothingIsNotRefused) {
  EXPECT_TRUE(admitForwardedRequest(head("GET", {}), false).ok());
}

}  // namespace
}  // namespace kubehub::agent
