#include "common/k8s/response_compression.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace kubehub::k8s {
namespace {

std::string gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out;
  char buf[16384];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
  }
  EXPECT_EQ(rc, Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

TEST(ResponseCompression, GzipIsOneOfTheCommaSeparatedTokensExactly) {
  // What Go's client sends, and lists with spaces around the token.
  EXPECT_TRUE(acceptsGzip("gzip"));
  EXPECT_TRUE(acceptsGzip("deflate, gzip"));
  EXPECT_TRUE(acceptsGzip(" gzip ,br"));
  EXPECT_TRUE(acceptsGzip("br,\tgzip\t"));
  // The server compares the whole trimmed token: parameters, case and other codings miss.
  EXPECT_FALSE(acceptsGzip(""));
  EXPECT_FALSE(acceptsGzip("identity"));
  EXPECT_FALSE(acceptsGzip("gzip;q=1.0"));
  EXPECT_FALSE(acceptsGzip("GZIP"));
  EXPECT_FALSE(acceptsGzip("x-gzip"));
  EXPECT_FALSE(acceptsGzip("gzipped, deflate"));
  EXPECT_FALSE(acceptsGzip(",,"));
}

TEST(ResponseCompression, GzipRoundTripsAndShrinksJson) {
  std::string list = R"({"kind":"PodList","apiVersion":"v1","items":[)";
  for (int i = 0; i < 2000; ++i) {
    if (i > 0) list += ',';
    list += R"({"metadata":{"name":"pod-)" + std::to_string(i) +
            R"(","namespace":"default","labels":{"app":"bench"}},"spec":{"nodeName":"n1"}})";
  }
  list += "]}";
  ASSERT_GT(list.size(), kGzipThresholdBytes);
  std::string gz = gzipFast(list);
  ASSERT_GE(gz.size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);  // the gzip magic
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  EXPECT_LT(gz.size() * 5, list.size());
  EXPECT_EQ(gunzip(gz), list);
  EXPECT_EQ(gunzip(gzipFast("")), "");
}

TEST(ResponseCompression, AMemberWrittenInPiecesIsTheWholeInput) {
  std::string all;
  std::string out;
  GzipWriter writer;
  for (int i = 0; i < 300; ++i) {
    std::string piece =
        "{\"name\":\"pod-" + std::to_string(i) + "\"," + std::string(i * 7, 'x') + "},";
    all += piece;
    ASSERT_TRUE(writer.write(piece, false, &out));
  }
  ASSERT_TRUE(writer.write("]}", true, &out));
  all += "]}";
  EXPECT_EQ(gunzip(out), all);
  // A finished member takes nothing more.
  EXPECT_FALSE(writer.write("more", true, &out));
}

}  // namespace
}  // namespace kubehub::k8s
