#pragma once
/// TLS material that changes while the process runs. A source hands every new connection the
/// context in force (`current()`); connections already open keep the one they started with, so
/// a rotation never drops them. A source built from PEM files rebuilds its context when their
/// contents change (a Kubernetes Secret update, cert-manager renewing, an operator's copy); a
/// source fed from memory is replaced by its owner (a certificate enrolled with the metaserver).
/// Thread-safe.

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::net {

class TlsSource {
 public:
  using Context = std::shared_ptr<boost::asio::ssl::context>;
  using Build = std::function<absl::StatusOr<Context>()>;

  /// Builds the context from `files` with `build` now (its error is a start-up error) and again
  /// whenever `reloadIfChanged` finds their contents changed. `name` is for logs and metrics
  /// ("users", "tunnel", "peer server", ...).
  static absl::StatusOr<std::shared_ptr<TlsSource>> fromFiles(std::string name,
                                                              std::vector<std::string> files,
                                                              Build build);
  /// A source whose context changes only through `replace` (or never).
  static std::shared_ptr<TlsSource> fixed(std::string name, Context context);

  /// The context a new connection must use. Never null for a source that built once.
  Context current() const;
  /// Replaces the context (material from memory, e.g. a renewed enrolled certificate).
  void replace(Context context);

  /// Re-reads the files; when their contents differ from those of the context in force, builds
  /// a new one. Returns true when the context was replaced. When the new files do not make a
  /// context (e.g. a certificate written before its key), the old one stays in force and the
  /// error is returned; the same contents are not tried again until they change.
  absl::StatusOr<bool> reloadIfChanged();
  /// Builds again from the files whether or not they changed (another input of the build, such
  /// as a CA fetched from elsewhere, did). On failure the old context stays in force.
  absl::Status rebuild();

  const std::string& name() const { return name_; }
  /// Incremented by every replacement (1 after the first build).
  uint64_t generation() const { return generation_.load(); }
  /// notAfter of the certificate the current context presents, in seconds since the epoch; 0
  /// when it presents none.
  int64_t notAfter() const { return not_after_.load(); }
  const std::vector<std::string>& files() const { return files_; }

 private:
  TlsSource(std::string name, std::vector<std::string> files, Build build)
      : name_(std::move(name)), files_(std::move(files)), build_(std::move(build)) {}

  const std::string name_;
  const std::vector<std::string> files_;
  const Build build_;
  mutable std::mutex mu_;
  Context context_;
  std::string fingerprint_;         // of the files behind context_
  std::string failed_fingerprint_;  // of files that did not build; not retried until changed
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> not_after_{0};
};

/// notAfter (seconds since the epoch) of the certificate `context` presents; 0 when none.
int64_t contextNotAfter(boost::asio::ssl::context& context);

/// Polls file-backed sources every `interval` on its own thread and logs each reload (and each
/// failed one, once per content). `on_reload(source, ok)` is called after every attempt that
/// found changed files (for metrics). Stops on destruction.
class TlsReloader {
 public:
  using OnReload = std::function<void(const TlsSource&, bool ok)>;
  TlsReloader(std::vector<std::shared_ptr<TlsSource>> sources, std::chrono::milliseconds interval,
              OnReload on_reload = {});
  ~TlsReloader();
  TlsReloader(const TlsReloader&) = delete;
  TlsReloader& operator=(const TlsReloader&) = delete;

  /// One pass now (tests; also run at every interval).
  void pollOnce();

 private:
  void run();

  std::vector<std::shared_ptr<TlsSource>> sources_;
  std::chrono::milliseconds interval_;
  OnReload on_reload_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace kubehub::net
