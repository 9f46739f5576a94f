#include "tests/standin/file_commands.h"

#include <algorithm>
#include <ctime>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "tests/standin/pod_files.h"
#include "tests/standin/tar_archive.h"

namespace kubehub::standin {
namespace {

// The program a word names, whether spelled bare or with the usual directories.
bool names(std::string_view word, std::string_view program) {
  for (std::string_view dir : {"", "/bin/", "/usr/bin/"}) {
    if (word.size() == dir.size() + program.size() && word.starts_with(dir) &&
        word.ends_with(program)) {
      return true;
    }
  }
  return false;
}

/// The frames for the channels the client asked for, and the final Status.
class Frames {
 public:
  explicit Frames(const ExecRequest& req) : req_(req) {}

  void out(std::string s) { add(ExecCommand::kStdout, req_.use_stdout, std::move(s)); }
  void err(std::string s) { add(ExecCommand::kStderr, req_.use_stderr, std::move(s)); }
  /// What was collected since the last take().
  ExecCommand::Output take() {
    ExecCommand::Output o;
    o.frames.swap(frames_);
    return o;
  }
  ExecCommand::Output finish(int code) {
    ExecCommand::Output o = take();
    o.status =
        code == 0 ? ExecCommand::successStatus() : ExecCommand::exitCodeStatus(req_.command, code);
    return o;
  }

