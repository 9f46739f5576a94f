#include "metaserver/store/migrations.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kubehub::metaserver {
namespace {

TEST(Migrations, OrderedByVersion) {
  auto m = orderMigrations({{"002_b.sql", "B"}, {"001_a.sql", "A"}, {"003_c_d.sql", "C"}});
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0].version, 1);
  EXPECT_EQ((*m)[0].name, "a");
  EXPECT_EQ((*m)[2].name, "c_d");
  EXPECT_EQ((*m)[1].checksum.size(), 64u);
}

TEST(Migrations, RejectsGapsDuplicatesAndBadNames) {
  EXPECT_FALSE(orderMigrations({{"001_a.sql", ""}, {"003_c.sql", ""}}).ok());
  EXPECT_FALSE(orderMigrations({{"002_a.sql", ""}}).ok());
  EXPECT_FALSE(orderMigrations({{"001_a.sql", ""}, {"001_b.sql", ""}}).ok());
  for (const char* bad :
       {"1_a.sql", "001-a.sql", "001_A.sql", "001_.sql", "001_a.txt", "abc_a.sql"}) {
    EXPECT_FALSE(orderMigrations({{bad, ""}}).ok()) << bad;
  }
  EXPECT_TRUE(orderMigrations({}).ok());
}

TEST(Migrations, BuiltinSetMatchesTheFilesOnDisk) {
  const auto& builtin = builtinMigrations();
  ASSERT_GE(builtin.size(), 3u);
  for (size_t i = 0; i < builtin.size(); ++i)
    EXPECT_EQ(builtin[i].version, static_cast<int>(i) + 1);
  size_t on_disk = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(KUBEHUB_SOURCE_DIR) +
                                                               "/metaserver/store/migrations")) {
    ++on_disk;
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    bool found = false;
    for (const auto& m : builtinMigrationFiles())
      found = found || (m.filename == entry.path().filename() && m.sql == ss.str());
    EXPECT_TRUE(found) << entry.path() << " is not embedded as is (rebuild)";
  }
  EXPECT_EQ(on_disk, builtin.size());
}

}  // namespace
}  // namespace kubehub::metaserver
