// kubehub-bench-client: the measuring client of bench/kubehub_bench/. Synchronous, one TLS
// keep-alive connection per thread, timestamps taken around each exchange, raw samples written
// to a file so the script can compute percentiles and draw distributions. Modes:
//
//   requests  back-to-back (or paced) GETs of one URL: latency of one keep-alive connection;
//             with --interval-ms, a probe that reconnects when the server goes away.
//   crud      create / update / delete of a ConfigMap in a loop: latency per operation.
//   stream    one GET whose body is read and discarded as it arrives: bytes per second.
//   watch     opens watches (e.g. one directly on the edge, one through the hub cache), creates
//             ConfigMaps at the edge, and records when each watch delivers each ADDED event.
//   echo      plain TCP to an echo server (a `kubectl port-forward` local port): N connections
//             at once each send --bytes and read them back, checked byte for byte.
//
// Every mode prints one JSON summary on stdout.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/config/flags.h"
#include "common/net/address.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace kubehub;

namespace {

struct Options {
  std::string mode;
  std::string url;
  std::string token;
  std::string ca;
  std::string accept = "application/json";
  /// requests: the Accept-Encoding header; none when empty. A compressed body is counted as it
  /// came, not inflated (the figure is the server's and the wire's; kubectl would inflate too).
  std::string accept_encoding;
  int64_t count = 1000;
  int64_t warmup = 50;
  int64_t interval_ms = 0;
  std::chrono::milliseconds duration{0};
  std::string samples_out;
  std::string namespace_name = "default";
  std::string create_url;
  std::string create_token;
  std::string watch_names;
  std::string watch_urls;
  std::string watch_tokens;
  std::string label;
  std::chrono::milliseconds timeout{30000};
  std::string address;
  int64_t connections = 1;
  int64_t bytes = 100 << 20;
};

/// Set by SIGTERM/SIGINT: paced probes stop, flush their samples and print the summary.
volatile std::sig_atomic_t g_stop = 0;
void onStopSignal(int) { g_stop = 1; }

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

/// A split https URL: where to connect and the path+query to ask for.
struct Target {
  std::string host;
  std::string port;
  std::string path;
};

std::optional<Target> splitUrl(const std::string& url) {
  auto parsed = net::parseUrl(url);
  if (!parsed.ok() || parsed->scheme != "https") return std::nullopt;
  // parseUrl keeps the path without the query; take path+query from the text itself.
  size_t scheme_end = url.find("://");
  size_t path_start = url.find('/', scheme_end + 3);
  Target t{parsed->host, std::to_string(parsed->port),
           path_start == std::string::npos ? "/" : url.substr(path_start)};
  return t;
}

struct Response {
  int status = 0;
  std::string body;
};

/// One TLS keep-alive connection; reconnects on demand. Not thread-safe.
class Connection {
 public:
  Connection(asio::ssl::context& tls, Target target, std::string token,
             std::chrono::milliseconds timeout)
      : tls_(tls), target_(std::move(target)), token_(std::move(token)), timeout_(timeout) {}

  bool connected() const { return stream_.has_value(); }

  void connect() {
    stream_.reset();
    stream_.emplace(io_, tls_);
    tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(target_.host, target_.port);
    asio::connect(stream_->next_layer(), endpoints);
    stream_->next_layer().set_option(tcp::no_delay(true));
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
    int fd = stream_->next_layer().native_handle();
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    SSL_set_tlsext_host_name(stream_->native_handle(), target_.host.c_str());
    stream_->set_verify_callback(asio::ssl::host_name_verification(target_.host));
    stream_->handshake(asio::ssl::stream_base::client);
    buffer_.clear();
  }

  void setAcceptEncoding(std::string value) { accept_encoding_ = std::move(value); }

  void close() {
    if (!stream_) return;
    boost::system::error_code ec;
    stream_->next_layer().shutdown(tcp::socket::shutdown_both, ec);
    stream_.reset();
  }

  void send(const std::string& method, const std::string& target, const std::string& accept,
            const std::string& body = "") {
    if (!stream_) connect();
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, target_.host);
    req.set(http::field::authorization, "Bearer " + token_);
    req.set(http::field::accept, accept);
    req.set(http::field::user_agent, "kubehub-bench-client");
    if (!accept_encoding_.empty()) req.set(http::field::accept_encoding, accept_encoding_);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    http::write(*stream_, req);
  }

