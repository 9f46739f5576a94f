#include "common/config/secret_file.h"

#include <sys/stat.h>

#include <fstream>

#include "common/log/log.h"

namespace kubehub::config {

absl::StatusOr<std::shared_ptr<SecretFile>> SecretFile::open(std::string path, std::string flag) {
  std::shared_ptr<SecretFile> f(new SecretFile(std::move(path), std::move(flag)));
  std::lock_guard lock(f->mu_);
  if (auto s = f->load(); !s.ok()) return s;
  f->changes_ = 0;
  return f;
}

absl::Status SecretFile::load() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    return absl::NotFoundError(flag_ + " \"" + path_ + "\" cannot be read");
  }
  std::ifstream in(path_);
  std::string line;
  if (!in.good() || !std::getline(in, line)) {
    return absl::NotFoundError(flag_ + " \"" + path_ + "\" cannot be read");
  }
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
    line.pop_back();
  }
  if (line.empty()) return absl::InvalidArgumentError(flag_ + " \"" + path_ + "\" is empty");
  if (line != value_) ++changes_;
  value_ = std::move(line);
  inode_ = st.st_ino;
  size_ = st.st_size;
  mtime_ns_ = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return absl::OkStatus();
}

std::string SecretFile::value() {
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (now < next_check_) return value_;
  next_check_ = now + recheck;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return value_;
  int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (st.st_ino == inode_ && st.st_size == size_ && mtime_ns == mtime_ns_) return value_;
  std::string before = value_;
  if (auto s = load(); !s.ok()) {
    if (mtime_ns == failed_mtime_ns_) return value_;
    failed_mtime_ns_ = mtime_ns;
    log::warn("secret file changed but cannot be used; keeping the value in force",
              {{"flag", flag_}, {"error", s.message()}});
    return value_;
  }
  if (value_ != before) log::info("secret file changed; using the new value", {{"flag", flag_}});
  return value_;
}

int SecretFile::changes() const {
  std::lock_guard lock(mu_);
  return changes_;
}

}  // namespace kubehub::config
