#include "metaserver/store/change_feed.h"

#include <poll.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/log/log.h"
#include "metaserver/store/pg.h"

namespace kubehub::metaserver {

absl::StatusOr<ChangeFeed::Generations> ChangeFeed::parse(std::string_view text) {
  Generations out;
  if (text.empty()) return out;
  for (absl::string_view piece : absl::StrSplit(absl::string_view(text.data(), text.size()), ',')) {
    std::string item(piece);
    size_t colon = item.find(':');
    int64_t generation = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(item.substr(colon + 1), &generation) || generation < 0 ||
        out.size() >= 64) {
      return absl::InvalidArgumentError(
          "since must be FEED:GENERATION,... as a previous answer's \"since\" gave it");
    }
    out[item.substr(0, colon)] = generation;
  }
  return out;
}

std::string ChangeFeed::format(const Generations& g) {
  std::string out;
  for (const auto& [feed, generation] : g) {
    if (!out.empty()) out += ',';
    out += feed + ":" + std::to_string(generation);
  }
  return out;
}

bool ChangeFeed::differs(const Generations& now, const Generations& since) {
  for (const auto& [feed, generation] : now) {
    auto it = since.find(feed);
    if (it == since.end() || it->second != generation) return true;
  }
  return false;
}

ChangeFeed::Generations ChangeFeed::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

bool ChangeFeed::known() const {
  std::lock_guard lock(mu_);
  return known_;
}

size_t ChangeFeed::waiting() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

void ChangeFeed::update(Generations g) {
  std::vector<Waiter> ready;
  {
    std::lock_guard lock(mu_);
    current_ = std::move(g);
    known_ = true;
    auto now = std::chrono::steady_clock::now();
    std::vector<Waiter> keep;
    for (auto& w : waiters_) {
      if (w.deadline < now) continue;
      (differs(current_, w.since) ? ready : keep).push_back(std::move(w));
    }
    waiters_.swap(keep);
    g = current_;
  }
  for (auto& w : ready) w.ready(g);
}

void ChangeFeed::invalidate() {
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(mu_);
    known_ = false;
    current_.clear();
    waiters.swap(waiters_);
  }
  for (auto& w : waiters) w.ready({});
}

bool ChangeFeed::wait(const Generations& since, std::chrono::steady_clock::time_point deadline,
                      Ready ready) {
  Generations now;
  {
    std::lock_guard lock(mu_);
    if (known_ && !differs(current_, since)) {
      auto t = std::chrono::steady_clock::now();
      std::erase_if(waiters_, [t](const Waiter& w) { return w.deadline < t; });
      waiters_.push_back(Waiter{since, deadline, std::move(ready)});
      return false;
    }
    now = current_;
  }
  ready(now);
  return true;
}

ChangeListener::ChangeListener(std::string conninfo, std::shared_ptr<ChangeFeed> feed,
                               std::chrono::milliseconds reread)
    : conninfo_(std::move(conninfo)), feed_(std::move(feed)), reread_(reread) {}

ChangeListener::~ChangeListener() { stop(); }

void ChangeListener::start() {
  thread_ = std::thread([this] { run(); });
}

void ChangeListener::stop() {
  stopping_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

namespace {

absl::StatusOr<ChangeFeed::Generations> readGenerations(PgConnection& c) {
  auto r = c.exec("SELECT feed, generation FROM change_feeds");
  if (!r.ok()) return r.status();
  ChangeFeed::Generations g;
  for (int i = 0; i < r->rows(); ++i) g[r->str(i, 0)] = r->int64(i, 1);
  return g;
}

}  // namespace

absl::Status ChangeListener::listenOnce() {
  auto conn = PgConnection::connect(conninfo_);
  if (!conn.ok()) return conn.status();
  PgConnection& c = **conn;
  if (auto s = c.run("LISTEN kubehub_changes"); !s.ok()) return s;
  // Read after LISTEN: a change committed in between is either in what we read or notified.
  auto g = readGenerations(c);
  if (!g.ok()) return g.status();
  feed_->update(std::move(*g));
  if (failing_) log::info("change feed listener has the database again");
  failing_ = false;
  auto next_reread = std::chrono::steady_clock::now() + reread_;
  while (!stopping_) {
    pollfd pfd{c.socket(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, 200);
    bool changed = false;
    if (ready > 0) {
      auto notes = c.takeNotifications();
      if (!notes.ok()) return notes.status();
      notifications_ += notes->size();
      changed = !notes->empty();
    }
    auto now = std::chrono::steady_clock::now();
    if (changed || now >= next_reread) {
      auto fresh = readGenerations(c);
      if (!fresh.ok()) return fresh.status();
      feed_->update(std::move(*fresh));
      next_reread = now + reread_;
    }
  }
  return absl::OkStatus();
}

void ChangeListener::run() {
  while (!stopping_) {
    absl::Status s = listenOnce();
    if (stopping_) break;
    feed_->invalidate();
    if (!failing_) {
      log::warn("change feed listener lost the database; hubs poll until it is back",
                {{"error", s.message()}});
    }
    failing_ = true;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_.load(); });
  }
}

}  // namespace kubehub::metaserver
