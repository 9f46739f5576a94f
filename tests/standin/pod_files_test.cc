#include "tests/standin/pod_files.h"

#include <gtest/gtest.h>

namespace kubehub::standin {
namespace {

std::shared_ptr<PodFiles> fresh(uint64_t limit = uint64_t{1} << 20) {
  return std::make_shared<PodFiles>(std::make_shared<StorageBudget>(limit));
}

TEST(PodFilesTest, AbsolutePathsAreLexicallyClean) {
  EXPECT_EQ(PodFiles::absolute("/a//b/./c/"), "/a/b/c");
  EXPECT_EQ(PodFiles::absolute("../../x", "/a"), "/x");
  EXPECT_EQ(PodFiles::absolute(".", "/tmp"), "/tmp");
  EXPECT_EQ(PodFiles::absolute("/"), "/");
  EXPECT_EQ(PodFiles::absolute("a/b", "/"), "/a/b");
}

TEST(PodFilesTest, FilesAndDirectoriesWithParentsMadeOnTheWay) {
  auto fs = fresh();
  ASSERT_TRUE(fs->writeFile("/tmp/tree/sub/a.txt", "alpha", {0600, 1000, 1000, 5}).ok());
  ASSERT_TRUE(fs->makeDirectory("/tmp/tree/empty", {0700, 0, 0, 6}).ok());
  auto st = fs->stat("/tmp/tree/sub");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->kind, PodFiles::Kind::kDirectory);
  EXPECT_EQ(st->meta.mode, 0755u);
  st = fs->stat("/tmp/tree/sub/a.txt");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size, 5u);
  EXPECT_EQ(st->meta.uid, 1000u);
  EXPECT_EQ(**fs->read("/tmp/tree/sub/a.txt"), "alpha");
  EXPECT_EQ(fs->stat("/tmp/nope").status().message(), "No such file or directory");
  EXPECT_EQ(fs->stat("/tmp/tree/sub/a.txt/x").status().message(), "Not a directory");
  EXPECT_EQ(fs->read("/tmp/tree").status().message(), "Is a directory");
  EXPECT_EQ(fs->writeFile("/tmp/tree/sub/a.txt/x", "", {}).message(), "Not a directory");
}

TEST(PodFilesTest, TreeIsParentsFirstInNameOrderAndSharesContents) {
  auto fs = fresh();
  ASSERT_TRUE(fs->writeFile("/d/b.txt", "b", {}).ok());
  ASSERT_TRUE(fs->writeFile("/d/a/z", "z", {}).ok());
  ASSERT_TRUE(fs->symlink("/d/l", "b.txt", {}).ok());
  auto tree = fs->tree("/d");
  ASSERT_TRUE(tree.ok());
  std::vector<std::string> names;
  for (const auto& e : *tree) names.push_back(e.relative);
  EXPECT_EQ(names, (std::vector<std::string>{"", "a", "a/z", "b.txt", "l"}));
  EXPECT_EQ(tree->back().stat.kind, PodFiles::Kind::kSymlink);
  EXPECT_EQ(tree->back().stat.target, "b.txt");
  // A snapshot keeps what it saw.
  ASSERT_TRUE(fs->writeFile("/d/b.txt", "changed", {}).ok());
  EXPECT_EQ(*(*tree)[3].data, "b");
  // The top of a tree is not followed when it is a link.
  auto link = fs->tree("/d/l");
  ASSERT_TRUE(link.ok());
  ASSERT_EQ(link->size(), 1u);
  EXPECT_EQ((*link)[0].stat.kind, PodFiles::Kind::kSymlink);
}

TEST(PodFilesTest, SymbolicLinksAreFollowedOnTheWay) {
  auto fs = fresh();
  ASSERT_TRUE(fs->writeFile("/data/real/f", "x", {}).ok());
  ASSERT_TRUE(fs->symlink("/data/abs", "/data/real", {}).ok());
  ASSERT_TRUE(fs->symlink("/data/rel", "real", {}).ok());
  ASSERT_TRUE(fs->symlink("/data/up", "../data/rel", {}).ok());
  for (const char* p : {"/data/abs/f", "/data/rel/f", "/data/up/f"}) {
    EXPECT_EQ(**fs->read(p), "x") << p;
  }
  EXPECT_EQ(fs->stat("/data/up")->kind, PodFiles::Kind::kDirectory);
  EXPECT_EQ(fs->stat("/data/up", false)->kind, PodFiles::Kind::kSymlink);
  ASSERT_TRUE(fs->writeFile("/data/rel/g", "through a link", {}).ok());
  EXPECT_EQ(**fs->read("/data/real/g"), "through a link");
  ASSERT_TRUE(fs->symlink("/loop", "/loop", {}).ok());
  EXPECT_EQ(fs->stat("/loop").status().message(), "Too many levels of symbolic links");
}

