#include "agent/discovery/discovery.h"

#include <gtest/gtest.h>

namespace kubehub::agent {
namespace {

TEST(Discovery, ResourceListWithSubresources) {
  auto types = parseResourceList(R"({"kind":"APIResourceList","groupVersion":"v1","resources":[
    {"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list","watch"]},
    {"name":"pods/log","namespaced":true,"kind":"Pod","verbs":["get"]},
    {"name":"pods/exec","namespaced":true,"kind":"PodExecOptions","verbs":["create","get"]},
    {"name":"namespaces","namespaced":false,"kind":"Namespace","verbs":["get"]}]})",
                                 "", "v1");
  ASSERT_TRUE(types.ok()) << types.status();
  ASSERT_EQ(types->size(), 2u);
  EXPECT_EQ((*types)[0].resource, "pods");
  EXPECT_TRUE((*types)[0].namespaced);
  EXPECT_EQ((*types)[0].subresources, (std::vector<std::string>{"log", "exec"}));
  EXPECT_FALSE((*types)[1].namespaced);
}

TEST(Discovery, GroupVersions) {
  auto gvs = parseGroupVersions(R"({"kind":"APIGroupList","groups":[
    {"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}]},
    {"name":"example.com","versions":[{"groupVersion":"example.com/v1"},{"groupVersion":"example.com/v1beta1"}]}]})");
  ASSERT_TRUE(gvs.ok());
  EXPECT_EQ(*gvs, (std::vector<std::string>{"apps/v1", "example.com/v1", "example.com/v1beta1"}));
  EXPECT_FALSE(parseGroupVersions("[]").ok());
  EXPECT_FALSE(parseResourceList("{\"kind\":\"Status\"}", "", "v1").ok());
}

}  // namespace
}  // namespace kubehub::agent
