#include "common/k8s/request_info.h"

#include <gtest/gtest.h>

#include <initializer_list>

namespace kubehub::k8s {
namespace {

struct Case {
  const char* method;
  const char* path;
  const char* query;
  const char* verb;
  const char* group;
  const char* version;
  const char* ns;
  const char* resource;
  const char* name;
  const char* sub;
};

TEST(RequestInfo, KubernetesSemantics) {
  const Case cases[] = {
      {"GET", "/api/v1/pods", "", "list", "", "v1", "", "pods", "", ""},
      {"GET", "/api/v1/namespaces/a/pods", "watch=true", "watch", "", "v1", "a", "pods", "", ""},
      {"GET", "/api/v1/namespaces/a/pods", "watch=True", "watch", "", "v1", "a", "pods", "", ""},
      {"GET", "/api/v1/namespaces/a/pods", "watch=false", "list", "", "v1", "a", "pods", "", ""},
      {"GET", "/api/v1/watch/namespaces/a/pods", "", "watch", "", "v1", "a", "pods", "", ""},
      {"GET", "/api/v1/namespaces/a/pods/p", "", "get", "", "v1", "a", "pods", "p", ""},
      {"GET", "/api/v1/namespaces/a/pods/p/log", "follow=true", "get", "", "v1", "a", "pods", "p",
       "log"},
      {"POST", "/api/v1/namespaces/a/pods/p/exec", "command=ls", "create", "", "v1", "a", "pods",
       "p", "exec"},
      {"GET", "/api/v1/namespaces/a/pods/p/exec", "command=ls", "get", "", "v1", "a", "pods", "p",
       "exec"},
      {"POST", "/apis/apps/v1/namespaces/a/deployments", "", "create", "apps", "v1", "a",
       "deployments", "", ""},
      {"PUT", "/apis/apps/v1/namespaces/a/deployments/d/scale", "", "update", "apps", "v1", "a",
       "deployments", "d", "scale"},
      {"PATCH", "/apis/example.com/v1/namespaces/a/widgets/w", "", "patch", "example.com", "v1",
       "a", "widgets", "w", ""},
      {"DELETE", "/api/v1/namespaces/a/configmaps", "", "deletecollection", "", "v1", "a",
       "configmaps", "", ""},
      {"DELETE", "/api/v1/namespaces/a/configmaps/c", "", "delete", "", "v1", "a", "configmaps",
       "c", ""},
      {"GET", "/api/v1/namespaces", "", "list", "", "v1", "", "namespaces", "", ""},
      {"GET", "/api/v1/namespaces/a", "", "get", "", "v1", "a", "namespaces", "a", ""},
      {"PUT", "/api/v1/namespaces/a/finalize", "", "update", "", "v1", "a", "namespaces", "a",
       "finalize"},
      {"GET", "/api/v1/nodes/n1", "", "get", "", "v1", "", "nodes", "n1", ""},
  };
  for (const Case& c : cases) {
    RequestInfo r = parseRequestInfo(c.method, c.path, c.query);
    SCOPED_TRACE(std::string(c.method) + " " + c.path);
    EXPECT_TRUE(r.is_resource_request);
    EXPECT_EQ(r.verb, c.verb);
    EXPECT_EQ(r.api_group, c.group);
    EXPECT_EQ(r.api_version, c.version);
    EXPECT_EQ(r.namespace_, c.ns);
    EXPECT_EQ(r.resource, c.resource);
    EXPECT_EQ(r.name, c.name);
    EXPECT_EQ(r.subresource, c.sub);
  }
}

TEST(RequestInfo, NonResourceRequests) {
  for (const char* path : {"/version", "/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1",
                           "/openapi/v3", "/healthz", "/"}) {
    RequestInfo r = parseRequestInfo("GET", path, "");
    EXPECT_FALSE(r.is_resource_request) << path;
    EXPECT_EQ(r.verb, "get") << path;
    EXPECT_EQ(r.path, path);
  }
}

TEST(RequestInfo, LongRunningAsTheApiServerCountsThem) {
  struct LongCase {
    const char* method;
    const char* path;
    const char* query;
    bool long_running;
  };
  for (const LongCase& c : std::initializer_list<LongCase>{
           {"GET", "/api/v1/pods", "watch=true", true},
           {"GET", "/api/v1/watch/namespaces/a/pods", "", true},
           {"GET", "/api/v1/namespaces/a/pods/p/log", "", true},
           {"GET", "/api/v1/namespaces/a/pods/p/log", "follow=true", true},
           {"POST", "/api/v1/namespaces/a/pods/p/exec", "command=ls", true},
           {"GET", "/api/v1/namespaces/a/pods/p/attach", "", true},
           {"POST", "/api/v1/namespaces/a/pods/p/portforward", "", true},
           {"GET", "/api/v1/namespaces/a/services/s:80/proxy/events", "", true},
           {"GET", "/api/v1/nodes/n/proxy/stats/summary", "", true},
           {"GET", "/api/v1/pods", "", false},
           {"GET", "/api/v1/pods", "watch=false", false},
           {"GET", "/api/v1/pods", "watch=1;x", false},  // dropped by Go's query reader
           {"GET", "/api/v1/namespaces/a/pods/p", "", false},
           {"GET", "/api/v1/namespaces/a/pods/p/status", "", false},
           {"PATCH", "/apis/apps/v1/namespaces/a/deployments/d/scale", "", false},
           {"GET", "/version", "watch=true", false},
           {"GET", "/apis/apps/v1", "", false},
       }) {
    EXPECT_EQ(isLongRunning(parseRequestInfo(c.method, c.path, c.query)), c.long_running)
        << c.method << " " << c.path << "?" << c.query;
  }
}

}  // namespace
}  // namespace kubehub::k8s
