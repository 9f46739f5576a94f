#include "agent/commands/command_service.h"

#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/commands/command_runner.h"
#include "common/auth/secret_name.h"
#include "common/k8s/status_body.h"
#include "common/log/log.h"

extern char** environ;

namespace kubehub::agent {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using Json = nlohmann::json;

namespace {

constexpr std::string_view kPrefix = "/kubehub/v1/commands";
constexpr size_t kMaxBody = 64 * 1024;

asio::awaitable<void> respond(std::shared_ptr<tunnel::Stream> stream, int code,
                              std::string content_type, std::string body) {
  proto::ResponseHead head;
  head.status = code;
  head.headers.emplace_back("Content-Type", std::move(content_type));
  head.headers.emplace_back("Content-Length", std::to_string(body.size()));
  stream->sendResponseHead(head, false);
  absl::Status st = co_await stream->write(body);
  if (st.ok()) stream->finish();
}

asio::awaitable<void> respondStatus(std::shared_ptr<tunnel::Stream> stream, int code,
                                    std::string message) {
  co_await respond(std::move(stream), code, "application/json", k8s::statusBody(code, message));
}

/// The longest prefix of `s` that ends on a whole UTF-8 character; the rest waits for the next
/// read (a character may be cut between two reads of the pipe).
size_t wholeCharacters(std::string_view s) {
  size_t n = s.size();
  size_t i = n;
  // Look back at most 3 bytes for the lead byte of the last character.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    i = len > back ? n - back : n;
    return i;
  }
  return n;
}

/// Sends each piece of output as one JSON line on the stream.
class StreamOutput : public CommandOutput {
 public:
  explicit StreamOutput(std::shared_ptr<tunnel::Stream> stream) : stream_(std::move(stream)) {}

  asio::awaitable<bool> write(OutputStream which, std::string data) override {
    std::string& held = which == OutputStream::kStdout ? held_out_ : held_err_;
    held += data;
    size_t whole = wholeCharacters(held);
    if (whole == 0) co_return true;
    std::string text = held.substr(0, whole);
    held.erase(0, whole);
    co_return co_await line(which, std::move(text));
  }

  /// What is held back at the end (an incomplete character: replaced when encoded).
  asio::awaitable<bool> flush() {
    std::string out;
    std::string err;
    out.swap(held_out_);
    err.swap(held_err_);
    bool ok = true;
    if (!out.empty()) ok = co_await line(OutputStream::kStdout, std::move(out));
    if (ok && !err.empty()) ok = co_await line(OutputStream::kStderr, std::move(err));
    co_return ok;
  }

  asio::awaitable<bool> event(Json j) {
    std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
    co_return (co_await stream_->write(text)).ok();
  }

 private:
  asio::awaitable<bool> line(OutputStream which, std::string text) {
    Json j = Json::object();
    j["stream"] = which == OutputStream::kStdout ? "stdout" : "stderr";
    j["data"] = std::move(text);
    co_return co_await event(std::move(j));
  }

  std::shared_ptr<tunnel::Stream> stream_;
  std::string held_out_;
  std::string held_err_;
};

asio::awaitable<absl::StatusOr<std::string>> readBody(std::shared_ptr<tunnel::Stream> stream) {
  std::string body;
  while (!stream->peerEnded() || stream->readReady()) {
    auto chunk = co_await stream->read();
    if (!chunk.ok()) co_return chunk.status();
    body += chunk->data;
    stream->consumed(chunk->data.size());
    if (body.size() > kMaxBody)
      co_return absl::InvalidArgumentError("the parameters are larger than 64 KiB");
    if (chunk->end) break;
  }
  co_return body;
}

std::vector<std::string> agentEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  return env;
}

