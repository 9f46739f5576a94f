#include "tests/standin/file_commands.h"

#include <gtest/gtest.h>

#include <map>

#include "tests/standin/pod_files.h"
#include "tests/standin/tar_archive.h"

namespace kubehub::standin {
namespace {

struct Ran {
  std::string out;
  std::string err;
  std::optional<Json> status;
  /// Channels in the order frames came.
  std::vector<int> channels;
  /// Frames before the status (the command had not finished when stdin was still coming).
  bool finished_early = false;

  int exitCode() const {
    if (!status.has_value()) return -1;
    if ((*status)["status"] == "Success") return 0;
    return std::stoi((*status)["details"]["causes"][0]["message"].get<std::string>());
  }
};

std::shared_ptr<PodFiles> seeded(uint64_t limit = PodFileSystems::kDefaultLimit) {
  auto fs = std::make_shared<PodFiles>(std::make_shared<StorageBudget>(limit));
  PodFileSystems::seed(*fs, "web-1");
  return fs;
}

// Runs a command as an exec would: start, stdin in pieces of `piece` bytes, stdin closed.
Ran run(std::shared_ptr<PodFiles> fs, std::vector<std::string> command,
        std::string_view stdin_data = {}, size_t piece = 1000, bool use_stdin = false) {
  ExecRequest req;
  req.pod = "web-1";
  req.container = "nginx";
  req.command = std::move(command);
  req.use_stdin = use_stdin || !stdin_data.empty();
  req.files = std::move(fs);
  ExecCommand cmd(req);
  Ran r;
  auto take = [&](ExecCommand::Output o) {
    for (auto& [channel, data] : o.frames) {
      r.channels.push_back(channel);
      (channel == ExecCommand::kStdout ? r.out : r.err) += data;
    }
    if (o.status.has_value()) r.status = o.status;
  };
  take(cmd.start());
  for (size_t pos = 0; pos < stdin_data.size() && !cmd.finished(); pos += piece) {
    take(cmd.onStdin(stdin_data.substr(pos, piece)));
    if (cmd.finished() && pos + piece < stdin_data.size()) r.finished_early = true;
  }
  if (!cmd.finished() && req.use_stdin) take(cmd.onStdinClosed());
  return r;
}

struct Member {
  TarEntry entry;
  std::string data;
};

std::vector<Member> members(std::string_view archive,
                            std::vector<std::string>* messages = nullptr) {
  struct Sink : TarReader::Sink {
    std::vector<Member> got;
    std::vector<std::string> said;
    void begin(const TarEntry& e) override { got.push_back({e, ""}); }
    void data(std::string_view b) override { got.back().data.append(b); }
    void end() override {}
    void message(std::string t) override { said.push_back(std::move(t)); }
  } sink;
  TarReader r(sink);
  r.feed(archive);
  r.close();
  if (messages != nullptr) *messages = sink.said;
  return sink.got;
}

// The archive kubectl's makeTar sends for a local directory "tree" copied to DIR/tree: names
// relative to the -C directory, no entries for directories except empty ones.
std::string kubectlArchive(const std::string& blob) {
  TarWriter w;
  auto file = [&](std::string name, std::string_view data, uint32_t mode = 0644) {
    TarEntry e;
    e.name = std::move(name);
    e.size = data.size();
    e.mode = mode;
    e.uid = e.gid = 1000;
    e.mtime = 1700000000;
    w.add(e, data);
  };
  file("tree/a.txt", "alpha\n");
  file("tree/sub/deeper/b.txt", "beta\n", 0600);
  file("tree/sub/blob.bin", blob, 0755);
  file("tree/" + std::string(130, 'l') + "/" + std::string(120, 'n') + ".txt", "long\n");
  TarEntry empty;
  empty.name = "tree/empty";
  empty.type = TarEntry::Type::kDirectory;
  empty.typeflag = '5';
  empty.mode = 0700;
  w.add(empty, "");
  std::string out = w.take();
  out.append(1024, '\0');  // Go's Close: two zero blocks, no record padding
  return out;
}

TEST(FileCommandsTest, TestDashDAnswersLikeCoreutils) {
  auto fs = seeded();
  EXPECT_EQ(run(fs, {"test", "-d", "/etc"}).exitCode(), 0);
  EXPECT_EQ(run(fs, {"test", "-d", "/etc/hostname"}).exitCode(), 1);
  EXPECT_EQ(run(fs, {"test", "-d", "/nope"}).exitCode(), 1);
  EXPECT_EQ(run(fs, {"test", "-f", "/etc/hostname"}).exitCode(), 0);
  EXPECT_EQ(run(fs, {"/usr/bin/test", "-e", "/tmp"}).exitCode(), 0);
  Ran bad = run(fs, {"test", "-q", "/tmp"});
  EXPECT_EQ(bad.exitCode(), 2);
  EXPECT_EQ(bad.err, "test: '-q': unary operator expected\n");
}

TEST(FileCommandsTest, CopyInThenOutRoundTrips) {
  auto fs = seeded();
  std::string blob(300000, '\0');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>((i * 131) ^ (i >> 7));
  std::string archive = kubectlArchive(blob);
  // kubectl cp ./tree web-1:/tmp/tree when /tmp/tree does not exist yet.
  EXPECT_EQ(run(fs, {"test", "-d", "/tmp/tree"}).exitCode(), 1);
  Ran in = run(fs, {"tar", "-xmf", "-", "-C", "/tmp"}, archive, 4096);
  EXPECT_EQ(in.exitCode(), 0) << in.err;
  EXPECT_EQ(in.err, "");
  EXPECT_EQ(fs->stat("/tmp/tree/sub/deeper/b.txt")->meta.mode, 0600u);
  EXPECT_EQ(fs->stat("/tmp/tree/sub/deeper/b.txt")->meta.uid, 1000u);
  EXPECT_EQ(fs->stat("/tmp/tree/empty")->kind, PodFiles::Kind::kDirectory);

  Ran out = run(fs, {"tar", "cf", "-", "/tmp/tree"});
  EXPECT_EQ(out.exitCode(), 0);
  EXPECT_EQ(out.err, "tar: Removing leading `/' from member names\n");
  EXPECT_EQ(out.out.size() % TarWriter::kRecord, 0u);
  for (size_t i = 0; i < out.channels.size(); ++i) {
    if (out.channels[i] == ExecCommand::kStdout) continue;
    EXPECT_EQ(i, 0u) << "stderr comes before the archive";
  }
  std::vector<Member> got = members(out.out);
  std::map<std::string, std::string> files;
  std::vector<std::string> dirs;
  for (const Member& m : got) {
    if (m.entry.type == TarEntry::Type::kDirectory) dirs.push_back(m.entry.name);
    if (m.entry.type == TarEntry::Type::kFile) files[m.entry.name] = m.data;
  }
  EXPECT_EQ(dirs, (std::vector<std::string>{"tmp/tree/", "tmp/tree/empty/",
                                            "tmp/tree/" + std::string(130, 'l') + "/",
                                            "tmp/tree/sub/", "tmp/tree/sub/deeper/"}));
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files["tmp/tree/a.txt"], "alpha\n");
  EXPECT_TRUE(files["tmp/tree/sub/blob.bin"] == blob);
  EXPECT_EQ(files["tmp/tree/" + std::string(130, 'l') + "/" + std::string(120, 'n') + ".txt"],
            "long\n");

