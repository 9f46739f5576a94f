#include "tests/standin/tar_archive.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace kubehub::standin {
namespace {

struct Member {
  TarEntry entry;
  std::string data;
  bool ended = false;
};

/// Collects what a reader finds.
class Collect : public TarReader::Sink {
 public:
  void begin(const TarEntry& e) override { members.push_back(Member{e, "", false}); }
  void data(std::string_view bytes) override { members.back().data.append(bytes); }
  void end() override { members.back().ended = true; }
  void message(std::string text) override { messages.push_back(std::move(text)); }

  std::vector<Member> members;
  std::vector<std::string> messages;
};

struct Read {
  std::vector<Member> members;
  std::vector<std::string> messages;
  bool failed = false;
  bool fatal = false;
};

// Reads `archive` fed in pieces of `piece` bytes (0: all at once), then closes.
Read readAll(std::string_view archive, size_t piece = 0) {
  Collect sink;
  TarReader r(sink);
  if (piece == 0) piece = archive.size() + 1;
  for (size_t pos = 0; pos < archive.size(); pos += piece) r.feed(archive.substr(pos, piece));
  r.close();
  return Read{sink.members, sink.messages, r.failed(), r.fatal()};
}

TarEntry file(std::string name, uint64_t size, uint32_t mode = 0644) {
  TarEntry e;
  e.name = std::move(name);
  e.size = size;
  e.mode = mode;
  e.mtime = 1700000000;
  e.uname = e.gname = "root";
  return e;
}

TarEntry dir(std::string name) {
  TarEntry e = file(std::move(name), 0, 0755);
  e.type = TarEntry::Type::kDirectory;
  e.typeflag = '5';
  return e;
}

// A POSIX ustar header as Go's archive/tar writes it ("ustar\0" "00"), checksum filled in.
std::string ustarHeader(std::string_view name, char type, uint64_t size,
                        std::string_view prefix = "") {
  std::string b(512, '\0');
  b.replace(0, name.size(), name);
  auto octal = [&](size_t off, size_t len, uint64_t v) {
    std::string s(len - 1, '0');
    for (size_t i = 0; i < len - 1; ++i)
      s[len - 2 - i] = static_cast<char>('0' + ((v >> (3 * i)) & 7));
    b.replace(off, len - 1, s);
  };
  octal(100, 8, 0644);
  octal(108, 8, 1000);
  octal(116, 8, 1000);
  octal(124, 12, size);
  octal(136, 12, 1700000000);
  b[156] = type;
  b.replace(257, 8,
            std::string("ustar\0"
                        "00",
                        8));
  b.replace(345, prefix.size(), prefix);
  b.replace(148, 8, "        ");
  unsigned sum = 0;
  for (char c : b) sum += static_cast<unsigned char>(c);
  octal(148, 7, sum);
  return b;
}

std::string padded(std::string data) {
  data.append((512 - data.size() % 512) % 512, '\0');
  return data;
}

// A PAX record: "LEN key=value\n", LEN counting itself.
std::string paxRecord(std::string_view key, std::string_view value) {
  std::string body = " " + std::string(key) + "=" + std::string(value) + "\n";
  size_t len = body.size() + 1;
  while (std::to_string(len).size() + body.size() != len) ++len;
  return std::to_string(len) + body;
}

TEST(TarArchiveTest, WriterOutputReadsBackAndFillsTheRecord) {
  TarWriter w;
  w.add(dir("tree/"), "");
  w.add(file("tree/a.txt", 5), "hello");
  std::string big(70000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  w.add(file("tree/sub/blob.bin", big.size(), 0755), big);
  TarEntry link = file("tree/link", 0, 0777);
  link.type = TarEntry::Type::kSymlink;
  link.typeflag = '2';
  link.link = "a.txt";
  w.add(link, "");
  w.finish();
  std::string archive = w.take();
  EXPECT_EQ(archive.size() % TarWriter::kRecord, 0u);
  EXPECT_EQ(w.written(), archive.size());
  // GNU tar's magic, as `tar cf -` in a Debian container writes it.
  EXPECT_EQ(archive.substr(257, 8), std::string("ustar  \0", 8));

  for (size_t piece : {size_t{0}, size_t{1}, size_t{511}, size_t{4096}}) {
    Read got = readAll(archive, piece);
    ASSERT_EQ(got.members.size(), 4u) << piece;
    EXPECT_TRUE(got.messages.empty()) << got.messages[0];
    EXPECT_FALSE(got.failed);
    EXPECT_EQ(got.members[0].entry.type, TarEntry::Type::kDirectory);
    EXPECT_EQ(got.members[0].entry.name, "tree/");
    EXPECT_EQ(got.members[0].entry.mode, 0755u);
    EXPECT_EQ(got.members[1].data, "hello");
    EXPECT_EQ(got.members[2].entry.name, "tree/sub/blob.bin");
    EXPECT_EQ(got.members[2].entry.mode, 0755u);
    EXPECT_EQ(got.members[2].entry.mtime, 1700000000);
    EXPECT_EQ(got.members[2].entry.uname, "root");
    EXPECT_TRUE(got.members[2].data == big);
    EXPECT_EQ(got.members[3].entry.type, TarEntry::Type::kSymlink);
    EXPECT_EQ(got.members[3].entry.link, "a.txt");
    for (const Member& m : got.members) EXPECT_TRUE(m.ended);
  }
}

TEST(TarArchiveTest, LongNamesAndLinkTargetsUseGnuLongLinkRecords) {
  const std::string name = "d/" + std::string(150, 'n') + "/" + std::string(200, 'x');
  const std::string target = std::string(120, 't');
  TarWriter w;
  w.add(file(name, 2), "hi");
  TarEntry link = file("short", 0, 0777);
  link.type = TarEntry::Type::kSymlink;
  link.typeflag = '2';
  link.link = target;
  w.add(link, "");
  w.finish();
  std::string archive = w.take();
  EXPECT_EQ(archive.substr(0, 13), "././@LongLink");
  EXPECT_EQ(archive[156], 'L');
  Read got = readAll(archive, 100);
  ASSERT_EQ(got.members.size(), 2u);
  EXPECT_EQ(got.members[0].entry.name, name);
  EXPECT_EQ(got.members[0].data, "hi");
  EXPECT_EQ(got.members[1].entry.name, "short");
  EXPECT_EQ(got.members[1].entry.link, target);
}

TEST(TarArchiveTest, ReadsGoStyleUstarPrefixAndPaxRecords) {
  // What kubectl's archive/tar writes: a name split over prefix and name when it fits, a PAX
  // `x` record when it does not.
  const std::string long_name = std::string(120, 'p') + "/" + std::string(300, 'q');
  std::string pax = paxRecord("path", long_name) + paxRecord("mtime", "1700000000.5");
  std::string archive =
      ustarHeader("tree/sub", '5', 0) + ustarHeader("file.txt", '0', 3, std::string(130, 'a')) +
      padded("abc") + ustarHeader("PaxHeaders.0/x", 'x', pax.size()) + padded(pax) +
      ustarHeader("truncated-name", '0', 4) + padded("data") + std::string(1024, '\0');
  Read got = readAll(archive, 7);
  ASSERT_EQ(got.members.size(), 3u);
  EXPECT_TRUE(got.messages.empty());
  EXPECT_EQ(got.members[0].entry.type, TarEntry::Type::kDirectory);
  EXPECT_EQ(got.members[1].entry.name, std::string(130, 'a') + "/file.txt");
  EXPECT_EQ(got.members[1].entry.uid, 1000u);
  EXPECT_EQ(got.members[2].entry.name, long_name);
  EXPECT_EQ(got.members[2].entry.mtime, 1700000000);
  EXPECT_EQ(got.members[2].data, "data");
}

TEST(TarArchiveTest, PaxSizeOverridesTheHeader) {
  std::string pax = paxRecord("size", "5");
  std::string archive = ustarHeader("x", 'x', pax.size()) + padded(pax) + ustarHeader("f", '0', 0) +
                        padded("12345") + std::string(1024, '\0');
  Read got = readAll(archive);
  ASSERT_EQ(got.members.size(), 1u);
  EXPECT_EQ(got.members[0].data, "12345");
}

TEST(TarArchiveTest, EmptyOrGarbageInputIsNotATarArchive) {
  Read empty = readAll("");
  EXPECT_EQ(empty.messages, std::vector<std::string>{"This does not look like a tar archive"});
  EXPECT_TRUE(empty.failed);
  Read short_garbage = readAll(std::string(100, 'z'));
  EXPECT_EQ(short_garbage.messages,
            std::vector<std::string>{"This does not look like a tar archive"});
  Read garbage = readAll(std::string(20000, 'z'), 333);
  EXPECT_EQ(garbage.messages, (std::vector<std::string>{"This does not look like a tar archive",
                                                        "Skipping to next header"}));
  EXPECT_TRUE(garbage.failed);
  EXPECT_FALSE(garbage.fatal);
  EXPECT_TRUE(garbage.members.empty());
}

TEST(TarArchiveTest, ABadHeaderIsSkippedAndReadingGoesOn) {
  std::string bad = ustarHeader("broken", '0', 3);
  bad[148] = '7';  // checksum no longer matches
  std::string archive = ustarHeader("a", '0', 1) + padded("1") + bad + padded("abc") +
                        ustarHeader("b", '0', 1) + padded("2") + std::string(1024, '\0');
  Read got = readAll(archive);
  EXPECT_EQ(got.messages, std::vector<std::string>{"Skipping to next header"});
  EXPECT_TRUE(got.failed);
  ASSERT_EQ(got.members.size(), 2u);
  EXPECT_EQ(got.members[0].entry.name, "a");
  EXPECT_EQ(got.members[1].entry.name, "b");
}

TEST(TarArchiveTest, TruncatedArchivesEndWithUnexpectedEof) {
  TarWriter w;
  w.add(file("f", 1000), std::string(1000, 'x'));
  w.finish();
  std::string archive = w.take();
  Read header_cut = readAll(std::string_view(archive).substr(0, 100));
  EXPECT_EQ(header_cut.messages, std::vector<std::string>{"This does not look like a tar archive"});
  EXPECT_FALSE(header_cut.fatal);
  for (size_t cut : {size_t{513}, size_t{700}, size_t{1200}, size_t{1530}}) {
    Read got = readAll(std::string_view(archive).substr(0, cut));
    EXPECT_TRUE(got.fatal) << cut;
    EXPECT_EQ(got.messages,
              (std::vector<std::string>{"Unexpected EOF in archive", "Unexpected EOF in archive",
                                        "Error is not recoverable: exiting now"}))
        << cut;
    ASSERT_EQ(got.members.size(), 1u);
    EXPECT_TRUE(got.members[0].ended);  // the short member is closed, as tar leaves it
    EXPECT_EQ(got.members[0].data.size(), std::min<size_t>(cut - 512, 1000));
  }
  // Cut where the next header would start, at a block boundary or in it: GNU tar ends quietly.
  for (size_t cut : {size_t{1536}, size_t{1600}}) {
    Read quiet = readAll(std::string_view(archive).substr(0, cut));
    EXPECT_TRUE(quiet.messages.empty()) << cut;
    EXPECT_FALSE(quiet.failed);
  }
}

TEST(TarArchiveTest, ALoneZeroBlockEndsTheArchiveWithAWarning) {
  std::string archive = ustarHeader("a", '0', 1) + padded("1") + std::string(512, '\0');
  Read at_end = readAll(archive);
  EXPECT_EQ(at_end.messages, std::vector<std::string>{"A lone zero block at 3"});
  EXPECT_FALSE(at_end.failed);
  Read then_more = readAll(archive + ustarHeader("b", '0', 0));
  EXPECT_EQ(then_more.messages, std::vector<std::string>{"A lone zero block at 3"});
  EXPECT_EQ(then_more.members.size(), 1u);
  Read done = readAll(archive + std::string(512, '\0') + "ignored after the end");
  EXPECT_TRUE(done.messages.empty());
}

TEST(TarArchiveTest, OversizedExtendedRecordsAreRefused) {
  std::string archive = ustarHeader("x", 'x', TarReader::kMaxExtendedRecord + 1);
  Read got = readAll(archive);
  EXPECT_TRUE(got.fatal);
  ASSERT_EQ(got.messages.size(), 2u);
  EXPECT_NE(got.messages[0].find("extended header of 1048577 bytes"), std::string::npos);
}

TEST(TarArchiveTest, MalformedPaxRecordsAreReported) {
  std::string pax = "99 path=x\n";
  std::string archive = ustarHeader("x", 'x', pax.size()) + padded(pax) + ustarHeader("f", '0', 0) +
                        std::string(1024, '\0');
  Read got = readAll(archive);
  EXPECT_TRUE(got.failed);
  EXPECT_EQ(got.messages, std::vector<std::string>{"Malformed extended header: missing length"});
  ASSERT_EQ(got.members.size(), 1u);
  EXPECT_EQ(got.members[0].entry.name, "f");
}

TEST(TarArchiveTest, Base256NumbersAndUnknownTypes) {
  std::string h = ustarHeader("f", 'Z', 0);
  // size 3 in GNU's base-256 form
  h.replace(124, 12, std::string("\x80\0\0\0\0\0\0\0\0\0\0\x03", 12));
  h.replace(148, 8, "        ");
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  char chk[8];
  std::snprintf(chk, sizeof(chk), "%06o", sum);
  h.replace(148, 7, std::string(chk, 7));
  Read got = readAll(h + padded("abc") + std::string(1024, '\0'));
  ASSERT_EQ(got.members.size(), 1u);
  EXPECT_EQ(got.members[0].entry.type, TarEntry::Type::kFile);
  EXPECT_EQ(got.members[0].entry.typeflag, 'Z');
  EXPECT_EQ(got.members[0].data, "abc");
}

}  // namespace
}  // namespace kubehub::standin