  /// Sends one request and reads the whole answer. Throws on I/O errors (the connection is
  /// dropped; the next call reconnects).
  Response exchange(const std::string& method, const std::string& target, const std::string& accept,
                    const std::string& body = "") {
    try {
      send(method, target, accept, body);
      http::response_parser<http::string_body> parser;
      parser.body_limit(boost::none);
      http::read(*stream_, buffer_, parser);
      Response r{static_cast<int>(parser.get().result_int()), std::move(parser.get().body())};
      if (!parser.get().keep_alive()) close();
      return r;
    } catch (...) {
      close();
      throw;
    }
  }

  /// Like exchange() but counts the body's bytes instead of keeping them: collecting a large
  /// LIST into a string costs the client more than the server spends producing it.
  /// `served_from`, when given, gets the answer's X-Kubehub-Served-From ("" without one).
  std::pair<int, size_t> exchangeDiscardingBody(const std::string& method,
                                                const std::string& target,
                                                const std::string& accept,
                                                std::string* served_from = nullptr) {
    try {
      send(method, target, accept);
      http::response_parser<http::buffer_body> parser;
      parser.body_limit(boost::none);
      http::read_header(*stream_, buffer_, parser);
      if (served_from != nullptr) served_from->assign(parser.get()["X-Kubehub-Served-From"]);
      boost::system::error_code ec;
      size_t total = discardBody(parser, ec);
      if (ec) throw boost::system::system_error(ec);
      int status = static_cast<int>(parser.get().result_int());
      if (!parser.get().keep_alive()) close();
      return {status, total};
    } catch (...) {
      close();
      throw;
    }
  }

  /// Reads the rest of a response whose head `parser` holds, counting its body's bytes and
  /// dropping them. Stops at the first error (in `ec`).
  size_t discardBody(http::response_parser<http::buffer_body>& parser,
                     boost::system::error_code& ec) {
    if (scratch_.empty()) scratch_.resize(1 << 20);
    size_t total = 0;
    while (!parser.is_done()) {
      parser.get().body().data = scratch_.data();
      parser.get().body().size = scratch_.size();
      http::read(*stream_, buffer_, parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) break;
      total += scratch_.size() - parser.get().body().size;
    }
    return total;
  }

  beast::ssl_stream<tcp::socket>& stream() { return *stream_; }
  beast::flat_buffer& buffer() { return buffer_; }
  const Target& target() const { return target_; }

 private:
  asio::io_context io_;
  asio::ssl::context& tls_;
  Target target_;
  std::string token_;
  std::string accept_encoding_;
  std::chrono::milliseconds timeout_;
  std::optional<beast::ssl_stream<tcp::socket>> stream_;
  beast::flat_buffer buffer_;
  std::vector<char> scratch_;
};

asio::ssl::context makeTls(const std::string& ca) {
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_verify_mode(asio::ssl::verify_peer);
  tls.load_verify_file(ca);
  return tls;
}

nlohmann::json summarize(std::vector<double> v) {
  nlohmann::json j = {{"count", v.size()}};
  if (v.empty()) return j;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {
    // Nearest rank, half up on a non-negative rank: the runner's percentile() does the same.
    // NOLINTNEXTLINE(bugprone-incorrect-roundings)
    size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
  };
  double sum = 0;
  for (double x : v) sum += x;
  j["mean_us"] = sum / static_cast<double>(v.size());
  j["p50_us"] = pct(50);
  j["p90_us"] = pct(90);
  j["p99_us"] = pct(99);
  j["p999_us"] = pct(99.9);
  j["min_us"] = v.front();
  j["max_us"] = v.back();
  return j;
}

// ---- requests ----