  // Copying again into the now existing directory nests it, as `kubectl cp` does.
  EXPECT_EQ(run(fs, {"test", "-d", "/tmp/tree"}).exitCode(), 0);
  Ran again = run(fs, {"tar", "-xmf", "-", "-C", "/tmp/tree"}, archive, 65536);
  EXPECT_EQ(again.exitCode(), 0) << again.err;
  EXPECT_EQ(**fs->read("/tmp/tree/tree/a.txt"), "alpha\n");
}

TEST(FileCommandsTest, NoPreserveDropsOwnersAndGroupWriteBits) {
  auto fs = seeded();
  TarWriter w;
  TarEntry e;
  e.name = "f";
  e.size = 1;
  e.mode = 0777;
  e.uid = e.gid = 1000;
  w.add(e, "x");
  w.finish();
  Ran r = run(fs, {"tar", "--no-same-permissions", "--no-same-owner", "-xmf", "-", "-C", "/tmp"},
              w.take());
  EXPECT_EQ(r.exitCode(), 0) << r.err;
  EXPECT_EQ(fs->stat("/tmp/f")->meta.mode, 0755u);
  EXPECT_EQ(fs->stat("/tmp/f")->meta.uid, 0u);
}

TEST(FileCommandsTest, CopyOutOfAMissingPathSaysWhatGnuTarSays) {
  auto fs = seeded();
  Ran r = run(fs, {"tar", "cf", "-", "/nope"});
  EXPECT_EQ(r.exitCode(), 2);
  EXPECT_EQ(r.err,
            "tar: Removing leading `/' from member names\n"
            "tar: /nope: Cannot stat: No such file or directory\n"
            "tar: Exiting with failure status due to previous errors\n");
  EXPECT_EQ(r.out, std::string(TarWriter::kRecord, '\0'));
  EXPECT_EQ(r.channels.front(), ExecCommand::kStderr);
  EXPECT_EQ(r.channels.back(), ExecCommand::kStdout);
  EXPECT_EQ((*r.status)["message"],
            "command terminated with non-zero exit code: error executing command [tar cf - "
            "/nope], exit code 2");
}

TEST(FileCommandsTest, RetriesPipeThroughTail) {
  auto fs = seeded();
  Ran full = run(fs, {"tar", "cf", "-", "/etc/hostname"});
  Ran from0 = run(fs, {"sh", "-c", "tar cf - /etc/hostname | tail -c+0"});
  EXPECT_EQ(from0.exitCode(), 0);
  EXPECT_TRUE(from0.out == full.out);
  Ran from513 = run(fs, {"sh", "-c", "tar cf - /etc/hostname | tail -c+513"});
  EXPECT_TRUE(from513.out == full.out.substr(512));
  EXPECT_EQ(from513.out.substr(0, 6), "web-1\n");
  // The pipeline's status is tail's, whatever tar said.
  Ran missing = run(fs, {"sh", "-c", "tar cf - /nope | tail -c+1"});
  EXPECT_EQ(missing.exitCode(), 0);
  EXPECT_NE(missing.err.find("tar: /nope: Cannot stat: No such file or directory"),
            std::string::npos);
  // Newer kubectl quote the path.
  ASSERT_TRUE(fs->writeFile("/tmp/it's here", "q", {}).ok());
  Ran quoted = run(fs, {"sh", "-c", "tar cf - '/tmp/it'\\''s here' | tail -c+1"});
  EXPECT_EQ(quoted.exitCode(), 0) << quoted.err;
  std::vector<Member> got = members(quoted.out);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].entry.name, "tmp/it's here");
}

