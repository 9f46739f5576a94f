#include "common/net/tls_source.h"

#include <openssl/asn1.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <ctime>
#include <fstream>
#include <sstream>

#include "common/log/log.h"

namespace kubehub::net {
namespace {

/// The files' contents, length-prefixed so that moving bytes between files changes the result.
/// Certificates and keys are small; keeping the bytes beats hashing them.
absl::StatusOr<std::string> readAll(const std::vector<std::string>& files) {
  std::string out;
  for (const std::string& path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in.good()) return absl::NotFoundError("\"" + path + "\" cannot be read");
    std::ostringstream body;
    body << in.rdbuf();
    std::string bytes = body.str();
    out += std::to_string(bytes.size()) + ":" + bytes;
  }
  return out;
}

}  // namespace

int64_t contextNotAfter(boost::asio::ssl::context& context) {
  X509* cert = SSL_CTX_get0_certificate(context.native_handle());
  if (cert == nullptr) return 0;
  const ASN1_TIME* t = X509_get0_notAfter(cert);
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

absl::StatusOr<std::shared_ptr<TlsSource>> TlsSource::fromFiles(std::string name,
                                                                std::vector<std::string> files,
                                                                Build build) {
  std::shared_ptr<TlsSource> source(
      new TlsSource(std::move(name), std::move(files), std::move(build)));
  auto contents = readAll(source->files_);
  if (!contents.ok()) return contents.status();
  auto context = source->build_();
  if (!context.ok()) return context.status();
  source->fingerprint_ = std::move(*contents);
  source->replace(std::move(*context));
  return source;
}

std::shared_ptr<TlsSource> TlsSource::fixed(std::string name, Context context) {
  std::shared_ptr<TlsSource> source(new TlsSource(std::move(name), {}, {}));
  if (context) source->replace(std::move(context));
  return source;
}

TlsSource::Context TlsSource::current() const {
  std::lock_guard lock(mu_);
  return context_;
}

void TlsSource::replace(Context context) {
  int64_t not_after = context ? contextNotAfter(*context) : 0;
  {
    std::lock_guard lock(mu_);
    context_ = std::move(context);
  }
  not_after_.store(not_after);
  generation_.fetch_add(1);
}

absl::StatusOr<bool> TlsSource::reloadIfChanged() {
  if (files_.empty() || !build_) return false;
  auto contents = readAll(files_);
  if (!contents.ok()) return contents.status();
  {
    std::lock_guard lock(mu_);
    if (*contents == fingerprint_ || *contents == failed_fingerprint_) return false;
  }
  auto context = build_();
  std::lock_guard lock(mu_);
  if (!context.ok()) {
    failed_fingerprint_ = std::move(*contents);
    return context.status();
  }
  fingerprint_ = std::move(*contents);
  failed_fingerprint_.clear();
  context_ = std::move(*context);
  not_after_.store(contextNotAfter(*context_));
  generation_.fetch_add(1);
  return true;
}

absl::Status TlsSource::rebuild() {
  if (files_.empty() || !build_) return absl::OkStatus();
  auto contents = readAll(files_);
  if (!contents.ok()) return contents.status();
  auto context = build_();
  if (!context.ok()) return context.status();
  std::lock_guard lock(mu_);
  fingerprint_ = std::move(*contents);
  failed_fingerprint_.clear();
  context_ = std::move(*context);
  not_after_.store(contextNotAfter(*context_));
  generation_.fetch_add(1);
  return absl::OkStatus();
}

TlsReloader::TlsReloader(std::vector<std::shared_ptr<TlsSource>> sources,
                         std::chrono::milliseconds interval, OnReload on_reload)
    : sources_(std::move(sources)), interval_(interval), on_reload_(std::move(on_reload)) {
  if (interval_.count() > 0 && !sources_.empty()) thread_ = std::thread([this] { run(); });
}

TlsReloader::~TlsReloader() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TlsReloader::pollOnce() {
  for (const auto& source : sources_) {
    uint64_t before = source->generation();
    auto reloaded = source->reloadIfChanged();
    if (!reloaded.ok()) {
      // Unreadable files keep failing every pass; say so at debug, and once per new content
      // that does not build (reloadIfChanged returns that error once).
      if (absl::IsNotFound(reloaded.status())) {
        log::debug("TLS files unreadable; keeping the certificate in force",
                   {{"source", source->name()}, {"error", reloaded.status().message()}});
        continue;
      }
      log::warn("TLS files changed but do not make a usable certificate; keeping the one in force",
                {{"source", source->name()}, {"error", reloaded.status().message()}});
      if (on_reload_) on_reload_(*source, false);
      continue;
    }
    if (!*reloaded) continue;
    log::info("TLS certificate reloaded; new connections use it, open ones keep theirs",
              {{"source", source->name()},
               {"generation", source->generation()},
               {"previous_generation", before},
               {"not_after", source->notAfter()}});
    if (on_reload_) on_reload_(*source, true);
  }
}

void TlsReloader::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (cv_.wait_for(lock, interval_, [this] { return stop_; })) break;
    lock.unlock();
    pollOnce();
    lock.lock();
  }
}

}  // namespace kubehub::net
