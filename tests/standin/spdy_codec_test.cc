#include "tests/standin/spdy_codec.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

namespace kubehub::standin::spdy {
namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string u32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

/// A SYN_STREAM around an already compressed header block, as a client sends it.
std::string synStreamWith(uint32_t id, const std::string& block, uint8_t flags = 0) {
  std::string f =
      u32(0x80030001u) + u32((static_cast<uint32_t>(flags) << 24) | (10 + block.size()));
  f += u32(id) + u32(0) + std::string(2, '\0') + block;
  return f;
}

std::vector<Frame> readAll(FrameReader& r) {
  std::vector<Frame> out;
  while (true) {
    auto f = r.next();
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok() || !f->has_value()) return out;
    out.push_back(std::move(**f));
  }
}

TEST(SpdyCodecTest, DictionaryIsTheSpecificationsOne) {
  const std::string& d = headerDictionary();
  EXPECT_EQ(d.size(), 1423u);
  // zlib names a preset dictionary by its Adler-32 in the stream header: the peers' streams
  // only inflate with this exact one.
  EXPECT_EQ(adler32(1, reinterpret_cast<const Bytef*>(d.data()), static_cast<uInt>(d.size())),
            0xe3c6a7c2u);
}

TEST(SpdyCodecTest, ReadsHeaderBlocksCompressedByAnotherZlibStreamInSequence) {
  // Two SYN_STREAMs of one port-forward connection, compressed by one deflate stream with the
  // dictionary and a sync flush per block (as Go's spdy framer does): the second block refers
  // back into the first, so the reader must keep one inflate stream per session.
  std::string first = unhex(
      "78f9e3c6a7c202253a48f95b044aab4c16064092b308125b99a054cc68004e872545a989b9d0a2863515141100"
      "000000ffff");
  std::string second = unhex("224b2ba8944a04000000ffff");
  FrameReader r;
  r.feed(synStreamWith(1, first) + synStreamWith(3, second));
  auto frames = readAll(r);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_TRUE(frames[0].control);
  EXPECT_EQ(frames[0].type, kSynStream);
  EXPECT_EQ(frames[0].stream_id, 1u);
  EXPECT_EQ(headerValue(frames[0].headers, "streamType"), "error");
  EXPECT_EQ(headerValue(frames[0].headers, "port"), "80");
  EXPECT_EQ(headerValue(frames[0].headers, "requestid"), "0");
  EXPECT_EQ(frames[1].stream_id, 3u);
  EXPECT_EQ(headerValue(frames[1].headers, "streamtype"), "data");
}

TEST(SpdyCodecTest, WriterAndReaderAgreeAcrossManyFrames) {
  FrameWriter w;
  FrameReader r;
  std::string wire;
  for (uint32_t id = 1; id < 40; id += 2) {
    wire += w.synStream(id, {{"streamtype", "data"}, {"port", std::to_string(id)}}, 0);
    wire += FrameWriter::data(id, std::string(id * 100, 'x'), id % 3 == 0);
  }
  wire += w.synReply(41, {}, kFlagFin);
  wire += FrameWriter::ping(7) + FrameWriter::rstStream(5, kCancel) + FrameWriter::goAway(39, 0);
  r.feed(wire);
  auto frames = readAll(r);
  ASSERT_EQ(frames.size(), 20u * 2 + 4);
  for (size_t i = 0; i < 40; i += 2) {
    uint32_t id = static_cast<uint32_t>(i) + 1;
    EXPECT_EQ(headerValue(frames[i].headers, "port"), std::to_string(id));
    EXPECT_FALSE(frames[i + 1].control);
    EXPECT_EQ(frames[i + 1].stream_id, id);
    EXPECT_EQ(frames[i + 1].data.size(), id * 100);
    EXPECT_EQ((frames[i + 1].flags & kFlagFin) != 0, id % 3 == 0);
  }
  EXPECT_EQ(frames[40].type, kSynReply);
  EXPECT_EQ(frames[40].flags, kFlagFin);
  EXPECT_TRUE(frames[40].headers.empty());
  EXPECT_EQ(frames[41].type, kPing);
  EXPECT_EQ(frames[41].value, 7u);
  EXPECT_EQ(frames[42].type, kRstStream);
  EXPECT_EQ(frames[42].stream_id, 5u);
  EXPECT_EQ(frames[42].value, kCancel);
  EXPECT_EQ(frames[43].type, kGoAway);
  EXPECT_EQ(frames[43].value, 39u);
}

TEST(SpdyCodecTest, FramesSplitAtAnyByteAsWebSocketMessagesSplitThem) {
  // kubectl >= 1.31 tunnels SPDY in WebSocket binary messages whose boundaries mean nothing:
  // the same frames must come out whatever the split.
  FrameWriter w;
  // One statement each: the second block is compressed against the first.
  std::string wire = w.synStream(1, {{"streamtype", "error"}, {"port", "80"}}, 0);
  wire += w.synStream(3, {{"streamtype", "data"}, {"port", "80"}}, 0);
  wire += FrameWriter::data(3, std::string(70000, 'd'), false);
  wire += FrameWriter::data(3, "", true);
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    FrameReader r;
    std::vector<Frame> frames;
    size_t at = 0;
    while (at < wire.size()) {
      size_t n = std::min(wire.size() - at, static_cast<size_t>(rng() % 9000 + 1));
      r.feed(std::string_view(wire).substr(at, n));
      at += n;
      for (Frame& f : readAll(r)) frames.push_back(std::move(f));
    }
    ASSERT_EQ(frames.size(), 4u);
    EXPECT_EQ(headerValue(frames[1].headers, "streamtype"), "data");
    EXPECT_EQ(frames[2].data, std::string(70000, 'd'));
    EXPECT_EQ(frames[3].flags, kFlagFin);
  }
}

TEST(SpdyCodecTest, HeaderBlockRoundTripsAndRefusesTruncation) {
  Headers h = {{"Port", "8080"}, {"multi", std::string("a\0b", 3)}};
  std::string block = encodeHeaderBlock(h);
  auto back = decodeHeaderBlock(block);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].first, "port");  // SPDY/3 names are lower case
  EXPECT_EQ(headerValue(*back, "multi"), "a");
  for (size_t cut = 0; cut < block.size(); ++cut) {
    EXPECT_FALSE(decodeHeaderBlock(block.substr(0, cut)).ok()) << cut;
  }
}

TEST(SpdyCodecTest, RefusesOtherVersionsAndGarbageHeaderBlocks) {
  FrameReader v2;
  v2.feed(u32(0x80020001u) + u32(10) + std::string(10, '\0'));
  EXPECT_FALSE(v2.next().ok());
  FrameReader garbage;
  garbage.feed(synStreamWith(1, "not zlib at all"));
  EXPECT_FALSE(garbage.next().ok());
  FrameReader partial;
  partial.feed(u32(0x80030006u));
  auto f = partial.next();
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->has_value());
}

}  // namespace
}  // namespace kubehub::standin::spdy
