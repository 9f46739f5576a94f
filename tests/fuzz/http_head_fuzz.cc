// Fuzzes the hub's reading of HTTP heads. Input: a request line "METHOD TARGET", then header
// lines "Name: value". Checks: the request info of an accepted cluster target is consistent; the
// headers forwarded upstream never carry the user's credentials, impersonation or peer headers;
// a peer identity that decodes re-encodes to the same principal; and the peer response reframer
// (the whole input read as an HTTP response) gives the same head and body however the bytes
// are cut.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/k8s/cluster_path.h"
#include "common/k8s/request_info.h"
#include "common/net/http_headers.h"
#include "hub/auth/peer_identity.h"
#include "hub/auth/token_file.h"
#include "hub/peer/response_reframer.h"

namespace {

using namespace kubehub;

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && net::iequals(s.substr(0, prefix.size()), prefix);
}

void fuzzRequest(std::string_view in) {
  size_t eol = in.find('\n');
  std::string_view line = in.substr(0, eol);
  size_t space = line.find(' ');
  std::string_view method = line.substr(0, space);
  std::string_view target = space == std::string_view::npos ? "" : line.substr(space + 1);
  net::HeaderList headers;
  while (eol != std::string_view::npos && headers.size() < 64) {
    size_t start = eol + 1;
    eol = in.find('\n', start);
    std::string_view h = in.substr(start, eol == std::string_view::npos ? eol : eol - start);
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    headers.emplace_back(std::string(h.substr(0, colon)), std::string(value));
  }

  if (auto t = k8s::parseClusterTarget(target); t.ok()) {
    k8s::RequestInfo info = k8s::parseRequestInfo(method, t->path, t->query);
    if (info.verb.empty() && !method.empty()) std::abort();
    if (info.is_resource_request &&
        (info.resource.empty() || (info.api_prefix != "api" && info.api_prefix != "apis"))) {
      std::abort();
    }
    if (!info.is_resource_request && info.path.empty()) std::abort();
  }

  std::vector<std::string> removed;
  const bool upgrade = net::isUpgrade(headers);
  for (const auto& [name, value] : net::forwardableRequestHeaders(headers, &removed)) {
    if (net::iequals(name, "Authorization") || startsWithNoCase(name, "Impersonate-") ||
        startsWithNoCase(name, "Kubehub-Peer-")) {
      std::abort();
    }
    if (!upgrade && net::isHopByHop(name)) std::abort();
  }
  (void)net::forwardableResponseHeaders(headers, 101);
  (void)net::forwardableResponseHeaders(headers, 200);
  if (auto auth = net::findHeader(headers, "Authorization")) (void)hub::bearerToken(*auth);
  if (auto id = net::findHeader(headers, hub::kPeerIdentityHeader)) {
    if (auto who = hub::decodePeerIdentity(*id); who.ok()) {
      auto again = hub::decodePeerIdentity(hub::encodePeerIdentity(*who));
      if (!again.ok() || again->user != who->user || again->tenant != who->tenant ||
          again->groups != who->groups || again->token_id != who->token_id ||
          again->expires_at != who->expires_at || again->break_glass != who->break_glass) {
        std::abort();
      }
    }
  }
}

void fuzzReframer(std::string_view in, bool head_only) {
  hub::ResponseReframer whole(head_only);
  auto a = whole.feed(in);
  hub::ResponseReframer pieces(head_only);
  const size_t cut = in.size() / 3;
  auto b1 = pieces.feed(in.substr(0, cut));
  if (!a.ok() || !b1.ok()) return;
  auto b2 = pieces.feed(in.substr(cut));
  if (!b2.ok()) std::abort();
  // The head is set by exactly one of the feeds.
  if (b1->head.has_value() && b2->head.has_value()) std::abort();
  const auto& head = b1->head.has_value() ? b1->head : b2->head;
  if (head.has_value() != a->head.has_value()) std::abort();
  if (head.has_value() && !(*head == *a->head)) std::abort();
  if (b1->body + b2->body != a->body || b2->end != a->end || (b1->end && !b2->body.empty())) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  fuzzRequest(in);
  fuzzReframer(in, false);
  fuzzReframer(in, true);
  return 0;
}
