#include "tests/standin/pod_files.h"

#include <algorithm>
#include <ctime>
#include <functional>

#include "absl/strings/numbers.h"

namespace kubehub::standin {
namespace {

absl::Status noEntry() { return absl::NotFoundError("No such file or directory"); }
absl::Status notDirectory() { return absl::FailedPreconditionError("Not a directory"); }
absl::Status isDirectory() { return absl::FailedPreconditionError("Is a directory"); }
absl::Status exists() { return absl::AlreadyExistsError("File exists"); }
absl::Status noSpace() { return absl::ResourceExhaustedError("No space left on device"); }
absl::Status tooLong() { return absl::InvalidArgumentError("File name too long"); }
absl::Status tooManyLinks() {
  return absl::FailedPreconditionError("Too many levels of symbolic links");
}
absl::Status notPermitted() { return absl::PermissionDeniedError("Operation not permitted"); }

int64_t now() { return static_cast<int64_t>(std::time(nullptr)); }

// The components of an absolute, clean path ("/" has none).
std::vector<std::string> components(std::string_view clean) {
  std::vector<std::string> out;
  size_t pos = 1;
  while (pos < clean.size()) {
    size_t end = clean.find('/', pos);
    if (end == std::string_view::npos) end = clean.size();
    out.emplace_back(clean.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// Components of `path` as the kernel would walk it, refusing what it would call too long.
absl::StatusOr<std::vector<std::string>> split(std::string_view path) {
  if (path.empty()) return noEntry();
  if (path.size() > PodFiles::kPathMax) return tooLong();
  std::vector<std::string> parts = components(PodFiles::absolute(path));
  for (const std::string& p : parts) {
    if (p.size() > PodFiles::kNameMax) return tooLong();
  }
  return parts;
}

const char kOsRelease[] =
    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
    "NAME=\"Debian GNU/Linux\"\n"
    "VERSION_ID=\"12\"\n"
    "VERSION=\"12 (bookworm)\"\n"
    "VERSION_CODENAME=bookworm\n"
    "ID=debian\n";

}  // namespace

// ---- budget ---------------------------------------------------------------------------------

uint64_t StorageBudget::reserve(uint64_t n) {
  uint64_t cur = used_.load();
  while (true) {
    const uint64_t limit = limit_.load();
    const uint64_t got = std::min(n, cur >= limit ? 0 : limit - cur);
    if (got == 0) return 0;
    if (used_.compare_exchange_weak(cur, cur + got)) return got;
  }
}

bool StorageBudget::take(uint64_t n) {
  uint64_t cur = used_.load();
  while (true) {
    const uint64_t limit = limit_.load();
    if (cur > limit || limit - cur < n) return false;
    if (used_.compare_exchange_weak(cur, cur + n)) return true;
  }
}

// ---- one container's files ------------------------------------------------------------------

struct PodFiles::Node {
  Kind kind = Kind::kDirectory;
  Meta meta;
  std::shared_ptr<const std::string> data;  // regular files
  std::string target;                       // symbolic links
  std::map<std::string, std::unique_ptr<Node>> children;
  uint64_t charged = 0;  // bytes of the budget this node holds (its children hold their own)
};

/// Where a name goes: the directory holding it and the last component ("" for "/" itself).
struct PodFiles::Place {
  Node* dir = nullptr;
  std::string name;
};

PodFiles::PodFiles(std::shared_ptr<StorageBudget> budget)
    : budget_(std::move(budget)), root_(std::make_unique<Node>()) {
  root_->meta = Meta{0755, 0, 0, now()};
}

PodFiles::~PodFiles() { drop(*root_); }

std::string PodFiles::absolute(std::string_view path, std::string_view cwd) {
  std::string joined =
      path.starts_with('/') ? std::string(path) : std::string(cwd) + "/" + std::string(path);
  std::vector<std::string_view> parts;
  std::string_view rest = joined;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (std::string_view p : parts) {
    out += '/';
    out += p;
  }
  return out.empty() ? "/" : out;
}

void PodFiles::drop(const Node& node) const {
  budget_->release(node.charged);
  for (const auto& [name, child] : node.children) drop(*child);
}

absl::StatusOr<PodFiles::Node*> PodFiles::resolve(std::vector<std::string> parts, bool follow_last,
                                                  bool make_parents) const {
  int hops = 0;
  Node* cur = root_.get();
  size_t i = 0;
  while (i < parts.size()) {
    if (cur->kind != Kind::kDirectory) return notDirectory();
    const bool last = i + 1 == parts.size();
    auto it = cur->children.find(parts[i]);
    if (it == cur->children.end()) {
      if (!make_parents) return noEntry();
      if (!budget_->take(kEntryCost)) return noSpace();
      auto dir = std::make_unique<Node>();
      dir->meta = Meta{0755, 0, 0, now()};
      dir->charged = kEntryCost;
      cur = cur->children.emplace(parts[i], std::move(dir)).first->second.get();
      ++i;
      continue;
    }
    Node* n = it->second.get();
    if (n->kind == Kind::kSymlink && (!last || follow_last)) {
      if (++hops > kMaxSymlinkHops) return tooManyLinks();
      // Continue from the root with the link's target in its place; ".." in the target is
      // taken lexically, which is what the kernel does unless a link sits under the "..".
      std::string next;
      if (!n->target.starts_with('/')) {
        for (size_t j = 0; j < i; ++j) next += "/" + parts[j];
      }
      next += "/" + n->target;
      for (size_t j = i + 1; j < parts.size(); ++j) next += "/" + parts[j];
      std::string clean = absolute(next);
      // Every node's own path stays within PATH_MAX, which bounds how deep the tree can get.
      if (clean.size() > kPathMax) return tooLong();
      parts = components(clean);
      cur = root_.get();
      i = 0;
      continue;
    }
    cur = n;
    ++i;
  }
  return cur;
}

absl::StatusOr<PodFiles::Place> PodFiles::place(std::string_view path, bool make_parents) const {
  auto parts = split(path);
  if (!parts.ok()) return parts.status();
  if (parts->empty()) return Place{};
  std::string name = std::move(parts->back());
  parts->pop_back();
  auto dir = resolve(std::move(*parts), true, make_parents);
  if (!dir.ok()) return dir.status();
  if ((*dir)->kind != Kind::kDirectory) return notDirectory();
  return Place{*dir, std::move(name)};
}

absl::Status PodFiles::install(const Place& at, std::unique_ptr<Node> node) {
  if (at.dir == nullptr) return exists();  // "/" itself
  auto it = at.dir->children.find(at.name);
  if (it == at.dir->children.end()) {
    at.dir->children.emplace(at.name, std::move(node));
    return absl::OkStatus();
  }
  if (it->second->kind == Kind::kDirectory && !it->second->children.empty()) return exists();
  drop(*it->second);
  it->second = std::move(node);
  return absl::OkStatus();
}

absl::StatusOr<PodFiles::Stat> PodFiles::stat(std::string_view path, bool follow) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto parts = split(path);
  if (!parts.ok()) return parts.status();
  auto node = resolve(std::move(*parts), follow, false);
  if (!node.ok()) return node.status();
  const Node& n = **node;
  Stat s{n.kind, n.meta, 0, n.target};
  if (n.kind == Kind::kFile) s.size = n.data ? n.data->size() : 0;
  if (n.kind == Kind::kSymlink) s.size = n.target.size();
  return s;
}

absl::StatusOr<std::shared_ptr<const std::string>> PodFiles::read(std::string_view path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto parts = split(path);
  if (!parts.ok()) return parts.status();
  auto node = resolve(std::move(*parts), true, false);
  if (!node.ok()) return node.status();
  if ((*node)->kind == Kind::kDirectory) return isDirectory();
  if (!(*node)->data) return std::make_shared<const std::string>();
  return (*node)->data;
}

absl::StatusOr<std::vector<PodFiles::TreeEntry>> PodFiles::tree(std::string_view path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto parts = split(path);
  if (!parts.ok()) return parts.status();
  auto top = resolve(std::move(*parts), false, false);
  if (!top.ok()) return top.status();
  std::vector<TreeEntry> out;
  std::function<void(const Node&, const std::string&)> walk = [&](const Node& n,
                                                                  const std::string& rel) {
    TreeEntry e;
    e.relative = rel;
    e.stat = Stat{n.kind, n.meta, 0, n.target};
    if (n.kind == Kind::kFile) {
      e.data = n.data ? n.data : std::make_shared<const std::string>();
      e.stat.size = e.data->size();
    }
    out.push_back(std::move(e));
    for (const auto& [name, child] : n.children) {
      walk(*child, rel.empty() ? name : rel + "/" + name);
    }
  };
  walk(**top, "");
  return out;
}

absl::Status PodFiles::makeDirectory(std::string_view path, const Meta& meta) {
  std::lock_guard<std::mutex> lock(mu_);
  auto at = place(path, true);
  if (!at.ok()) return at.status();
  if (at->dir == nullptr) {
    root_->meta = meta;
    return absl::OkStatus();
  }
  auto it = at->dir->children.find(at->name);
  if (it != at->dir->children.end()) {
    Node* existing = it->second.get();
    if (existing->kind == Kind::kSymlink) {
      // mkdir over a link to a directory leaves the link (tar checks with stat).
      auto target = resolve(components(absolute(path)), true, false);
      if (target.ok() && (*target)->kind == Kind::kDirectory) return absl::OkStatus();
    }
    if (existing->kind == Kind::kDirectory) {
      existing->meta = meta;
      return absl::OkStatus();
    }
  }
  if (!budget_->take(kEntryCost)) return noSpace();
  auto node = std::make_unique<Node>();
  node->meta = meta;
  node->charged = kEntryCost;
  absl::Status st = install(*at, std::move(node));
  if (!st.ok()) budget_->release(kEntryCost);
  return st;
}

absl::Status PodFiles::prepareFile(std::string_view path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto at = place(path, true);
  if (!at.ok()) return at.status();
  if (at->dir == nullptr) return isDirectory();
  auto it = at->dir->children.find(at->name);
  if (it == at->dir->children.end()) return absl::OkStatus();
  if (it->second->kind == Kind::kDirectory && !it->second->children.empty()) return exists();
  // tar unlinks what is in the way before it writes, so its space is free for the new data.
  drop(*it->second);
  at->dir->children.erase(it);
  return absl::OkStatus();
}

absl::Status PodFiles::writeFile(std::string_view path, std::string content, const Meta& meta,
                                 bool reserved) {
  const uint64_t size = content.size();
  uint64_t held = reserved ? size + kEntryCost : 0;
  auto fail = [&](absl::Status st) {
    budget_->release(held);
    return st;
  };
  std::lock_guard<std::mutex> lock(mu_);
  auto at = place(path, true);
  if (!at.ok()) return fail(at.status());
  if (at->dir == nullptr) return fail(isDirectory());
  // Like tar, unlink what is in the way first: its space is free for the new data.
  if (auto it = at->dir->children.find(at->name); it != at->dir->children.end()) {
    if (it->second->kind == Kind::kDirectory && !it->second->children.empty()) {
      return fail(exists());
    }
    drop(*it->second);
    at->dir->children.erase(it);
  }
  if (!reserved) {
    if (!budget_->take(size)) return fail(noSpace());
    held = size;
    if (!budget_->take(kEntryCost)) return fail(noSpace());
    held += kEntryCost;
  }
  auto node = std::make_unique<Node>();
  node->kind = Kind::kFile;
  node->meta = meta;
  node->data = std::make_shared<const std::string>(std::move(content));
  node->charged = size + kEntryCost;
  absl::Status st = install(*at, std::move(node));
  if (!st.ok()) return fail(st);
  return st;
}

absl::Status PodFiles::symlink(std::string_view path, std::string target, const Meta& meta) {
  const uint64_t cost = kEntryCost + target.size();
  if (!budget_->take(cost)) return noSpace();
  std::lock_guard<std::mutex> lock(mu_);
  auto at = place(path, true);
  absl::Status st = at.status();
  if (st.ok()) {
    auto node = std::make_unique<Node>();
    node->kind = Kind::kSymlink;
    node->meta = meta;
    node->meta.mode = 0777;
    node->target = std::move(target);
    node->charged = cost;
    st = install(*at, std::move(node));
  }
  if (!st.ok()) budget_->release(cost);
  return st;
}

absl::Status PodFiles::hardLink(std::string_view path, std::string_view existing) {
  std::lock_guard<std::mutex> lock(mu_);
  auto parts = split(existing);
  if (!parts.ok()) return parts.status();
  auto source = resolve(std::move(*parts), false, false);
  if (!source.ok()) return source.status();
  const Node& src = **source;
  if (src.kind == Kind::kDirectory) return notPermitted();
  const uint64_t cost = kEntryCost + (src.kind == Kind::kFile ? (src.data ? src.data->size() : 0)
                                                              : src.target.size());
  if (!budget_->take(cost)) return noSpace();
  auto node = std::make_unique<Node>();
  node->kind = src.kind;
  node->meta = src.meta;
  node->data = src.data;
  node->target = src.target;
  node->charged = cost;
  auto at = place(path, true);
  absl::Status st = at.status();
  if (st.ok()) st = install(*at, std::move(node));
  if (!st.ok()) budget_->release(cost);
  return st;
}

// ---- every container ------------------------------------------------------------------------

std::shared_ptr<PodFiles> PodFileSystems::open(const Json& pod, const std::string& container) {
  std::string ns, name, uid;
  uint64_t limit = kDefaultLimit;
  auto meta = pod.find("metadata");
  if (meta != pod.end() && meta->is_object()) {
    ns = meta->value("namespace", std::string());
    name = meta->value("name", std::string());
    uid = meta->value("uid", std::string());
    auto ann = meta->find("annotations");
    if (ann != meta->end() && ann->is_object()) {
      auto it = ann->find(kLimitAnnotation);
      uint64_t n = 0;
      if (it != ann->end() && it->is_string() && absl::SimpleAtoi(it->get<std::string>(), &n)) {
        limit = n;
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  Pod& p = pods_[ns + "/" + name];
  if (p.budget == nullptr || p.uid != uid) {
    p = Pod{uid, std::make_shared<StorageBudget>(limit), {}};
  }
  p.budget->setLimit(limit);
  std::shared_ptr<PodFiles>& files = p.containers[container];
  if (files == nullptr) {
    files = std::make_shared<PodFiles>(p.budget);
    seed(*files, name);
  }
  return files;
}

void PodFileSystems::seed(PodFiles& files, const std::string& pod_name) {
  const int64_t t = now();
  // Best effort: a budget smaller than the seed leaves some of it out.
  for (auto [path, mode] :
       {std::pair{"/etc", 0755}, std::pair{"/root", 0700}, std::pair{"/tmp", 01777},
        std::pair{"/usr", 0755}, std::pair{"/var", 0755}, std::pair{"/var/tmp", 01777}}) {
    (void)files.makeDirectory(path, {static_cast<uint32_t>(mode), 0, 0, t});
  }
  (void)files.writeFile("/etc/hostname", pod_name + "\n", {0644, 0, 0, t});
  (void)files.writeFile("/etc/os-release", kOsRelease, {0644, 0, 0, t});
}

}  // namespace kubehub::standin