 private:
  void add(int channel, bool wanted, std::string s) {
    if (wanted && !s.empty()) frames_.emplace_back(channel, std::move(s));
  }
  const ExecRequest& req_;
  std::vector<std::pair<int, std::string>> frames_;
};

// ---- sh -c ----------------------------------------------------------------------------------

// Splits a shell command line into words: blanks separate, '...' and "..." quote, a backslash
// escapes, '|' stands alone. nullopt for what this small shell does not run (other operators,
// expansions, globs, unterminated quotes).
std::optional<std::vector<std::string>> shellWords(std::string_view script) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < script.size(); ++i) {
    char c = script[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else if (c == '|') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
      words.emplace_back("|");
    } else if (c == '\'') {
      size_t end = script.find('\'', i + 1);
      if (end == std::string_view::npos) return std::nullopt;
      cur.append(script.substr(i + 1, end - i - 1));
      in_word = true;
      i = end;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < script.size() && script[j] != '"'; ++j) {
        if (script[j] == '$' || script[j] == '`') return std::nullopt;
        if (script[j] == '\\' && j + 1 < script.size() &&
            std::string_view("\"\\$`").find(script[j + 1]) != std::string_view::npos) {
          ++j;
        }
        cur.push_back(script[j]);
      }
      if (j >= script.size()) return std::nullopt;
      in_word = true;
      i = j;
    } else if (c == '\\') {
      if (i + 1 >= script.size()) return std::nullopt;
      cur.push_back(script[++i]);
      in_word = true;
    } else if (std::string_view(";&<>$`(){}*?[~#").find(c) != std::string_view::npos) {
      return std::nullopt;
    } else {
      cur.push_back(c);
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

// ---- tar ------------------------------------------------------------------------------------

constexpr char kTryHelp[] = "Try 'tar --help' or 'tar --usage' for more information.\n";

struct TarOptions {
  char mode = 0;  // 'c' or 'x'
  std::string archive = "-";
  std::string directory;  // -C, as given ("" when none)
  bool touch = false;     // -m: mtime of extraction, not the archive's
  bool same_owner = true;
  bool same_permissions = true;
  bool verbose = false;
  /// Operands with the directory they are relative to (-C applies to those after it).
  std::vector<std::pair<std::string, std::string>> operands;
};

// GNU tar's command line: an old-style first word ("xmf" without a dash, its arguments taken
// from the words after it), bundled short options, long options, operands anywhere. Returns
// the usage error to print (with exit status 2) when there is one.
std::optional<std::string> parseTar(const std::vector<std::string>& argv, TarOptions& o) {
  std::vector<std::string> args;
  size_t i = 1;
  if (argv.size() > 1 && !argv[1].empty() && argv[1][0] != '-') {
    // Old style: each letter an option; those taking an argument take the next words in turn.
    i = 2;
    for (char c : argv[1]) {
      args.push_back(std::string("-") + c);
      if ((c == 'f' || c == 'C') && i < argv.size()) args.push_back(argv[i++]);
    }
  }
  args.insert(args.end(), argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());

  auto setMode = [&](char m) -> std::optional<std::string> {
    if (o.mode != 0 && o.mode != m) {
      return std::string(
                 "tar: You may not specify more than one '-Acdtrux', '--delete' or  "
                 "'--test-label' option\n") +
             kTryHelp;
    }
    o.mode = m;
    return std::nullopt;
  };
  bool options_end = false;
  for (size_t k = 0; k < args.size(); ++k) {
    const std::string& a = args[k];
    if (options_end || a == "-" || a.empty() || a[0] != '-') {
      o.operands.emplace_back(o.directory, a);
      continue;
    }
    if (a == "--") {
      options_end = true;
      continue;
    }
    if (a.starts_with("--")) {
      std::string name = a.substr(2);
      std::optional<std::string> value;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      }
      auto argument = [&]() -> std::optional<std::string> {
        if (value) return value;
        if (k + 1 < args.size()) return args[++k];
        return std::nullopt;
      };
      std::optional<std::string> error;
      if (name == "create") {
        error = setMode('c');
      } else if (name == "extract" || name == "get") {
        error = setMode('x');
      } else if (name == "file" || name == "directory") {
        std::optional<std::string> v = argument();
        if (!v) return "tar: option '--" + name + "' requires an argument\n" + kTryHelp;
        (name == "file" ? o.archive : o.directory) = *v;
      } else if (name == "touch") {
        o.touch = true;
      } else if (name == "no-same-owner") {
        o.same_owner = false;
      } else if (name == "same-owner") {
        o.same_owner = true;
      } else if (name == "no-same-permissions") {
        o.same_permissions = false;
      } else if (name == "same-permissions" || name == "preserve-permissions") {
        o.same_permissions = true;
      } else if (name == "verbose") {
        o.verbose = true;
      } else {
        return "tar: unrecognized option '" + a + "'\n" + kTryHelp;
      }
      if (error) return error;
      continue;
    }
    for (size_t j = 1; j < a.size(); ++j) {
      const char c = a[j];
      std::optional<std::string> error;
      switch (c) {
        case 'c':
        case 'x':
          error = setMode(c);
          break;
        case 'f':
        case 'C': {
          std::string v = a.substr(j + 1);
          if (v.empty()) {
            if (k + 1 >= args.size()) {
              return std::string("tar: option requires an argument -- '") + c + "'\n" + kTryHelp;
            }
            v = args[++k];
          }
          (c == 'f' ? o.archive : o.directory) = v;
          j = a.size();
          break;
        }
        case 'm':
          o.touch = true;
          break;
        case 'o':
          o.same_owner = false;
          break;
        case 'p':
          o.same_permissions = true;
          break;
        case 'v':
          o.verbose = true;
          break;
        default:
          return std::string("tar: invalid option -- '") + c + "'\n" + kTryHelp;
      }
      if (error) return error;
    }
  }
  if (o.mode == 0) {
    return std::string(
               "tar: You must specify one of the '-Acdtrux', '--delete' or '--test-label' "
               "options\n") +
           kTryHelp;
  }
  if (o.mode == 'c' && o.operands.empty()) {
    return std::string("tar: Cowardly refusing to create an empty archive\n") + kTryHelp;
  }
  return std::nullopt;
}

// Member names (and hard link targets) lose their leading slashes, as GNU tar does; it says
// so once for each kind.
std::string stripLeadingSlashes(std::string_view name, bool& said, Frames& f,
                                std::string_view what = "member names") {
  size_t n = name.find_first_not_of('/');
  if (n == std::string_view::npos) n = name.size();
  if (n > 0 && !said) {
    f.err("tar: Removing leading `/' from " + std::string(what) + "\n");
    said = true;
  }
  return std::string(name.substr(n));
}

std::string ownerName(uint32_t id) { return id == 0 ? "root" : ""; }

/// A usage error (or another command that fails before it starts): its lines, status 2.
class Refused : public FileCommand {
 public:
  Refused(const ExecRequest& req, std::string err) : req_(req), err_(std::move(err)) {}
  ExecCommand::Output start() override {
    Frames f(req_);
    f.err(err_);
    return f.finish(2);
  }