TEST(PodFilesTest, ReplacingFollowsTar) {
  auto fs = fresh();
  ASSERT_TRUE(fs->writeFile("/x/f", "file", {}).ok());
  // A directory replaces a file; a file replaces an empty directory but not a full one.
  ASSERT_TRUE(fs->makeDirectory("/x/f", {0755, 0, 0, 0}).ok());
  EXPECT_EQ(fs->stat("/x/f")->kind, PodFiles::Kind::kDirectory);
  ASSERT_TRUE(fs->writeFile("/x/f", "again", {}).ok());
  ASSERT_TRUE(fs->writeFile("/x/full/child", "c", {}).ok());
  EXPECT_EQ(fs->writeFile("/x/full", "no", {}).message(), "File exists");
  EXPECT_EQ(fs->prepareFile("/x/full").message(), "File exists");
  EXPECT_TRUE(fs->prepareFile("/x/f").ok());
  EXPECT_EQ(fs->stat("/x/f").status().message(), "No such file or directory");
}

TEST(PodFilesTest, HardLinksCopyTheFile) {
  auto fs = fresh();
  ASSERT_TRUE(fs->writeFile("/a", "content", {0640, 0, 0, 1}).ok());
  ASSERT_TRUE(fs->hardLink("/b", "/a").ok());
  EXPECT_EQ(**fs->read("/b"), "content");
  EXPECT_EQ(fs->stat("/b")->meta.mode, 0640u);
  EXPECT_EQ(fs->hardLink("/c", "/nope").message(), "No such file or directory");
  ASSERT_TRUE(fs->makeDirectory("/dir", {}).ok());
  EXPECT_EQ(fs->hardLink("/c", "/dir").message(), "Operation not permitted");
}

TEST(PodFilesTest, NamesPastPathMaxOrNameMaxAreTooLong) {
  auto fs = fresh();
  EXPECT_EQ(fs->writeFile("/" + std::string(256, 'n'), "", {}).message(), "File name too long");
  std::string deep;
  while (deep.size() <= PodFiles::kPathMax) deep += "/" + std::string(200, 'd');
  EXPECT_EQ(fs->makeDirectory(deep, {}).message(), "File name too long");
  EXPECT_TRUE(fs->writeFile("/" + std::string(255, 'n'), "", {}).ok());
}

TEST(PodFilesTest, TheBudgetBoundsDataAndEntries) {
  auto budget = std::make_shared<StorageBudget>(10 * PodFiles::kEntryCost);
  PodFiles a(budget);
  PodFiles b(budget);  // a second container of the same pod
  ASSERT_TRUE(a.writeFile("/f", std::string(4 * PodFiles::kEntryCost, 'x'), {}).ok());
  EXPECT_EQ(budget->used(), 5 * PodFiles::kEntryCost);
  EXPECT_EQ(b.writeFile("/g", std::string(5 * PodFiles::kEntryCost, 'x'), {}).message(),
            "No space left on device");
  ASSERT_TRUE(b.writeFile("/g", std::string(3 * PodFiles::kEntryCost, 'x'), {}).ok());
  EXPECT_EQ(budget->used(), 9 * PodFiles::kEntryCost);
  EXPECT_EQ(a.makeDirectory("/d1/d2", {}).message(), "No space left on device");
  // Replacing gives the old bytes back (the directory d1 made on the way stays).
  ASSERT_TRUE(a.writeFile("/f", "", {}).ok());
  EXPECT_EQ(budget->used(), 6 * PodFiles::kEntryCost);
  EXPECT_EQ(budget->reserve(100 * PodFiles::kEntryCost), 4 * PodFiles::kEntryCost);
  budget->release(4 * PodFiles::kEntryCost);
  {
    PodFiles gone(budget);
    ASSERT_TRUE(gone.writeFile("/x", "12345", {}).ok());
  }
  EXPECT_EQ(budget->used(), 6 * PodFiles::kEntryCost);
}

TEST(PodFilesTest, EachContainerIsSeededOnceAndANewPodStartsAfresh) {
  PodFileSystems all;
  Json pod = {{"metadata", {{"namespace", "default"}, {"name", "web-1"}, {"uid", "u1"}}}};
  auto fs = all.open(pod, "nginx");
  EXPECT_EQ(**fs->read("/etc/hostname"), "web-1\n");
  EXPECT_NE((*fs->read("/etc/os-release"))->find("ID=debian"), std::string::npos);
  EXPECT_EQ(fs->stat("/tmp")->meta.mode, 01777u);
  ASSERT_TRUE(fs->writeFile("/tmp/kept", "1", {}).ok());
  EXPECT_EQ(all.open(pod, "nginx"), fs);
  auto sidecar = all.open(pod, "sidecar");
  EXPECT_NE(sidecar, fs);
  EXPECT_FALSE(sidecar->stat("/tmp/kept").ok());
  EXPECT_EQ(&sidecar->budget(), &fs->budget());
  EXPECT_EQ(fs->budget().limit(), PodFileSystems::kDefaultLimit);

  pod["metadata"]["uid"] = "u2";
  pod["metadata"]["annotations"] = {{PodFileSystems::kLimitAnnotation, "4096"}};
  auto again = all.open(pod, "nginx");
  EXPECT_FALSE(again->stat("/tmp/kept").ok());
  EXPECT_EQ(again->budget().limit(), 4096u);
}

}  // namespace
}  // namespace kubehub::standin