TEST(FileCommandsTest, ExtractingIntoAMissingDirectoryStopsAtTheFirstMember) {
  auto fs = seeded();
  std::string archive = kubectlArchive(std::string(200000, 'b'));
  Ran r = run(fs, {"tar", "-xmf", "-", "-C", "/nope/dir"}, archive, 1024);
  EXPECT_EQ(r.exitCode(), 2);
  EXPECT_EQ(r.err,
            "tar: /nope/dir: Cannot open: No such file or directory\n"
            "tar: Error is not recoverable: exiting now\n");
  EXPECT_TRUE(r.finished_early);
  Ran into_file = run(fs, {"tar", "-xmf", "-", "-C", "/etc/hostname"}, archive);
  EXPECT_EQ(into_file.err,
            "tar: /etc/hostname: Cannot open: Not a directory\n"
            "tar: Error is not recoverable: exiting now\n");
}

TEST(FileCommandsTest, TheBudgetIsANoSpaceErrorAndMemoryStaysBounded) {
  const uint64_t limit = 64 * 1024;
  auto fs = seeded(limit);
  std::string archive = kubectlArchive(std::string(100 * 1024, 'b'));
  Ran r = run(fs, {"tar", "-xmf", "-", "-C", "/tmp"}, archive, 8192);
  EXPECT_EQ(r.exitCode(), 2);
  EXPECT_NE(r.err.find("tar: tree/sub/blob.bin: Cannot write: No space left on device\n"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(r.err.ends_with("tar: Exiting with failure status due to previous errors\n"));
  EXPECT_EQ(r.err.find("tar: tree/sub/blob.bin: Cannot open"), std::string::npos) << r.err;
  EXPECT_EQ(fs->budget().used(), limit);
  EXPECT_EQ(**fs->read("/tmp/tree/a.txt"), "alpha\n");  // what came before the full disk
  // What fitted of the file that did not, as a full disk leaves it.
  auto blob = fs->stat("/tmp/tree/sub/blob.bin");
  ASSERT_TRUE(blob.ok());
  EXPECT_GT(blob->size, 0u);
  EXPECT_LT(blob->size, 100u * 1024);
}

TEST(FileCommandsTest, BadArchivesOnStdin) {
  auto fs = seeded();
  Ran garbage = run(fs, {"tar", "xf", "-", "-C", "/tmp"}, std::string(5000, 'g'));
  EXPECT_EQ(garbage.exitCode(), 2);
  EXPECT_EQ(garbage.err,
            "tar: This does not look like a tar archive\n"
            "tar: Skipping to next header\n"
            "tar: Exiting with failure status due to previous errors\n");
  Ran empty = run(fs, {"tar", "-xmf", "-", "-C", "/tmp"}, "", 1000, true);
  EXPECT_EQ(empty.exitCode(), 2);
  EXPECT_EQ(empty.err,
            "tar: This does not look like a tar archive\n"
            "tar: Exiting with failure status due to previous errors\n");
  std::string archive = kubectlArchive(std::string(5000, 'b'));
  Ran cut = run(fs, {"tar", "-xmf", "-", "-C", "/tmp"}, archive.substr(0, 1700));
  EXPECT_EQ(cut.exitCode(), 2);
  EXPECT_EQ(cut.err,
            "tar: Unexpected EOF in archive\n"
            "tar: Unexpected EOF in archive\n"
            "tar: Error is not recoverable: exiting now\n");
}

TEST(FileCommandsTest, UnsafeAndSpecialMembers) {
  auto fs = seeded();
  TarWriter w;
  auto add = [&](std::string name, char flag, std::string link = "") {
    TarEntry e;
    e.name = std::move(name);
    e.typeflag = flag;
    e.type = flag == '2'   ? TarEntry::Type::kSymlink
             : flag == '1' ? TarEntry::Type::kHardLink
             : flag == '6' ? TarEntry::Type::kSpecial
                           : TarEntry::Type::kFile;
    e.link = std::move(link);
    w.add(e, "");
  };
  add("/abs", '0');
  add("a/../../up", '0');
  add("fifo", '6');
  add("link", '2', "abs");
  add("hard", '1', "abs");
  add("hard2", '1', "nope");
  w.finish();
  Ran r = run(fs, {"tar", "-xmf", "-", "-C", "/tmp"}, w.take());
  EXPECT_EQ(r.exitCode(), 2);
  EXPECT_EQ(r.err,
            "tar: Removing leading `/' from member names\n"
            "tar: a/../../up: Member name contains '..'\n"
            "tar: fifo: Cannot mknod: Operation not permitted\n"
            "tar: hard2: Cannot hard link to 'nope': No such file or directory\n"
            "tar: Exiting with failure status due to previous errors\n");
  EXPECT_TRUE(fs->stat("/tmp/abs").ok());
  EXPECT_FALSE(fs->stat("/up").ok());
  EXPECT_EQ(fs->stat("/tmp/link", false)->target, "abs");
  EXPECT_TRUE(fs->stat("/tmp/hard").ok());
}

TEST(FileCommandsTest, UsageErrors) {
  auto fs = seeded();
  Ran none = run(fs, {"tar"});
  EXPECT_EQ(none.exitCode(), 2);
  EXPECT_TRUE(none.err.starts_with("tar: You must specify one of the '-Acdtrux'")) << none.err;
  EXPECT_TRUE(run(fs, {"tar", "cf", "-"}).err.starts_with("tar: Cowardly refusing"));
  EXPECT_TRUE(run(fs, {"tar", "-xqf", "-"}).err.starts_with("tar: invalid option -- 'q'"));
  EXPECT_TRUE(run(fs, {"tar", "--frobnicate"}).err.starts_with("tar: unrecognized option"));
  EXPECT_TRUE(run(fs, {"tar", "-cxf", "-"}).err.starts_with("tar: You may not specify more"));
  Ran file = run(fs, {"tar", "cf", "/tmp/x.tar", "/etc"});
  EXPECT_EQ(file.exitCode(), 2);
  EXPECT_TRUE(file.err.starts_with("tar: /tmp/x.tar: Cannot open: ")) << file.err;
}

TEST(FileCommandsTest, CatFiles) {
  auto fs = seeded();
  Ran r = run(fs, {"cat", "/etc/hostname", "/nope", "/etc"});
  EXPECT_EQ(r.out, "web-1\n");
  EXPECT_EQ(r.err, "cat: /nope: No such file or directory\ncat: /etc: Is a directory\n");
  EXPECT_EQ(r.exitCode(), 1);
}

TEST(FileCommandsTest, WithoutAFileSystemThereIsNoTar) {
  ExecRequest req;
  req.command = {"tar", "cf", "-", "/etc"};
  EXPECT_EQ(FileCommand::match(req), nullptr);
  ExecCommand cmd(req);
  EXPECT_EQ((*cmd.start().status)["reason"], "InternalError");
  req.files = seeded();
  req.command = {"sh", "-c", "tar cf - /etc; rm -rf /"};
  EXPECT_EQ(FileCommand::match(req), nullptr);
  req.command = {"sh", "-c", "exit 3"};
  EXPECT_EQ(FileCommand::match(req), nullptr);
}

}  // namespace
}  // namespace kubehub::standin