int runRequests(const Options& o) {
  auto target = splitUrl(o.url);
  if (!target) {
    std::fprintf(stderr, "kubehub-bench-client: --url must be https://HOST:PORT/PATH\n");
    return 2;
  }
  auto tls = makeTls(o.ca);
  Connection conn(tls, *target, o.token, o.timeout);
  conn.setAcceptEncoding(o.accept_encoding);
  std::ofstream samples;
  if (!o.samples_out.empty()) samples.open(o.samples_out, std::ios::trunc);
  std::vector<double> ok_latencies;
  int64_t errors = 0, non_ok = 0, reconnects = 0;
  size_t bytes = 0;
  std::map<int, int64_t> statuses;
  std::map<std::string, int64_t> served_from;  // by X-Kubehub-Served-From; "edge": none
  auto started = Clock::now();
  auto deadline = o.duration.count() > 0 ? started + o.duration : Clock::time_point::max();
  int64_t total = o.duration.count() > 0 ? INT64_MAX : o.warmup + o.count;
  if (o.interval_ms > 0) {
    std::signal(SIGTERM, onStopSignal);
    std::signal(SIGINT, onStopSignal);
  }
  for (int64_t i = 0; i < total && Clock::now() < deadline && !g_stop; ++i) {
    bool warm = i < o.warmup && o.duration.count() == 0;
    bool had_connection = conn.connected();
    auto t0 = Clock::now();
    int status = 0;
    std::string from;
    try {
      auto [code, n] = conn.exchangeDiscardingBody("GET", target->path, o.accept, &from);
      status = code;
      bytes = n;
    } catch (const std::exception& e) {
      status = 0;
    }
    auto t1 = Clock::now();
    if (!had_connection && i > 0) reconnects++;
    if (warm) continue;
    double us = micros(t1 - t0);
    statuses[status]++;
    if (status == 0) {
      errors++;
    } else if (status != 200) {
      non_ok++;
    } else {
      ok_latencies.push_back(us);
      served_from[from.empty() ? "edge" : from]++;
    }
    if (samples.is_open()) {
      // CLOCK_MONOTONIC seconds, the clock of Python's time.monotonic(): the script lines
      // samples up with what it did meanwhile (e.g. restart the hub).
      samples << std::fixed << std::chrono::duration<double>(t0.time_since_epoch()).count() << ' '
              << us << ' ' << status << ' ' << (had_connection ? 0 : 1) << '\n';
      if (o.interval_ms > 0) samples.flush();
    }
    if (o.interval_ms > 0) {
      auto next = t0 + std::chrono::milliseconds(o.interval_ms);
      if (status == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
      else
        std::this_thread::sleep_until(next);
    }
  }
  nlohmann::json out = summarize(ok_latencies);
  out["errors"] = errors;
  out["non_200"] = non_ok;
  out["reconnects"] = reconnects;
  out["response_bytes"] = bytes;
  nlohmann::json st = nlohmann::json::object();
  for (auto [code, n] : statuses) st[std::to_string(code)] = n;
  out["statuses"] = st;
  out["served_from"] = served_from;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// ---- crud ----

int runCrud(const Options& o) {
  auto target = splitUrl(o.url);
  if (!target) {
    std::fprintf(stderr, "kubehub-bench-client: --url must be https://HOST:PORT[/prefix]\n");
    return 2;
  }
  std::string prefix = target->path == "/" ? "" : target->path;
  auto tls = makeTls(o.ca);
  Connection conn(tls, *target, o.token, o.timeout);
  std::string collection = prefix + "/api/v1/namespaces/" + o.namespace_name + "/configmaps";
  std::map<std::string, std::vector<double>> lat;
  std::vector<double> loop;
  int64_t failures = 0;
  std::ofstream samples;
  if (!o.samples_out.empty()) samples.open(o.samples_out, std::ios::trunc);
  std::string run = std::to_string(::getpid()) + "-" +
                    std::to_string(Clock::now().time_since_epoch().count() % 1000000);
  auto timed = [&](const char* op, const std::string& method, const std::string& path,
                   const std::string& body, int expect, bool record, std::string* out_body) {
    auto t0 = Clock::now();
    Response r;
    try {
      r = conn.exchange(method, path, "application/json", body);
    } catch (const std::exception&) {
      r.status = 0;
    }
    double us = micros(Clock::now() - t0);
    if (r.status != expect) {
      failures++;
      if (failures <= 3) {
        std::fprintf(stderr, "%s %s: status %d: %.300s\n", method.c_str(), path.c_str(), r.status,
                     r.body.c_str());
      }
      return false;
    }
    if (record) {
      lat[op].push_back(us);
      if (samples.is_open()) samples << op << ' ' << us << '\n';
    }
    if (out_body) *out_body = std::move(r.body);
    return true;
  };
  for (int64_t i = 0; i < o.warmup + o.count; ++i) {
    bool record = i >= o.warmup;
    std::string name = "crud-" + run + "-" + std::to_string(i);
    nlohmann::json cm = {{"apiVersion", "v1"},
                         {"kind", "ConfigMap"},
                         {"metadata",
                          {{"name", name},
                           {"namespace", o.namespace_name},
                           {"labels", {{"kubehub-bench", "crud"}}}}},
                         {"data", {{"step", "created"}}}};
    auto loop_start = Clock::now();
    std::string created;
    if (!timed("create", "POST", collection, cm.dump(), 201, record, &created)) continue;
    auto created_json = nlohmann::json::parse(created, nullptr, false);
    if (!created_json.is_discarded())
      cm["metadata"]["resourceVersion"] = created_json["metadata"]["resourceVersion"];
    cm["data"]["step"] = "updated";
    if (!timed("update", "PUT", collection + "/" + name, cm.dump(), 200, record, nullptr)) continue;
    if (!timed("delete", "DELETE", collection + "/" + name, "", 200, record, nullptr)) continue;
    if (record) loop.push_back(micros(Clock::now() - loop_start));
  }
  nlohmann::json out = {{"failures", failures}, {"loop", summarize(loop)}};
  for (auto& [op, v] : lat) out[op] = summarize(v);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// ---- stream ----

int runStream(const Options& o) {
  auto target = splitUrl(o.url);
  if (!target) {
    std::fprintf(stderr, "kubehub-bench-client: --url must be https://HOST:PORT/PATH\n");
    return 2;
  }
  auto tls = makeTls(o.ca);
  Connection conn(tls, *target, o.token, o.timeout);
  conn.connect();
  auto t0 = Clock::now();
  conn.send("GET", target->path, "*/*");
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  http::read_header(conn.stream(), conn.buffer(), parser);
  double ttfb = micros(Clock::now() - t0);
  int status = static_cast<int>(parser.get().result_int());
  boost::system::error_code ec;
  size_t total = conn.discardBody(parser, ec);
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  nlohmann::json out = {{"status", status},
                        {"bytes", total},
                        {"seconds", seconds},
                        {"ttfb_us", ttfb},
                        {"mb_per_s", static_cast<double>(total) / 1e6 / seconds},
                        {"error", ec ? ec.message() : ""}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// ---- echo ----

/// What one echo connection moved.
struct EchoResult {
  uint64_t sent = 0;
  uint64_t received = 0;
  /// Every byte that came back matched what was sent at its offset.
  bool intact = true;
  std::string error;
};

/// Sends `bytes` of `block` repeated, half-closes, and reads until the server ends, checking the
/// echo at every offset. The writer runs on a thread of its own: an echo server stops reading
/// once its replies are not read, so one thread doing both would deadlock.
void echoConnection(sockaddr_in addr, uint64_t bytes, const std::string& block,
                    std::chrono::milliseconds timeout, EchoResult* r) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    r->error = std::string("connect: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return;
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::string write_error;
  std::thread writer([fd, bytes, &block, r, &write_error] {
    uint64_t left = bytes;
    while (left > 0) {
      size_t at = static_cast<size_t>(r->sent % block.size());
      size_t n = static_cast<size_t>(std::min<uint64_t>(left, block.size() - at));
      ssize_t w = ::send(fd, block.data() + at, n, MSG_NOSIGNAL);
      if (w <= 0) {
        write_error = std::string("send: ") + std::strerror(errno);
        return;
      }
      r->sent += static_cast<uint64_t>(w);
      left -= static_cast<uint64_t>(w);
    }
    ::shutdown(fd, SHUT_WR);
  });
  std::vector<char> buf(1 << 20);
  while (true) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n == 0) break;
    if (n < 0) {
      r->error = std::string("recv: ") + std::strerror(errno);
      break;
    }
    size_t done = 0;
    while (done < static_cast<size_t>(n)) {
      size_t at = static_cast<size_t>(r->received % block.size());
      size_t len = std::min(static_cast<size_t>(n) - done, block.size() - at);
      if (std::memcmp(buf.data() + done, block.data() + at, len) != 0) r->intact = false;
      done += len;
      r->received += len;
    }
  }
  writer.join();
  if (r->error.empty()) r->error = write_error;
  ::close(fd);
}

int runEcho(const Options& o) {
  auto hp = net::parseHostPort(o.address);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (!hp.ok() || inet_pton(AF_INET, hp->host.c_str(), &addr.sin_addr) != 1 || o.connections < 1 ||
      o.bytes < 1) {
    std::fprintf(stderr,
                 "kubehub-bench-client: echo needs --address IPV4:PORT, --connections >= 1 and "
                 "--bytes >= 1\n");
    return 2;
  }
  addr.sin_port = htons(static_cast<uint16_t>(hp->port));
  // Not a repeating short pattern: a shifted or dropped chunk shows in the comparison.
  std::string block(1 << 20, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (char& c : block) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  std::vector<EchoResult> results(static_cast<size_t>(o.connections));
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (auto& r : results) {
    threads.emplace_back(echoConnection, addr, static_cast<uint64_t>(o.bytes), std::cref(block),
                         o.timeout, &r);
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  uint64_t sent = 0;
  uint64_t received = 0;
  bool intact = true;
  nlohmann::json errors = nlohmann::json::array();
  for (const auto& r : results) {
    sent += r.sent;
    received += r.received;
    intact = intact && r.intact && r.received == r.sent && r.sent == static_cast<uint64_t>(o.bytes);
    if (!r.error.empty()) errors.push_back(r.error);
  }
  nlohmann::json out = {{"connections", o.connections},
                        {"bytes_per_connection", o.bytes},
                        {"sent", sent},
                        {"received", received},
                        {"seconds", seconds},
                        {"mb_per_s", static_cast<double>(received) / 1e6 / seconds},
                        {"intact", intact},
                        {"errors", errors}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// ---- watch ----

struct WatchResult {
  std::string name;
  std::map<std::string, Clock::time_point> arrivals;  // guarded by the shared mutex
  std::string error;
  std::atomic<bool> established{false};
  std::atomic<int> fd{-1};  // shut down by the main thread to end a blocked read
};

/// Reads one watch with blocking reads, timestamping each ADDED event as its bytes arrive.
void watchThread(asio::ssl::context& tls, Target target, std::string token,
                 std::chrono::milliseconds timeout, WatchResult* result,
                 const std::atomic<bool>* stop, std::mutex* mu) {
  try {
    Connection conn(tls, target, std::move(token), timeout);
    conn.connect();
    result->fd = conn.stream().next_layer().native_handle();
    // Forget the descriptor before the connection closes it (it could be reused at once).
    struct ForgetFd {
      std::atomic<int>* fd;
      ~ForgetFd() { fd->store(-1); }
    } forget{&result->fd};
    if (stop->load()) return;
    // A quiet watch must not time out while events are being created.
    timeval tv{3600, 0};
    setsockopt(result->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    conn.send("GET", target.path, "application/json");
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    http::read_header(conn.stream(), conn.buffer(), parser);
    if (parser.get().result_int() != 200) {
      std::lock_guard lock(*mu);
      result->error = "watch answered HTTP " + std::to_string(parser.get().result_int());
      return;
    }
    result->established = true;
    while (!stop->load() && !parser.is_done()) {
      boost::system::error_code ec;
      http::read_some(conn.stream(), conn.buffer(), parser, ec);
      auto now = Clock::now();
      if (ec) {
        if (!stop->load()) {
          std::lock_guard lock(*mu);
          result->error = ec.message();
        }
        return;
      }
      std::string& body = parser.get().body();
      size_t start = 0;
      size_t nl;
      while ((nl = body.find('\n', start)) != std::string::npos) {
        auto event =
            nlohmann::json::parse(std::string_view(body).substr(start, nl - start), nullptr, false);
        start = nl + 1;
        if (event.is_discarded() || !event.is_object() || event.value("type", "") != "ADDED")
          continue;
        const auto& object = event["object"];
        if (!object.is_object() || !object.contains("metadata")) continue;
        const auto& meta = object["metadata"];
        if (!meta.is_object() || !meta.contains("name") || !meta["name"].is_string()) continue;
        std::lock_guard lock(*mu);
        result->arrivals.emplace(meta["name"].get<std::string>(), now);
      }
      body.erase(0, start);
    }
  } catch (const std::exception& e) {
    if (!stop->load()) {
      std::lock_guard lock(*mu);
      result->error = e.what();
    }
  }
}

int runWatch(const Options& o) {
  auto create = splitUrl(o.create_url);
  std::vector<std::string> names = absl::StrSplit(o.watch_names, ';');
  std::vector<std::string> urls = absl::StrSplit(o.watch_urls, ';');
  std::vector<std::string> tokens = absl::StrSplit(o.watch_tokens, ';');
  if (!create || urls.empty() || names.size() != urls.size() || tokens.size() != urls.size() ||
      o.label.empty()) {
    std::fprintf(
        stderr,
        "kubehub-bench-client: watch needs --create-url, --label and as many --watch-names, "
        "--watch-urls and --watch-tokens (';'-separated)\n");
    return 2;
  }
  auto tls = makeTls(o.ca);
  std::vector<std::unique_ptr<WatchResult>> results;
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
  std::mutex mu;
  for (size_t i = 0; i < urls.size(); ++i) {
    auto t = splitUrl(urls[i]);
    if (!t) {
      std::fprintf(stderr, "kubehub-bench-client: bad watch URL %s\n", urls[i].c_str());
      return 2;
    }
    results.push_back(std::make_unique<WatchResult>());
    results.back()->name = names[i];
    threads.emplace_back(watchThread, std::ref(tls), *t, tokens[i], o.timeout, results.back().get(),
                         &stop, &mu);
  }
  auto wait_deadline = Clock::now() + std::chrono::seconds(20);
  for (auto& r : results) {
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (r->established || !r->error.empty() || Clock::now() >= wait_deadline) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // The head of a watch can come before the watch is registered at the far end: a short settle.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  std::string prefix = create->path == "/" ? "" : create->path;
  std::string collection = prefix + "/api/v1/namespaces/" + o.namespace_name + "/configmaps";
  Connection creator(tls, *create, o.create_token, o.timeout);
  std::map<std::string, Clock::time_point> sent;
  std::vector<double> create_latency;
  int64_t create_failures = 0;
  auto [label_key, label_value] = std::pair<std::string, std::string>(absl::StrSplit(o.label, '='));
  for (int64_t i = 0; i < o.warmup + o.count; ++i) {
    std::string name = "watch-" + label_value + "-" + std::to_string(i);
    nlohmann::json cm = {
        {"apiVersion", "v1"},
        {"kind", "ConfigMap"},
        {"metadata",
         {{"name", name}, {"namespace", o.namespace_name}, {"labels", {{label_key, label_value}}}}},
        {"data", {{"i", std::to_string(i)}}}};
    std::string body = cm.dump();
    auto t0 = Clock::now();
    Response r;
    try {
      r = creator.exchange("POST", collection, "application/json", body);
    } catch (const std::exception&) {
      r.status = 0;
    }
    if (r.status != 201) {
      create_failures++;
      continue;
    }
    if (i >= o.warmup) {
      sent.emplace(name, t0);
      create_latency.push_back(micros(Clock::now() - t0));
    }
    if (o.interval_ms > 0)
      std::this_thread::sleep_until(t0 + std::chrono::milliseconds(o.interval_ms));
  }
  // Wait until every watch has delivered every event (or a deadline).
  auto deadline = Clock::now() + std::chrono::seconds(15);
  while (Clock::now() < deadline) {
    bool all = true;
    {
      std::lock_guard lock(mu);
      for (auto& r : results) {
        if (!r->error.empty()) continue;
        for (auto& [name, t] : sent) {
          if (!r->arrivals.count(name)) {
            all = false;
            break;
          }
        }
      }
    }
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  for (auto& r : results) {
    int fd = r->fd.load();
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads) t.join();

  std::ofstream samples;
  if (!o.samples_out.empty()) samples.open(o.samples_out, std::ios::trunc);
  nlohmann::json out = {{"created", sent.size()},
                        {"create_failures", create_failures},
                        {"create", summarize(create_latency)}};
  for (auto& r : results) {
    std::vector<double> lat;
    int64_t missing = 0;
    for (auto& [name, t] : sent) {
      auto it = r->arrivals.find(name);
      if (it == r->arrivals.end()) {
        missing++;
        continue;
      }
      double us = micros(it->second - t);
      lat.push_back(us);
      if (samples.is_open()) samples << r->name << ' ' << name << ' ' << us << '\n';
    }
    nlohmann::json s = summarize(lat);
    s["missing"] = missing;
    s["error"] = r->error;
    out[r->name] = s;
  }
  // Per event: how much later the second watch saw it than the first (the hub's added delay).
  if (results.size() >= 2) {
    std::vector<double> added;
    for (auto& [name, t] : sent) {
      auto a = results[0]->arrivals.find(name);
      auto b = results[1]->arrivals.find(name);
      if (a != results[0]->arrivals.end() && b != results[1]->arrivals.end())
        added.push_back(micros(b->second - a->second));
    }
    out["added_" + results[1]->name + "_over_" + results[0]->name] = summarize(added);
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  config::FlagSet flags(
      "kubehub-bench-client",
      "The measuring client of `make bench`. Usage: kubehub-bench-client MODE [flags], "
      "MODE one of requests, crud, stream, watch, echo.");
  flags.addString("url", &o.url,
                  "https URL (requests, stream) or base URL (crud; may end in /clusters/NAME)");
  flags.addString("token", &o.token, "bearer token for --url");
  flags.addString("ca", &o.ca, "PEM CA bundle that signed the servers' certificates");
  flags.addString("accept", &o.accept, "Accept header (requests)");
  flags.addString("accept-encoding", &o.accept_encoding,
                  "requests: Accept-Encoding header (e.g. gzip); bodies are counted as they came");
  flags.addInt("count", &o.count, "measured requests, loops or created objects");
  flags.addInt("warmup", &o.warmup, "unmeasured requests or loops first");
  flags.addInt("interval-ms", &o.interval_ms, "pace requests (requests, watch); 0: back to back");
  flags.addDuration("duration", &o.duration, "requests: run for this long instead of --count");
  flags.addString("samples-out", &o.samples_out, "file for the raw samples");
  flags.addString("namespace", &o.namespace_name, "namespace of the ConfigMaps (crud, watch)");
  flags.addString("create-url", &o.create_url,
                  "watch: base URL where ConfigMaps are created (the edge)");
  flags.addString("create-token", &o.create_token, "watch: token for --create-url");
  flags.addString("watch-names", &o.watch_names, "watch: names of the watches, ';'-separated");
  flags.addString("watch-urls", &o.watch_urls, "watch: full watch URLs, ';'-separated");
  flags.addString("watch-tokens", &o.watch_tokens, "watch: tokens of the watches, ';'-separated");
  flags.addString("label", &o.label, "watch: KEY=VALUE label put on created ConfigMaps");
  flags.addDuration("timeout", &o.timeout, "socket read/write timeout");
  flags.addString("address", &o.address, "echo: IPV4:PORT of the echo server");
  flags.addInt("connections", &o.connections, "echo: connections at once");
  flags.addInt("bytes", &o.bytes, "echo: bytes each connection sends (and reads back)");
  if (auto s = flags.parse(argc, argv); !s.ok()) {
    std::fprintf(stderr, "kubehub-bench-client: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (flags.helpRequested()) {
    std::fputs(flags.usage().c_str(), stdout);
    return 0;
  }
  if (flags.args().size() != 1) {
    std::fprintf(stderr,
                 "kubehub-bench-client: give exactly one MODE: requests, crud, stream, watch or "
                 "echo\n");
    return 2;
  }
  o.mode = flags.args()[0];
  if (o.ca.empty() && o.mode != "echo") {
    std::fprintf(stderr, "kubehub-bench-client: --ca is required\n");
    return 2;
  }
  try {
    if (o.mode == "requests") return runRequests(o);
    if (o.mode == "crud") return runCrud(o);
    if (o.mode == "stream") return runStream(o);
    if (o.mode == "watch") return runWatch(o);
    if (o.mode == "echo") return runEcho(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kubehub-bench-client: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "kubehub-bench-client: unknown mode \"%s\"\n", o.mode.c_str());
  return 2;
}