 private:
  ExecRequest req_;
  std::string err_;
};

/// `tar cf - PATH...`, optionally piped through `tail -c+N` (then the exit status is tail's).
class TarCreate : public FileCommand {
 public:
  TarCreate(const ExecRequest& req, TarOptions o, std::optional<uint64_t> tail_from)
      : req_(req),
        o_(std::move(o)),
        skip_(tail_from.value_or(0) > 0 ? *tail_from - 1 : 0),
        piped_(tail_from.has_value()) {}

  ExecCommand::Output start() override {
    Frames f(req_);
    std::vector<std::string> stdout_chunks;
    TarWriter w;
    bool failed = false;
    bool said = false;
    // Taken out of the writer a chunk at a time, so the archive exists once (in the frames).
    auto flush = [&](bool all) {
      if (w.pending() < kChunk && !all) return;
      std::string bytes = w.take();
      const size_t drop = static_cast<size_t>(std::min<uint64_t>(skip_, bytes.size()));
      skip_ -= drop;
      if (drop > 0) bytes.erase(0, drop);
      if (!bytes.empty()) stdout_chunks.push_back(std::move(bytes));
    };
    for (const auto& [dir, path] : o_.operands) {
      std::string name = stripLeadingSlashes(path, said, f);
      auto tree = req_.files->tree(PodFiles::absolute(path, PodFiles::absolute(dir)));
      if (!tree.ok()) {
        f.err("tar: " + path + ": Cannot stat: " + std::string(tree.status().message()) + "\n");
        failed = true;
        continue;
      }
      if (name.empty()) name = ".";
      for (const PodFiles::TreeEntry& t : *tree) {
        TarEntry e;
        e.name = t.relative.empty()    ? name
                 : name.ends_with('/') ? name + t.relative
                                       : name + "/" + t.relative;
        e.mode = t.stat.meta.mode;
        e.uid = t.stat.meta.uid;
        e.gid = t.stat.meta.gid;
        e.uname = ownerName(e.uid);
        e.gname = ownerName(e.gid);
        e.mtime = t.stat.meta.mtime;
        std::string_view data;
        switch (t.stat.kind) {
          case PodFiles::Kind::kDirectory:
            e.type = TarEntry::Type::kDirectory;
            e.typeflag = '5';
            if (!e.name.ends_with('/')) e.name += '/';
            break;
          case PodFiles::Kind::kSymlink:
            e.type = TarEntry::Type::kSymlink;
            e.typeflag = '2';
            e.link = t.stat.target;
            break;
          case PodFiles::Kind::kFile:
            e.size = t.data->size();
            data = *t.data;
            break;
        }
        if (o_.verbose) f.err(e.name + "\n");
        w.begin(e);
        while (!data.empty()) {
          const size_t n = std::min(kChunk - std::min(kChunk, w.pending()), data.size());
          w.data(data.substr(0, n));
          data.remove_prefix(n);
          flush(false);
        }
        w.end();
        flush(false);
      }
    }
    w.finish();
    flush(true);
    if (failed) f.err("tar: Exiting with failure status due to previous errors\n");
    // Everything tar said goes first: the kubelet keeps no order between stdout and stderr,
    // and kubectl cp stops reading once the archive ends, so what comes after may be lost.
    for (std::string& chunk : stdout_chunks) f.out(std::move(chunk));
    return f.finish(failed && !piped_ ? 2 : 0);
  }

 private:
  ExecRequest req_;
  TarOptions o_;
  uint64_t skip_;
  bool piped_;
};

/// `tar xf -` with the archive on stdin, into the -C directory.
class TarExtract : public FileCommand, private TarReader::Sink {
 public:
  TarExtract(const ExecRequest& req, TarOptions o)
      : req_(req), o_(std::move(o)), f_(req_), reader_(*this) {
    dir_ = PodFiles::absolute(o_.directory.empty() ? "." : o_.directory);
    for (const auto& [dir, name] : o_.operands) wanted_.emplace(name);
  }