asio::awaitable<void> run(std::shared_ptr<tunnel::Stream> stream, const Command* command,
                          CommandCall call, AgentMetrics* metrics) {
  proto::ResponseHead head;
  head.status = 200;
  head.headers.emplace_back("Content-Type", "application/x-ndjson");
  head.headers.emplace_back("Cache-Control", "no-cache");
  std::string secret;
  for (const auto& p : command->parameters) {
    if (p.secret) secret += (secret.empty() ? "" : ",") + p.name;
  }
  if (!secret.empty())
    head.headers.emplace_back(std::string(auth::kSecretParametersHeader), secret);
  stream->sendResponseHead(head, false);

  const auto started = std::chrono::steady_clock::now();
  StreamOutput out(stream);
  CommandResult result = co_await runCommand(std::move(call), &out);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (metrics) metrics->commandRun(command->name, outcomeName(result.outcome), seconds);
  log::info("command ended", {{"command", command->name},
                              {"outcome", std::string(outcomeName(result.outcome))},
                              {"exit_code", std::to_string(result.exit_code)}});
  if (result.outcome == CommandResult::Outcome::kCancelled) co_return;
  if (!co_await out.flush()) co_return;
  Json last;
  switch (result.outcome) {
    case CommandResult::Outcome::kExited:
      last = {{"exitCode", result.exit_code}};
      break;
    case CommandResult::Outcome::kSignaled:
      last = {{"error", "signal"},
              {"signal", result.signal},
              {"message", "the command was killed by signal " + std::to_string(result.signal)}};
      break;
    case CommandResult::Outcome::kTimeout:
      last = {{"error", "timeout"},
              {"killed", result.killed},
              {"message", "the command ran longer than its timeout of " +
                              std::to_string(command->timeout.count() / 1000) + "s and " +
                              (!result.killed ? "ended on SIGTERM"
                               : command->kill_grace.count() == 0
                                   ? "was killed"
                                   : "was killed: it did not end within " +
                                         std::to_string(command->kill_grace.count() / 1000) +
                                         "s of SIGTERM")}};
      break;
    case CommandResult::Outcome::kOutputLimit:
      last = {{"error", "output limit"},
              {"message", "the command wrote more than its limit of " +
                              std::to_string(command->max_output_bytes) + " bytes and was killed"}};
      break;
    case CommandResult::Outcome::kStartFailed:
      last = {{"error", "start failed"}, {"message", result.message}};
      break;
    case CommandResult::Outcome::kCancelled:
      break;
  }
  if (co_await out.event(std::move(last))) stream->finish();
}

}  // namespace

asio::awaitable<void> CommandService::refuse(std::shared_ptr<tunnel::Stream> stream, int code,
                                             std::string message) {
  co_await respondStatus(std::move(stream), code, std::move(message));
}

namespace {

asio::awaitable<void> serveInner(std::shared_ptr<const CommandSet> commands, AgentMetrics* metrics,
                                 std::shared_ptr<tunnel::Stream> stream, proto::RequestHead head) {
  std::string path = head.target.substr(0, head.target.find('?'));
  if (path == kPrefix || path == std::string(kPrefix) + "/") {
    if (head.method != "GET") {
      co_await respondStatus(stream, 405, "use GET to list the commands, POST to run one");
      co_return;
    }
    Json listing = commands ? commands->listing()
                            : Json{{"kind", "CommandList"},
                                   {"apiVersion", "kubehub.io/v1"},
                                   {"items", Json::array()}};
    co_await respond(stream, 200, "application/json", listing.dump());
    co_return;
  }
  if (!path.starts_with(std::string(kPrefix) + "/")) {
    co_await respondStatus(stream, 404, "the agent serves no " + path);
    co_return;
  }
  std::string name = path.substr(kPrefix.size() + 1);
  if (head.method != "POST") {
    co_await respondStatus(stream, 405, "run a command with POST");
    co_return;
  }
  const Command* command = commands ? commands->find(name) : nullptr;
  if (!command) {
    co_await respondStatus(stream, 404,
                           "command \"" + name +
                               "\" is not offered by this cluster's agent (GET "
                               "kubehub/v1/commands lists those it offers)");
    co_return;
  }
  auto body = co_await readBody(stream);
  if (!body.ok()) {
    if (stream->isReset()) co_return;
    co_await respondStatus(stream, 400, std::string(body.status().message()));
    co_return;
  }
  auto call = buildCall(*command, *body, agentEnvironment());
  if (!call.ok()) {
    if (metrics) metrics->commandRun(command->name, "rejected", 0);
    co_await respondStatus(stream, 400,
                           "command \"" + name + "\": " + std::string(call.status().message()));
    co_return;
  }
  co_await run(stream, command, std::move(*call), metrics);
}

}  // namespace

CommandService::CommandService(std::shared_ptr<const CommandSet> commands,
                               std::shared_ptr<AgentMetrics> metrics)
    : commands_(std::move(commands)), metrics_(std::move(metrics)) {}

bool CommandService::handles(std::string_view target) { return target.starts_with("/kubehub/"); }

asio::awaitable<void> CommandService::serve(std::shared_ptr<CommandService> self,
                                            std::shared_ptr<tunnel::Stream> stream,
                                            proto::RequestHead head) {
  if (head.internal) {
    // The hub's own requests never run commands: only a user's call, named by the hub.
    co_await respondStatus(stream, 403, "commands are run only for users");
    co_return;
  }
  // `self` (held by this frame) keeps the commands and the metrics alive for the call.
  auto commands = self->commands_;
  AgentMetrics* metrics = self->metrics_.get();
  co_await (serveInner(std::move(commands), metrics, stream, std::move(head)) ||
            stream->waitReset());
  if (!stream->isReset()) stream->reset(proto::ResetCode::kCancel, "exchange finished");
}

}  // namespace kubehub::agent
