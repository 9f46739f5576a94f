#include "proto/frame.h"

#include <gtest/gtest.h>

#include "proto/handshake.h"
#include "tests/unit/proto/golden.h"

namespace kubehub::proto {
namespace {

RequestHead sampleRequest() {
  return RequestHead{"GET",
                     "/api/v1/namespaces/default/pods?watch=true",
                     {{"Accept", "application/json"}, {"User-Agent", "kubectl/v1.32"}}};
}

TEST(Frame, OpenRoundTripsAndMatchesGolden) {
  std::string frame =
      encodeFrame(FrameType::kOpen, kFlagEnd, 7, *encodeRequestHead(sampleRequest()));
  checkGolden("open.bin", frame);
  auto f = decodeFrame(frame);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->type, FrameType::kOpen);
  EXPECT_EQ(f->flags, kFlagEnd);
  EXPECT_EQ(f->stream, 7u);
  auto head = decodeRequestHead(f->payload);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(*head, sampleRequest());
}

TEST(Frame, ResponseRoundTripsAndMatchesGolden) {
  ResponseHead rh{200, "OK", {{"Content-Type", "application/json"}, {"Content-Length", "2"}}};
  std::string frame = encodeFrame(FrameType::kResponse, 0, 7, *encodeResponseHead(rh));
  checkGolden("response.bin", frame);
  auto f = decodeFrame(frame);
  ASSERT_TRUE(f.ok());
  auto back = decodeResponseHead(f->payload);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, rh);
}

TEST(Frame, DataWindowResetPingGoldens) {
  checkGolden("data.bin", encodeFrame(FrameType::kData, kFlagEnd, 7, "{}"));
  checkGolden("window.bin", encodeFrame(FrameType::kWindow, 0, 7, encodeWindow(65536)));
  checkGolden("reset.bin", encodeFrame(FrameType::kReset, 0, 7,
                                       encodeReset({ResetCode::kTimeout, "upstream timed out"})));
  checkGolden("ping.bin", encodeFrame(FrameType::kPing, 0, 0, std::string("\0\0\0\0\0\0\0\1", 8)));
  checkGolden("goaway.bin", encodeFrame(FrameType::kGoAway, 0, 0,
                                        encodeGoAway({GoAwayCode::kReplaced, "newer tunnel"})));
  Hello hello{kProtocolVersion, "edge-1", "0.1.0", {"stream.v1"}};
  checkGolden("hello.bin", encodeFrame(FrameType::kHello, 0, 0, encodeHello(hello)));
}

std::string header(uint8_t type, uint8_t flags, uint32_t stream, uint32_t length) {
  std::string h;
  h.push_back(static_cast<char>(type));
  h.push_back(static_cast<char>(flags));
  for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<char>((stream >> s) & 0xff));
  for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<char>((length >> s) & 0xff));
  return h;
}

TEST(Frame, RejectsMalformedHeaders) {
  EXPECT_FALSE(decodeFrame("").ok());
  EXPECT_FALSE(decodeFrame(header(0x12, 0, 1, 0).substr(0, 9)).ok());    // truncated header
  EXPECT_FALSE(decodeFrame(header(0x99, 0, 1, 0)).ok());                 // unknown type
  EXPECT_FALSE(decodeFrame(header(0x12, 0, 0, 0)).ok());                 // DATA on stream 0
  EXPECT_FALSE(decodeFrame(header(0x04, 0, 1, 8) + "12345678").ok());    // PING on stream 1
  EXPECT_FALSE(decodeFrame(header(0x12, 0x80, 1, 0)).ok());              // unknown flag
  EXPECT_FALSE(decodeFrame(header(0x04, 0, 0, 3) + "123").ok());         // short PING
  EXPECT_FALSE(decodeFrame(header(0x06, 0, 1, 2) + "12").ok());          // short WINDOW
  EXPECT_FALSE(decodeFrame(header(0x12, 0, 1, 10) + "12345").ok());      // payload truncated
  EXPECT_FALSE(decodeFrame(header(0x12, 0, 1, 0xffffffff) + "x").ok());  // absurd length
  EXPECT_TRUE(decodeFrame(header(0x12, 0, 1, 5) + "12345").ok());
}

TEST(Frame, SeveralFramesPerMessage) {
  std::string msg = encodeFrame(FrameType::kData, 0, 3, "abc") +
                    encodeFrame(FrameType::kWindow, 0, 0, encodeWindow(100)) +
                    encodeFrame(FrameType::kData, kFlagEnd, 3, "");
  std::string_view rest = msg;
  std::vector<FrameType> types;
  while (!rest.empty()) {
    auto f = decodeFrame(rest);
    ASSERT_TRUE(f.ok()) << f.status();
    types.push_back(f->type);
    rest.remove_prefix(f->size);
  }
  EXPECT_EQ(types,
            (std::vector<FrameType>{FrameType::kData, FrameType::kWindow, FrameType::kData}));
  EXPECT_FALSE(decodeSingleFrame(msg).ok());
  EXPECT_TRUE(decodeSingleFrame(encodeFrame(FrameType::kData, 0, 3, "abc")).ok());
}

TEST(Frame, RejectsOversizedFrames) {
  std::string big = encodeFrame(FrameType::kData, 0, 1, std::string(5000, 'x'));
  EXPECT_TRUE(decodeFrame(big, 8192).ok());
  auto r = decodeFrame(big, 4096);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("exceeds"), std::string::npos);
}