  ExecCommand::Output start() override {
    if (!req_.use_stdin) return onStdinClosed();
    return f_.take();
  }

  ExecCommand::Output onStdin(std::string_view data) override {
    if (finished_) return {};
    reader_.feed(data);
    if (reader_.done()) return finish();
    return f_.take();
  }

  ExecCommand::Output onStdinClosed() override {
    if (finished_) return {};
    reader_.close();
    return finish();
  }

 private:
  ExecCommand::Output finish() {
    finished_ = true;
    if (writing_) end();
    bool failed = failed_ || reader_.failed();
    if (!fatal_ && !reader_.fatal()) {
      for (const std::string& name : wanted_) {
        if (found_.contains(name)) continue;
        f_.err("tar: " + name + ": Not found in archive\n");
        failed = true;
      }
      if (failed) f_.err("tar: Exiting with failure status due to previous errors\n");
    }
    return f_.finish(failed ? 2 : 0);
  }

  void error(const std::string& name, const std::string& what, const absl::Status& st) {
    f_.err("tar: " + name + ": " + what + ": " + std::string(st.message()) + "\n");
    failed_ = true;
  }

  bool selected(const std::string& name) {
    if (wanted_.empty()) return true;
    for (const std::string& w : wanted_) {
      std::string_view prefix = w;
      while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
      if (name == prefix || (name.starts_with(prefix) && name[prefix.size()] == '/')) {
        found_.insert(w);
        return true;
      }
    }
    return false;
  }

  void begin(const TarEntry& e) override {
    if (!dir_checked_) {
      // GNU tar changes into the -C directory when the first member needs it.
      dir_checked_ = true;
      auto st = req_.files->stat(dir_);
      if (!st.ok() || st->kind != PodFiles::Kind::kDirectory) {
        error(o_.directory.empty() ? "." : o_.directory, "Cannot open",
              st.ok() ? absl::FailedPreconditionError("Not a directory") : st.status());
        f_.err("tar: Error is not recoverable: exiting now\n");
        fatal_ = true;
        reader_.abort();
        return;
      }
    }
    std::string name = stripLeadingSlashes(e.name, said_, f_);
    std::string trimmed = name;
    while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
    for (size_t pos = 0; pos <= trimmed.size();) {
      size_t end = trimmed.find('/', pos);
      if (end == std::string::npos) end = trimmed.size();
      if (std::string_view(trimmed).substr(pos, end - pos) == "..") {
        f_.err("tar: " + name + ": Member name contains '..'\n");
        failed_ = true;
        return;
      }
      pos = end + 1;
    }
    if (!selected(trimmed)) return;
    if (o_.verbose) f_.out(name + "\n");
    const std::string path = PodFiles::absolute(name.empty() ? "." : name, dir_);
    PodFiles::Meta meta;
    meta.mode = e.mode & (o_.same_permissions ? 07777u : 07755u);
    meta.uid = o_.same_owner ? e.uid : 0;
    meta.gid = o_.same_owner ? e.gid : 0;
    meta.mtime = o_.touch ? static_cast<int64_t>(std::time(nullptr)) : e.mtime;
    PodFiles& files = *req_.files;
    switch (e.type) {
      case TarEntry::Type::kDirectory:
        if (auto st = files.makeDirectory(path, meta); !st.ok()) error(name, "Cannot mkdir", st);
        return;
      case TarEntry::Type::kSymlink:
        if (auto st = files.symlink(path, e.link, meta); !st.ok()) {
          error(name, "Cannot create symlink to '" + e.link + "'", st);
        }
        return;
      case TarEntry::Type::kHardLink: {
        std::string target = stripLeadingSlashes(e.link, said_links_, f_, "hard link targets");
        if (auto st = files.hardLink(path, PodFiles::absolute(target, dir_)); !st.ok()) {
          error(name, "Cannot hard link to '" + e.link + "'", st);
        }
        return;
      }
      case TarEntry::Type::kSpecial:
        error(name, "Cannot mknod", absl::PermissionDeniedError("Operation not permitted"));
        return;
      case TarEntry::Type::kFile:
        break;
    }
    if (e.typeflag != '0' && e.typeflag != '\0' && e.typeflag != '7') {
      f_.err("tar: " + name + ": Unknown file type '" + std::string(1, e.typeflag) +
             "', extracted as normal file\n");
      failed_ = true;
    }
    if (auto st = files.prepareFile(path); !st.ok()) {
      error(name, "Cannot open", st);
      return;
    }
    // The file's own cost first, so that what fits of its data can be kept when the rest
    // does not (a full disk leaves a short file too).
    if (!files.budget().take(PodFiles::kEntryCost)) {
      error(name, "Cannot open", absl::ResourceExhaustedError("No space left on device"));
      return;
    }
    writing_ = true;
    full_ = false;
    name_ = name;
    path_ = path;
    meta_ = meta;
    content_.clear();
    // Room for the whole file when it fits, so the data is not copied as it grows.
    const StorageBudget& budget = files.budget();
    const uint64_t room = budget.limit() > budget.used() ? budget.limit() - budget.used() : 0;
    content_.reserve(static_cast<size_t>(std::min(e.size, room)));
  }

