#pragma once
/// The stand-in's container file systems, in memory: what `kubectl cp` writes with `tar xf -`,
/// reads with `tar cf -` and probes with `test -d`. One PodFiles per container, made on the
/// first exec into it and seeded with a few files (/etc/hostname, /etc/os-release); the
/// containers of a pod share a StorageBudget (its ephemeral storage), so a pod holds at most
/// that many bytes however they arrive. Thread-safe: execs into one pod may run at once.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/standin/json_types.h"

namespace kubehub::standin {

/// Bytes the containers of one pod may store between them. Lock-free.
class StorageBudget {
 public:
  explicit StorageBudget(uint64_t limit) : limit_(limit) {}
  /// Takes up to `n` bytes; returns how many it got (less when the budget runs out).
  uint64_t reserve(uint64_t n);
  /// Takes all `n` bytes, or none.
  bool take(uint64_t n);
  void release(uint64_t n) { used_.fetch_sub(n); }
  void setLimit(uint64_t limit) { limit_.store(limit); }
  uint64_t used() const { return used_.load(); }
  uint64_t limit() const { return limit_.load(); }

 private:
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> limit_;
};

/// One container's file system: directories, regular files and symbolic links under "/",
/// owners and modes kept, paths resolved like the kernel does (symbolic links followed,
/// PATH_MAX and NAME_MAX). Errors are statuses whose message is the errno text a real call
/// would give ("No such file or directory"), for the commands to print.
class PodFiles {
 public:
  enum class Kind { kDirectory, kFile, kSymlink };
  struct Meta {
    uint32_t mode = 0644;
    uint32_t uid = 0;
    uint32_t gid = 0;
    int64_t mtime = 0;
  };
  struct Stat {
    Kind kind = Kind::kFile;
    Meta meta;
    uint64_t size = 0;
    std::string target;  // symbolic links
  };
  /// A member of tree(): its path below the walked one ("" for that one).
  struct TreeEntry {
    std::string relative;
    Stat stat;
    std::shared_ptr<const std::string> data;  // regular files
  };

  /// What a directory, file or link costs the budget besides its data: without it a stream
  /// of empty files could grow memory without bound.
  static constexpr uint64_t kEntryCost = 512;
  static constexpr size_t kPathMax = 4095;
  static constexpr size_t kNameMax = 255;
  static constexpr int kMaxSymlinkHops = 40;

  explicit PodFiles(std::shared_ptr<StorageBudget> budget);
  ~PodFiles();
  PodFiles(const PodFiles&) = delete;
  PodFiles& operator=(const PodFiles&) = delete;

  /// `follow`: a symbolic link in the last place is followed (stat) or not (lstat).
  absl::StatusOr<Stat> stat(std::string_view path, bool follow = true) const;
  /// A regular file's content.
  absl::StatusOr<std::shared_ptr<const std::string>> read(std::string_view path) const;
  /// The subtree at `path` (not followed if it is a link), parents before children, names in
  /// byte order. Contents are shared, not copied: later writes do not change them.
  absl::StatusOr<std::vector<TreeEntry>> tree(std::string_view path) const;

  /// Makes a directory and missing parents (0755); an existing one takes the new meta, an
  /// existing file or link in its place is replaced.
  absl::Status makeDirectory(std::string_view path, const Meta& meta);
  /// Makes missing parents and checks that a file could be created at `path`, so that a
  /// command can say so before it reads the data.
  absl::Status prepareFile(std::string_view path);
  /// Creates or replaces a regular file (what is in the way is unlinked first, as tar does).
  /// `reserved`: the caller took content.size() + kEntryCost bytes of the budget already (as a
  /// command writing a file as it arrives does); otherwise they are taken here, all or nothing.
  /// On failure those bytes go back.
  absl::Status writeFile(std::string_view path, std::string content, const Meta& meta,
                         bool reserved = false);
  absl::Status symlink(std::string_view path, std::string target, const Meta& meta);
  /// A second name for the regular file `existing` (its content counts again).
  absl::Status hardLink(std::string_view path, std::string_view existing);

  StorageBudget& budget() { return *budget_; }

  /// An absolute, lexically clean path: relative ones start at `cwd`; "." and ".." resolved,
  /// repeated slashes dropped.
  static std::string absolute(std::string_view path, std::string_view cwd = "/");

 private:
  struct Node;
  struct Place;

  absl::StatusOr<Node*> resolve(std::vector<std::string> parts, bool follow_last,
                                bool make_parents) const;
  absl::StatusOr<Place> place(std::string_view path, bool make_parents) const;
  absl::Status install(const Place& at, std::unique_ptr<Node> node);
  void drop(const Node& node) const;

  std::shared_ptr<StorageBudget> budget_;
  mutable std::mutex mu_;
  std::unique_ptr<Node> root_;
};

/// Every container's PodFiles, made and seeded on first use. A pod recreated under the same
/// name (a new uid) starts afresh. Thread-safe.
class PodFileSystems {
 public:
  static constexpr uint64_t kDefaultLimit = uint64_t{256} << 20;
  /// A pod annotated with this (bytes) gets that budget instead of kDefaultLimit.
  static constexpr const char* kLimitAnnotation = "standin.kubehub.io/files-limit-bytes";

  /// The file system of `container` in `pod` (a pod object).
  std::shared_ptr<PodFiles> open(const Json& pod, const std::string& container);

  /// The few files every container starts with.
  static void seed(PodFiles& files, const std::string& pod_name);

 private:
  struct Pod {
    std::string uid;
    std::shared_ptr<StorageBudget> budget;
    std::map<std::string, std::shared_ptr<PodFiles>> containers;
  };
  std::mutex mu_;
  std::map<std::string, Pod> pods_;  // by "namespace/name"
};

}  // namespace kubehub::standin
