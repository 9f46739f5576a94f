#pragma once
/// Golden encodings for the wire-format tests: proto/testdata/NAME holds the bytes a message
/// must encode to; KUBEHUB_UPDATE_GOLDEN=1 rewrites the files (a protocol change).

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace kubehub::proto {

inline std::string goldenPath(const std::string& name) {
  return std::string(KUBEHUB_SOURCE_DIR) + "/proto/testdata/" + name;
}

/// Compares `bytes` with proto/testdata/NAME.
inline void checkGolden(const std::string& name, const std::string& bytes) {
  if (const char* u = std::getenv("KUBEHUB_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    std::ofstream(goldenPath(name), std::ios::binary) << bytes;
  }
  std::ifstream in(goldenPath(name), std::ios::binary);
  ASSERT_TRUE(in.good()) << "missing golden file " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), bytes) << "encoding of " << name << " changed: the wire format is "
                             << "versioned, bump kProtocolVersion and document it";
}

}  // namespace kubehub::proto