  void data(std::string_view bytes) override {
    if (!writing_ || full_) return;
    const uint64_t got = req_.files->budget().reserve(bytes.size());
    content_.append(bytes.substr(0, static_cast<size_t>(got)));
    if (got < bytes.size()) {
      full_ = true;
      error(name_, "Cannot write", absl::ResourceExhaustedError("No space left on device"));
    }
  }

  void end() override {
    if (!writing_) return;
    writing_ = false;
    if (auto st = req_.files->writeFile(path_, std::move(content_), meta_, true); !st.ok()) {
      error(name_, "Cannot open", st);
    }
    content_ = std::string();
  }

  void message(std::string text) override { f_.err("tar: " + text + "\n"); }

  ExecRequest req_;
  TarOptions o_;
  Frames f_;
  TarReader reader_;
  std::string dir_;
  std::set<std::string> wanted_;
  std::set<std::string> found_;
  bool dir_checked_ = false;
  bool said_ = false;
  bool said_links_ = false;
  bool failed_ = false;
  bool fatal_ = false;
  bool finished_ = false;
  // The file being written: its data is held until it is complete, counted in the budget.
  bool writing_ = false;
  bool full_ = false;
  std::string name_;
  std::string path_;
  PodFiles::Meta meta_;
  std::string content_;
};

// ---- test, cat ------------------------------------------------------------------------------

/// `test -d|-e|-f|-s|-h|-L PATH` (and `test STRING`): coreutils' answers.
class Test : public FileCommand {
 public:
  explicit Test(const ExecRequest& req, std::vector<std::string> args)
      : req_(req), args_(std::move(args)) {}

  ExecCommand::Output start() override {
    Frames f(req_);
    if (args_.empty()) return f.finish(1);
    if (args_.size() == 1) return f.finish(args_[0].empty() ? 1 : 0);
    const std::string& op = args_[0];
    if (args_.size() != 2 || op.size() != 2 || op[0] != '-' ||
        std::string_view("defshL").find(op[1]) == std::string_view::npos) {
      f.err("test: '" + op + "': unary operator expected\n");
      return f.finish(2);
    }
    const bool follow = op != "-h" && op != "-L";
    auto st = req_.files->stat(args_[1], follow);
    bool yes = false;
    if (st.ok()) {
      switch (op[1]) {
        case 'd':
          yes = st->kind == PodFiles::Kind::kDirectory;
          break;
        case 'f':
          yes = st->kind == PodFiles::Kind::kFile;
          break;
        case 's':
          yes = st->size > 0 || st->kind == PodFiles::Kind::kDirectory;
          break;
        case 'h':
        case 'L':
          yes = st->kind == PodFiles::Kind::kSymlink;
          break;
        default:
          yes = true;
      }
    }
    return f.finish(yes ? 0 : 1);
  }

 private:
  ExecRequest req_;
  std::vector<std::string> args_;
};

/// `cat FILE...`.
class Cat : public FileCommand {
 public:
  explicit Cat(const ExecRequest& req, std::vector<std::string> paths)
      : req_(req), paths_(std::move(paths)) {}