TEST(Frame, RejectsHeaderInjectionAndTruncation) {
  RequestHead h = sampleRequest();
  h.headers.push_back({"X-Evil", "a\r\nImpersonate-User: admin"});
  EXPECT_FALSE(decodeRequestHead(*encodeRequestHead(h)).ok());
  RequestHead bad_name = sampleRequest();
  bad_name.headers.push_back({"Bad Name", "x"});
  EXPECT_FALSE(decodeRequestHead(*encodeRequestHead(bad_name)).ok());
  RequestHead bad_target = sampleRequest();
  bad_target.target = "api/v1 HTTP/1.1";
  EXPECT_FALSE(decodeRequestHead(*encodeRequestHead(bad_target)).ok());
  std::string good = *encodeRequestHead(sampleRequest());
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(decodeRequestHead(good.substr(0, n)).ok()) << "prefix " << n;
  }
  EXPECT_FALSE(decodeRequestHead(good + "x").ok());
}

TEST(Frame, ResponseStatusRange) {
  ResponseHead rh{99, "", {}};
  EXPECT_FALSE(encodeResponseHead(rh).ok());
  std::string forged = *encodeResponseHead({101, "", {}});
  forged[0] = 0;
  forged[1] = 99;
  EXPECT_FALSE(decodeResponseHead(forged).ok());
  rh.status = 101;
  EXPECT_TRUE(decodeResponseHead(*encodeResponseHead(rh)).ok());
}

// A head that does not fit is refused whole: truncating it once dropped the Impersonate-*
// headers appended after 254 of the user's own.
TEST(Frame, HeadsThatDoNotFitAreRefusedNotTruncated) {
  RequestHead h = sampleRequest();
  h.headers.clear();
  for (size_t i = 0; i < kMaxHeaders; ++i) h.headers.push_back({"X-Pad-" + std::to_string(i), "x"});
  auto fits = encodeRequestHead(h);
  ASSERT_TRUE(fits.ok()) << fits.status();
  auto back = decodeRequestHead(*fits);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->headers.size(), kMaxHeaders);

  h.headers.push_back({"Impersonate-User", "alice"});
  auto refused = encodeRequestHead(h);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status()));
  EXPECT_NE(std::string(refused.status().message()).find("more than 256 headers"),
            std::string::npos);

  RequestHead long_value = sampleRequest();
  long_value.headers.push_back({"X-Long", std::string(70000, 'a')});
  EXPECT_FALSE(encodeRequestHead(long_value).ok());
  RequestHead long_target = sampleRequest();
  long_target.target = "/" + std::string(70000, 'a');
  EXPECT_FALSE(encodeRequestHead(long_target).ok());

  ResponseHead rh{200, "OK", {}};
  for (size_t i = 0; i <= kMaxHeaders; ++i) rh.headers.push_back({"X-Pad", "x"});
  EXPECT_FALSE(encodeResponseHead(rh).ok());
}

TEST(Frame, OpenMayCarryTheInternalFlagOnly) {
  std::string head = *encodeRequestHead(sampleRequest());
  auto f = decodeFrame(encodeFrame(FrameType::kOpen, kFlagEnd | kFlagInternal, 3, head));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->flags, kFlagEnd | kFlagInternal);
  EXPECT_FALSE(decodeFrame(encodeFrame(FrameType::kData, kFlagInternal, 3, "x")).ok());
  EXPECT_FALSE(decodeFrame(encodeFrame(FrameType::kResponse, kFlagInternal, 3,
                                       *encodeResponseHead({200, "OK", {}})))
                   .ok());
}

TEST(Frame, WindowAndReset) {
  EXPECT_EQ(*decodeWindow(encodeWindow(1234)), 1234u);
  EXPECT_FALSE(decodeWindow(encodeWindow(0)).ok());
  auto r = decodeReset(encodeReset({ResetCode::kRefused, "too many streams"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, ResetCode::kRefused);
  EXPECT_EQ(r->reason, "too many streams");
  EXPECT_FALSE(decodeReset("abc").ok());
}

TEST(Handshake, HelloValidation) {
  Hello hello{kProtocolVersion, "edge-1", "0.1.0", {}};
  auto back = decodeHello(encodeHello(hello));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->cluster, "edge-1");
  EXPECT_FALSE(decodeHello("not json").ok());
  EXPECT_FALSE(decodeHello(R"({"protocol":1,"cluster":"../x","agentVersion":"1"})").ok());
  EXPECT_FALSE(decodeHello(R"({"protocol":-1,"cluster":"a","agentVersion":"1"})").ok());
  EXPECT_FALSE(decodeHello(R"({"protocol":1,"cluster":"a"})").ok());
}

TEST(Handshake, WelcomeValidation) {
  Welcome w{kProtocolVersion, "hub-1", 1 << 20, 256 << 10, 8 << 20, 15000, 1024, {}};
  auto back = decodeWelcome(encodeWelcome(w));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->stream_window, 256u << 10);
  EXPECT_TRUE(back->capabilities.empty());
  // Without capabilities the encoding is protocol 1's as first published.
  EXPECT_EQ(encodeWelcome(w).find("capabilities"), std::string::npos);
  w.capabilities = {std::string(kCapabilityInternalOpen)};
  back = decodeWelcome(encodeWelcome(w));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(hasCapability(back->capabilities, kCapabilityInternalOpen));
  EXPECT_FALSE(hasCapability(back->capabilities, "stream.v1"));
  EXPECT_FALSE(
      decodeWelcome(R"({"protocol":1,"hubId":"h","maxFrame":1048576,"streamWindow":262144,)"
                    R"("connectionWindow":8388608,"pingIntervalMs":15000,"maxStreams":1,)"
                    R"("capabilities":"internal-open.v1"})")
          .ok());
  w.capabilities.clear();
  w.connection_window = 1000;
  EXPECT_FALSE(decodeWelcome(encodeWelcome(w)).ok());
}

}  // namespace
}  // namespace kubehub::proto