  ExecCommand::Output start() override {
    Frames f(req_);
    int code = 0;
    for (const std::string& p : paths_) {
      auto data = req_.files->read(p);
      if (!data.ok()) {
        f.err("cat: " + p + ": " + std::string(data.status().message()) + "\n");
        code = 1;
        continue;
      }
      std::string_view rest = **data;
      while (!rest.empty()) {
        f.out(std::string(rest.substr(0, kChunk)));
        rest.remove_prefix(std::min(kChunk, rest.size()));
      }
    }
    return f.finish(code);
  }

 private:
  ExecRequest req_;
  std::vector<std::string> paths_;
};

std::unique_ptr<FileCommand> tarCommand(const ExecRequest& req,
                                        const std::vector<std::string>& argv,
                                        std::optional<uint64_t> tail_from) {
  TarOptions o;
  if (std::optional<std::string> usage = parseTar(argv, o)) {
    return std::make_unique<Refused>(req, *usage);
  }
  if (o.archive != "-") {
    return std::make_unique<Refused>(
        req, "tar: " + o.archive +
                 ": Cannot open: Operation not supported (this tar reads and writes archives "
                 "on stdin and stdout only)\ntar: Error is not recoverable: exiting now\n");
  }
  if (o.mode == 'c') return std::make_unique<TarCreate>(req, std::move(o), tail_from);
  if (tail_from.has_value()) return nullptr;  // `tar x | tail`: nothing kubectl sends
  return std::make_unique<TarExtract>(req, std::move(o));
}

// One command's words; `tail_from`: its output is piped through `tail -c+N`.
std::unique_ptr<FileCommand> commandFor(const ExecRequest& req,
                                        const std::vector<std::string>& argv,
                                        std::optional<uint64_t> tail_from) {
  if (argv.empty()) return nullptr;
  if (names(argv[0], "tar")) return tarCommand(req, argv, tail_from);
  if (tail_from.has_value()) return nullptr;
  if (names(argv[0], "test")) {
    return std::make_unique<Test>(req, std::vector<std::string>(argv.begin() + 1, argv.end()));
  }
  if (names(argv[0], "cat") && argv.size() > 1 &&
      std::none_of(argv.begin() + 1, argv.end(),
                   [](const std::string& a) { return a.starts_with("-"); })) {
    return std::make_unique<Cat>(req, std::vector<std::string>(argv.begin() + 1, argv.end()));
  }
  return nullptr;
}

}  // namespace

ExecCommand::Output FileCommand::onStdin(std::string_view) { return {}; }
ExecCommand::Output FileCommand::onStdinClosed() { return {}; }

std::unique_ptr<FileCommand> FileCommand::match(const ExecRequest& request) {
  if (request.files == nullptr || request.command.empty()) return nullptr;
  const std::vector<std::string>& cmd = request.command;
  if ((names(cmd[0], "sh") || names(cmd[0], "bash")) && cmd.size() == 3 && cmd[1] == "-c") {
    std::optional<std::vector<std::string>> words = shellWords(cmd[2]);
    if (!words.has_value()) return nullptr;
    // `COMMAND` or `COMMAND | tail -c+N` (also spelled `tail -c +N`).
    auto bar = std::find(words->begin(), words->end(), "|");
    std::vector<std::string> argv(words->begin(), bar);
    if (bar == words->end()) return commandFor(request, argv, std::nullopt);
    std::vector<std::string> tail(bar + 1, words->end());
    std::string from;
    if (tail.size() == 2 && names(tail[0], "tail") && tail[1].starts_with("-c+")) {
      from = tail[1].substr(3);
    } else if (tail.size() == 3 && names(tail[0], "tail") && tail[1] == "-c" &&
               tail[2].starts_with("+")) {
      from = tail[2].substr(1);
    }
    uint64_t n = 0;
    if (from.empty() || !absl::SimpleAtoi(from, &n)) return nullptr;
    return commandFor(request, argv, n);
  }
  return commandFor(request, cmd, std::nullopt);
}

}  // namespace kubehub::standin
