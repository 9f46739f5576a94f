#include "metaserver/ctl/commands.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "common/config/flags.h"
#include "common/net/http_client.h"
#include "metaserver/client/metaserver_client.h"
#include "metaserver/ctl/output.h"

namespace kubehub::ctl {

namespace {

struct FlagSpec {
  std::string name;
  std::string help;
  bool is_bool = false;
};

struct Ctx;
using RunFn = int (*)(Ctx&);

struct CommandSpec {
  std::string resource;
  std::string verb;  // empty: a one-word command
  std::string args_usage;
  std::string summary;
  std::vector<FlagSpec> flags;
  size_t min_args = 0;
  size_t max_args = 0;
  RunFn run = nullptr;
};

struct Ctx {
  std::map<std::string, std::string> s;
  std::map<std::string, bool> b;
  /// The command's own flags given on the command line or in the environment, even empty.
  std::set<std::string> given;
  std::vector<std::string> args;
  std::unique_ptr<metaserver::MetaserverClient> client;
  bool json = false;
  int page_size = 500;
  const std::string& str(const std::string& name) { return s[name]; }
};

std::string enc(std::string_view in) { return metaserver::MetaserverClient::escape(in); }

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "kubehubctl: error: %s\n", message.c_str());
  return code;
}

/// Prints why a call failed and returns the exit code for it: the server's message and its HTTP
/// status, or why the server was not reached.
int failed(const absl::Status& s) {
  int http = metaserver::httpStatusOf(s);
  if (http != 0) {
    return fail(exitCodeForHttpStatus(http),
                std::string(s.message()) + " (HTTP " + std::to_string(http) + ")");
  }
  if (s.code() == absl::StatusCode::kDataLoss) return fail(kExitApiError, std::string(s.message()));
  return fail(kExitUnavailable, std::string(s.message()));
}

int printList(Ctx& c, const Json& j, const std::vector<Column>& columns) {
  if (c.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << renderTable(columns, j.value("items", Json::array()));
  }
  return kExitOk;
}

int printOne(Ctx& c, const Json& j) {
  std::cout << (c.json ? j.dump(2) + "\n" : renderObject(j));
  return kExitOk;
}

/// Prints a decoded answer (or why there is none).
template <class T>
int printAnswer(Ctx& c, const absl::StatusOr<T>& answer) {
  if (!answer.ok()) return failed(answer.status());
  return printOne(c, metaserver::toJson(*answer));
}

/// A page's items and extra fields as one JSON list answer.
template <class T>
Json pageJson(const metaserver::ListPage<T>& page) {
  Json j = page.extra;
  j["items"] = Json::array();
  for (const auto& item : page.items) j["items"].push_back(metaserver::toJson(item));
  return j;
}

/// Lists a paged collection whole: asks for --page-size items at a time and follows
/// metadata.continue until the last page, then prints every item as one list (the first page's
/// other fields kept, its continue token dropped).
template <class T>
int listAllAndPrint(Ctx& c, const std::string& path, const std::vector<Column>& columns) {
  auto all = c.client->listAll<T>(path, c.page_size);
  if (!all.ok()) return failed(all.status());
  return printList(c, pageJson(*all), columns);
}

template <class T>
int create(Ctx& c, const std::string& path, const Json& body) {
  return printAnswer(c, c.client->callAs<T>("POST", path, body));
}

int remove(Ctx& c, const std::string& path, const std::string& what) {
  if (auto j = c.client->call("DELETE", path); !j.ok()) return failed(j.status());
  if (c.json) {
    std::cout << Json{{"deleted", what}}.dump() << "\n";
  } else {
    std::cout << what << " deleted\n";
  }
  return kExitOk;
}

std::string query(std::initializer_list<std::pair<const char*, std::string>> params) {
  return metaserver::MetaserverClient::query(params);
}

absl::StatusOr<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- columns ----

const std::vector<Column>& tenantColumns() {
  static const std::vector<Column> c = {field("NAME", "name"), field("DESCRIPTION", "description"),
                                        field("CREATED", "createdAt")};
  return c;
}
const std::vector<Column>& userColumns() {
  static const std::vector<Column> c = {field("NAME", "name"), field("TENANT", "tenant"),
                                        field("GROUPS", "groups"), field("ROLES", "roles"),
                                        field("CREATED", "createdAt")};
  return c;
}
const std::vector<Column>& clusterColumns() {
  auto status = [](const char* key) {
    return [key](const Json& j) {
      return j.contains("status") && j["status"].is_object()
                 ? display(j["status"].value(key, Json()))
                 : std::string("-");
    };
  };
  static const std::vector<Column> c = {field("NAME", "name"),
                                        {"CONNECTED", clusterConnected},
                                        {"KIND", clusterKind},
                                        {"HUBS", status("hubs")},
                                        {"SINCE", status("since")},
                                        {"LAST-SEEN", status("lastSeen")},
                                        {"VERSION", clusterVersion},
                                        {"NODES", clusterNodes},
                                        {"CPU", clusterCpu},
                                        {"MEMORY", clusterMemory},
                                        {"AGENT", clusterAgentVersion},
                                        field("LABELS", "labels")};
  return c;
}
const std::vector<Column>& grantColumns() {
  static const std::vector<Column> c = {
      field("NAME", "name"),
      field("TENANT", "tenant"),
      field("USER", "user"),
      {"CLUSTERS",
       [](const Json& j) {
         const Json& cl = j.value("clusters", Json::object());
         std::string out = display(cl.value("names", Json::array()));
         if (cl.contains("selector"))
           out += (out == "-" ? "" : " + ") + std::string("{") + cl["selector"].get<std::string>() +
                  "}";
         return out;
       }},
      {"RULES",
       [](const Json& j) { return std::to_string(j.value("rules", Json::array()).size()); }}};
  return c;
}
const std::vector<Column>& tokenColumns() {
  static const std::vector<Column> c = {field("ID", "id"),
                                        field("USER", "user"),
                                        field("TENANT", "tenant"),
                                        field("EXPIRES", "expiresAt"),
                                        field("REVOKED", "revokedAt"),
                                        field("DESCRIPTION", "description")};
  return c;
}
const std::vector<Column>& hubColumns() {
  static const std::vector<Column> c = {field("ID", "id"),
                                        field("ALIVE", "alive"),
                                        field("DRAINING", "draining"),
                                        field("AGENTS", "agents"),
                                        field("LOAD", "load"),
                                        field("LAST-HEARTBEAT", "lastHeartbeat"),
                                        field("ADDRESSES", "addresses")};
  return c;
}

// ---- commands ----

int tenantCreate(Ctx& c) {
  Json body = {{"name", c.args[0]}};
  if (!c.s["description"].empty()) body["description"] = c.s["description"];
  return create<metaserver::TenantRecord>(c, "/api/v1/tenants", body);
}
int tenantList(Ctx& c) {
  return listAllAndPrint<metaserver::TenantRecord>(c, "/api/v1/tenants", tenantColumns());
}
int tenantGet(Ctx& c) { return printAnswer(c, c.client->tenant(c.args[0])); }
int tenantDelete(Ctx& c) {
  return remove(c, "/api/v1/tenants/" + enc(c.args[0]), "tenant " + c.args[0]);
}

/// PATCHes a user's or tenant's ban and prints the updated record.
template <class T>
int setBan(Ctx& c, const std::string& path, bool disabled) {
  Json body = Json::object();
  body["disabled"] = disabled;
  if (disabled && !c.s["reason"].empty()) body["reason"] = c.s["reason"];
  return printAnswer(c, c.client->callAs<T>("PATCH", path, body));
}
int tenantDisable(Ctx& c) {
  return setBan<metaserver::TenantRecord>(c, "/api/v1/tenants/" + enc(c.args[0]), true);
}
int tenantEnable(Ctx& c) {
  return setBan<metaserver::TenantRecord>(c, "/api/v1/tenants/" + enc(c.args[0]), false);
}

int userCreate(Ctx& c) {
  if (c.s["tenant"].empty()) return fail(kExitUsage, "--tenant is required");
  Json body = {{"name", c.args[0]}, {"tenant", c.s["tenant"]}};
  if (!c.s["groups"].empty()) body["groups"] = splitList(c.s["groups"]);
  if (!c.s["roles"].empty()) body["roles"] = splitList(c.s["roles"]);
  if (!c.s["description"].empty()) body["description"] = c.s["description"];
  return create<metaserver::UserRecord>(c, "/api/v1/users", body);
}
int userList(Ctx& c) {
  return listAllAndPrint<metaserver::UserRecord>(
      c, "/api/v1/users" + query({{"tenant", c.s["tenant"]}}), userColumns());
}
int userGet(Ctx& c) { return printAnswer(c, c.client->user(c.args[0])); }
int userDelete(Ctx& c) { return remove(c, "/api/v1/users/" + enc(c.args[0]), "user " + c.args[0]); }
int userDisable(Ctx& c) {
  return setBan<metaserver::UserRecord>(c, "/api/v1/users/" + enc(c.args[0]), true);
}
int userEnable(Ctx& c) {
  return setBan<metaserver::UserRecord>(c, "/api/v1/users/" + enc(c.args[0]), false);
}

int bans(Ctx& c) {
  auto bans = c.client->bans();
  if (!bans.ok()) return failed(bans.status());
  Json j = metaserver::toJson(*bans);
  if (c.json) return printOne(c, j);
  std::cout << renderTable({field("KIND", "kind"), field("NAME", "name"), field("TENANT", "tenant"),
                            field("SINCE", "since"), field("REASON", "reason")},
                           banRows(j));
  return kExitOk;
}

int clusterCreate(Ctx& c) {
  Json body = {{"name", c.args[0]}};
  auto labels = parseLabels(c.s["labels"]);
  if (!labels.ok()) return fail(kExitUsage, std::string(labels.status().message()));
  if (!labels->empty()) body["labels"] = *labels;
  if (!c.s["description"].empty()) body["description"] = c.s["description"];
  if (c.b["disabled"]) body["disabled"] = true;
  return create<metaserver::ClusterRecord>(c, "/api/v1/clusters", body);
}
int clusterList(Ctx& c) {
  return listAllAndPrint<metaserver::ClusterRecord>(
      c, "/api/v1/clusters" + query({{"selector", c.s["selector"]}}), clusterColumns());
}
int clusterGet(Ctx& c) {
  auto cluster = c.client->cluster(c.args[0]);
  if (!cluster.ok()) return failed(cluster.status());
  Json j = metaserver::toJson(*cluster);
  // Everything, the status report included, one dotted key per line (cached types a table).
  std::cout << (c.json ? j.dump(2) + "\n" : renderCluster(j));
  return kExitOk;
}
int clusterDelete(Ctx& c) {
  return remove(c, "/api/v1/clusters/" + enc(c.args[0]), "cluster " + c.args[0]);
}
int clusterPatch(Ctx& c, Json body) {
  return printAnswer(c, c.client->callAs<metaserver::ClusterRecord>(
                            "PATCH", "/api/v1/clusters/" + enc(c.args[0]), body));
}
int clusterUpdate(Ctx& c) {
  Json body = Json::object();
  if (!c.s["labels"].empty()) {
    auto labels = parseLabels(c.s["labels"]);
    if (!labels.ok()) return fail(kExitUsage, std::string(labels.status().message()));
    body["labels"] = *labels;
  }
  if (!c.s["description"].empty()) body["description"] = c.s["description"];
  if (body.empty())
    return fail(kExitUsage, "nothing to change: give --labels and/or --description");
  return clusterPatch(c, body);
}
int clusterDisable(Ctx& c) { return clusterPatch(c, Json{{"disabled", true}}); }
int clusterEnable(Ctx& c) { return clusterPatch(c, Json{{"disabled", false}}); }
int clusterEndpoints(Ctx& c) {
  auto endpoints = c.client->endpoints(c.args[0]);
  if (!endpoints.ok()) return failed(endpoints.status());
  Json j = metaserver::toJson(*endpoints);
  if (c.json) return printOne(c, j);
  std::cout << renderTable(
      {field("HUB", "hub"), field("ADDRESSES", "addresses"), field("CONNECTED", "connectedAt"),
       field("LAST-HEARTBEAT", "lastHeartbeat")},
      j.value("endpoints", Json::array()));
  return kExitOk;
}

int clusterBootstrap(Ctx& c) {
  auto boot = c.client->bootstrap(c.args[0], c.s["ttl"]);
  if (!boot.ok()) return failed(boot.status());
  if (c.json) return printOne(c, metaserver::toJson(*boot));
  const std::string& cluster = boot->cluster;
  std::string url = boot->metaserver_url + boot->certificate_path;
  std::cout << "# Bootstrap token for cluster " << cluster << " (one use, expires "
            << metaserver::formatTime(boot->expires_at) << "). It is shown only now.\n"
            << "cluster: " << cluster << "\n"
            << "bootstrapToken: " << boot->token << "\n"
            << "metaserverUrl: " << boot->metaserver_url << "\n"
            << "hubUrl: " << boot->hub_url << "\n"
            << "# The agent chart does the following itself: `kubehubctl cluster install "
            << cluster << " --hub-url wss://HUB:PORT/tunnel` prints its helm line.\n"
            << "# The agent generates its key, sends a CSR with the token and gets its client "
               "certificate:\n"
            << "#   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
               "agent.key \\\n"
            << "#     -subj /CN=" << cluster << " -out agent.csr\n"
            << "#   kubehubctl --server " << boot->metaserver_url
            << " --token TOKEN cluster certificate " << cluster << " --csr agent.csr > agent.crt\n"
            << "#   (or POST {\"csr\": PEM} to " << url << " with Authorization: Bearer TOKEN)\n"
            << "# CA bundle of the tunnel (the agent's client certificates chain to it):\n";
  std::istringstream lines(boot->ca_cert);
  for (std::string line; std::getline(lines, line);) std::cout << "#   " << line << "\n";
  return kExitOk;
}

/// A bootstrap token and the exact command that installs the agent chart with it.
int clusterInstall(Ctx& c) {
  AgentInstall in;
  in.cluster = c.args[0];
  in.hub_urls = splitList(c.s["hub-url"]);
  if (in.hub_urls.empty()) {
    return fail(kExitUsage,
                "--hub-url is required: the hubs' tunnel endpoint the agent dials, "
                "wss://HOST:PORT/tunnel (a load balancer in front of the hubs will do)");
  }
  for (const auto& u : in.hub_urls) {
    if (!u.starts_with("wss://"))
      return fail(kExitUsage, "--hub-url must be wss://HOST:PORT/tunnel, got \"" + u + "\"");
  }
  if (!c.s["namespace"].empty()) in.namespace_name = c.s["namespace"];
  if (!c.s["release"].empty()) in.release = c.s["release"];
  if (!c.s["chart"].empty()) in.chart = c.s["chart"];
  in.metaserver_ca_file = c.s["ca-file"];
  in.hub_ca_file = c.s["hub-ca"];
  for (const auto& f : {in.metaserver_ca_file, in.hub_ca_file}) {
    if (!f.empty() && !readFile(f).ok()) return fail(kExitUsage, "cannot read " + f);
  }
  auto boot = c.client->bootstrap(in.cluster, c.s["ttl"]);
  if (!boot.ok()) return failed(boot.status());
  in.bootstrap_token = boot->token;
  // The metaserver's --public-url is how agents reach it; one that was never set names the
  // address it bound (0.0.0.0), so then the address this command used.
  in.metaserver_url = c.s["metaserver-url"];
  if (in.metaserver_url.empty()) in.metaserver_url = boot->metaserver_url;
  if (in.metaserver_url.empty() || in.metaserver_url.find("://0.0.0.0") != std::string::npos ||
      in.metaserver_url.find("://[::]") != std::string::npos) {
    in.metaserver_url = c.s["server"];
  }
  while (!in.metaserver_url.empty() && in.metaserver_url.back() == '/')
    in.metaserver_url.pop_back();
  bool manifest = c.b["manifest"];
  std::string command = agentInstallCommand(in, manifest);
  if (c.json) {
    std::cout << Json{{"cluster", in.cluster},
                      {"bootstrapTokenId", boot->id},
                      {"expiresAt", metaserver::formatTime(boot->expires_at)},
                      {"metaserverUrl", in.metaserver_url},
                      {"command", command}}
                     .dump(2)
              << "\n";
    return kExitOk;
  }
  std::cout << "# Cluster " << in.cluster << ": a one-time bootstrap token, valid until "
            << metaserver::formatTime(boot->expires_at) << " (shown only now).\n"
            << "# Run in the edge cluster (kubectl and helm pointed at it), from a kubehub "
               "checkout (or give --chart):\n"
            << command;
  if (manifest) {
    std::cout << "kubectl create namespace " << shellQuote(in.namespace_name)
              << " --dry-run=client -o yaml | kubectl apply -f -\n"
              << "kubectl apply -f " << shellQuote(in.release + ".yaml") << "\n";
  }
  std::cout << "# The agent makes its key in the edge cluster, enrols with the metaserver, keeps "
               "its certificate\n"
            << "# in the Secret " << in.release
            << "-credentials and renews it before it expires. Check it:\n"
            << "#   kubectl -n " << in.namespace_name << " logs deploy/" << in.release
            << " | grep -E 'enrolled|tunnel up'\n";
  return kExitOk;
}

/// Sends a CSR for a cluster's agent or (`hub`) a hub and prints the certificate (and writes the
/// CA with --ca-out).
int sendCsr(Ctx& c, bool hub) {
  if (c.s["csr"].empty()) return fail(kExitUsage, "--csr FILE is required");
  auto csr = readFile(c.s["csr"]);
  if (!csr.ok()) return fail(kExitUsage, std::string(csr.status().message()));
  auto cert = c.client->signCertificate(hub, c.args[0], *csr);
  if (!cert.ok()) return failed(cert.status());
  if (c.json) return printOne(c, metaserver::toJson(*cert));
  std::cout << cert->certificate;
  if (!c.s["ca-out"].empty()) {
    std::ofstream out(c.s["ca-out"], std::ios::binary);
    out << cert->ca_cert;
    if (!out) return fail(kExitUsage, "cannot write " + c.s["ca-out"]);
  }
  return kExitOk;
}

int clusterCertificate(Ctx& c) { return sendCsr(c, false); }

int hubCertificate(Ctx& c) { return sendCsr(c, true); }

int grantCreate(Ctx& c) {
  Json body;
  if (!c.s["file"].empty()) {
    auto text = readFile(c.s["file"]);
    if (!text.ok()) return fail(kExitUsage, std::string(text.status().message()));
    body = Json::parse(*text, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return fail(kExitUsage, c.s["file"] + " is not a JSON object");
    if (!c.args.empty()) body["name"] = c.args[0];
  } else {
    if (c.args.empty()) return fail(kExitUsage, "give the grant's NAME (or --file)");
    if (c.s["tenant"].empty()) return fail(kExitUsage, "--tenant is required");
    bool has_rule = !c.s["verbs"].empty() || !c.s["resources"].empty();
    if (!has_rule && c.s["commands"].empty())
      return fail(kExitUsage, "--verbs and --resources (and/or --commands) are required");
    if (has_rule && (c.s["verbs"].empty() || c.s["resources"].empty()))
      return fail(kExitUsage, "--verbs and --resources go together");
    if (c.s["clusters"].empty() && c.s["cluster-selector"].empty()) {
      return fail(kExitUsage, "--clusters and/or --cluster-selector is required");
    }
    Json rules = Json::array();
    if (has_rule) {
      std::vector<std::string> groups;
      for (const auto& g : splitList(c.s["api-groups"].empty() ? "core" : c.s["api-groups"])) {
        groups.push_back(g == "core" ? "" : g);
      }
      Json rule = {{"apiGroups", groups},
                   {"resources", splitList(c.s["resources"])},
                   {"verbs", splitList(c.s["verbs"])}};
      if (!c.s["namespaces"].empty()) rule["namespaces"] = splitList(c.s["namespaces"]);
      rules.push_back(std::move(rule));
    }
    Json clusters = Json::object();
    clusters["names"] = splitList(c.s["clusters"]);
    if (!c.s["cluster-selector"].empty()) clusters["selector"] = c.s["cluster-selector"];
    body = {
        {"name", c.args[0]}, {"tenant", c.s["tenant"]}, {"clusters", clusters}, {"rules", rules}};
    if (!c.s["commands"].empty()) body["commands"] = splitList(c.s["commands"]);
    // `--user "$U"` with U unset must not widen the grant to the whole tenant.
    if (c.given.contains("user") && c.s["user"].empty()) {
      return fail(kExitUsage,
                  "--user is empty: name a user, or leave --user out for a grant to the whole "
                  "tenant");
    }
    if (!c.s["user"].empty()) body["user"] = c.s["user"];
  }
  return create<metaserver::GrantRecord>(c, "/api/v1/grants", body);
}
int grantList(Ctx& c) {
  return listAllAndPrint<metaserver::GrantRecord>(
      c, "/api/v1/grants" + query({{"tenant", c.s["tenant"]}, {"user", c.s["user"]}}),
      grantColumns());
}
int grantGet(Ctx& c) { return printAnswer(c, c.client->grant(c.args[0])); }
int grantDelete(Ctx& c) {
  return remove(c, "/api/v1/grants/" + enc(c.args[0]), "grant " + c.args[0]);
}

int tokenIssue(Ctx& c) {
  if (c.s["user"].empty()) return fail(kExitUsage, "--user is required");
  auto issued = c.client->issueToken(c.s["user"], c.s["ttl"], c.s["description"]);
  if (!issued.ok()) return failed(issued.status());
  if (c.json) return printOne(c, metaserver::toJson(*issued));
  std::cerr << "token " << issued->record.id << " for " << issued->record.user << " expires "
            << metaserver::formatTime(issued->record.expires_at)
            << " (the token is shown only now)\n";
  std::cout << issued->token << "\n";
  return kExitOk;
}
int tokenList(Ctx& c) {
  return listAllAndPrint<metaserver::TokenRecord>(
      c, "/api/v1/tokens" + query({{"tenant", c.s["tenant"]}, {"user", c.s["user"]}}),
      tokenColumns());
}
int tokenGet(Ctx& c) { return printAnswer(c, c.client->token(c.args[0])); }
int tokenRevoke(Ctx& c) {
  auto revoked =
      c.client->callAs<metaserver::TokenRecord>("DELETE", "/api/v1/tokens/" + enc(c.args[0]));
  if (!revoked.ok()) return failed(revoked.status());
  if (c.json) return printOne(c, metaserver::toJson(*revoked));
  std::cout << "token " << c.args[0] << " revoked\n";
  return kExitOk;
}

int kubeconfig(Ctx& c) {
  if (c.s["user"].empty() || c.s["cluster"].empty())
    return fail(kExitUsage, "--user and --cluster are required");
  auto kubeconfig = c.client->kubeconfig(c.s["user"], c.s["cluster"], c.s["ttl"]);
  if (!kubeconfig.ok()) return failed(kubeconfig.status());
  std::cout << kubeconfig->text;
  return kExitOk;
}

int hubList(Ctx& c) {
  return listAllAndPrint<metaserver::HubRecord>(
      c, "/api/v1/hubs" + query({{"all", c.b["all"] ? "true" : ""}}), hubColumns());
}
int hubGet(Ctx& c) { return printAnswer(c, c.client->hub(c.args[0])); }

int hubDrain(Ctx& c) {
  Json body = Json::object();
  if (!c.s["reason"].empty()) body["reason"] = c.s["reason"];
  auto hub = c.client->callAs<metaserver::HubRecord>(
      "POST", "/api/v1/hubs/" + enc(c.args[0]) + "/drain", body);
  if (!hub.ok()) return failed(hub.status());
  if (c.json) return printOne(c, metaserver::toJson(*hub));
  std::cout << "hub " << c.args[0]
            << " draining: its agents move to other hubs; users' requests go elsewhere\n";
  return kExitOk;
}

int hubUndrain(Ctx& c) {
  auto hub = c.client->callAs<metaserver::HubRecord>(
      "POST", "/api/v1/hubs/" + enc(c.args[0]) + "/undrain", Json::object());
  if (!hub.ok()) return failed(hub.status());
  if (c.json) return printOne(c, metaserver::toJson(*hub));
  std::cout << "hub " << c.args[0] << " back in service\n";
  return kExitOk;
}

int caGet(Ctx& c) {
  auto ca = c.client->getText("/api/v1/ca.crt");
  if (!ca.ok()) return failed(ca.status());
  std::cout << ca->body;
  return kExitOk;
}

int keysList(Ctx& c) {
  auto keys = c.client->signingKeys();
  if (!keys.ok()) return failed(keys.status());
  const Json& j = *keys;
  if (c.json) return printOne(c, j);
  std::string active = j.value("activeKeyId", "");
  std::cout << renderTable(
      {field("KID", "kid"),
       field("ALG", "alg"),
       {"ACTIVE", [active](const Json& k) { return k.value("kid", "") == active ? "yes" : "no"; }}},
      j.value("keys", Json::array()));
  return kExitOk;
}
int keysRotate(Ctx& c) {
  auto rotated = c.client->call("POST", "/api/v1/signing-keys/rotate", Json::object());
  if (!rotated.ok()) return failed(rotated.status());
  return printOne(c, *rotated);
}

int auditList(Ctx& c) {
  auto page = c.client->listPage<metaserver::AuditRecord>(
      "/api/v1/audit" + query({{"limit", c.s["limit"]}}), 0);
  if (!page.ok()) return failed(page.status());
  return printList(
      c, pageJson(*page),
      {field("AT", "at"), field("ACTOR", "actor"), field("ACTION", "action"),
       field("RESOURCE", "resource"), field("STATUS", "status"), field("DETAIL", "detail")});
}

int whoami(Ctx& c) { return printAnswer(c, c.client->whoami()); }

// Native commands are the agents'; kubehubctl asks a hub for them (--hub, with a user's
// --token), never the metaserver.

/// Exit codes of `command run` when the command did not exit by itself.
constexpr int kExitCommandTimeout = 124;
constexpr int kExitCommandFailed = 125;

std::unique_ptr<net::HttpClient> hubClient(Ctx& c, int* rc) {
  if (c.s["hub"].empty()) {
    *rc = fail(kExitUsage, "--hub (or KUBEHUB_HUB) is required: the hub's URL, https://HOST:PORT");
    return nullptr;
  }
  if (c.s["cluster"].empty()) {
    *rc = fail(kExitUsage, "--cluster is required");
    return nullptr;
  }
  std::chrono::milliseconds timeout{30000};
  if (auto s = config::parseDuration(c.s["timeout"], &timeout); !s.ok()) {
    *rc = fail(kExitUsage, "--timeout: " + std::string(s.message()));
    return nullptr;
  }
  net::HttpClientOptions options;
  options.timeout = timeout;
  options.tls.ca_file = c.s["hub-ca"].empty() ? c.s["ca-file"] : c.s["hub-ca"];
  options.tls.insecure_skip_verify = c.b["insecure-skip-tls-verify"];
  auto client = net::HttpClient::create(c.s["hub"], options);
  if (!client.ok()) {
    *rc = fail(kExitUsage, std::string(client.status().message()));
    return nullptr;
  }
  return std::move(*client);
}

std::string commandsPath(Ctx& c) {
  return "/clusters/" + enc(c.s["cluster"]) + "/kubehub/v1/commands";
}

/// The message of a Kubernetes Status body (the hub's and the agent's refusals).
int failHttp(const net::HttpClientResponse& res) {
  Json err = Json::parse(res.body, nullptr, false);
  std::string msg = !err.is_discarded() && err.is_object() ? err.value("message", "") : "";
  if (msg.empty()) msg = res.body.substr(0, 300);
  return fail(exitCodeForHttpStatus(res.status),
              msg + " (HTTP " + std::to_string(res.status) + ")");
}

net::HeaderList hubHeaders(Ctx& c) {
  net::HeaderList headers = {{"Accept", "application/json"}};
  if (!c.s["token"].empty()) headers.emplace_back("Authorization", "Bearer " + c.s["token"]);
  return headers;
}

std::string describeParameters(const Json& params) {
  std::string out;
  for (const auto& p : params) {
    out += (out.empty() ? "" : " ") + p.value("name", "") + ":" + p.value("type", "string");
    if (p.value("required", false)) out += "*";
  }
  return out.empty() ? "-" : out;
}

int commandList(Ctx& c) {
  int rc = 0;
  auto client = hubClient(c, &rc);
  if (!client) return rc;
  auto res = client->request("GET", commandsPath(c), "", hubHeaders(c));
  if (!res.ok()) return fail(kExitUnavailable, std::string(res.status().message()));
  if (res->status != 200) return failHttp(*res);
  Json j = Json::parse(res->body, nullptr, false);
  if (j.is_discarded()) return fail(kExitApiError, "the hub's answer is not JSON");
  static const std::vector<Column> columns = {
      field("NAME", "name"),
      {"PARAMETERS",
       [](const Json& i) { return describeParameters(i.value("parameters", Json::array())); }},
      {"TIMEOUT", [](const Json& i) { return std::to_string(i.value("timeoutSeconds", 0)) + "s"; }},
      field("DESCRIPTION", "description")};
  return printList(c, j, columns);
}

int commandRun(Ctx& c) {
  int rc = 0;
  auto client = hubClient(c, &rc);
  if (!client) return rc;
  const std::string name = c.args[0];
  // The listing says each parameter's type, so that `count=3` is sent as a number and `name=3`
  // as a string; `key:=JSON` sends a JSON value as it is.
  std::map<std::string, std::string> types;
  auto listed = client->request("GET", commandsPath(c), "", hubHeaders(c));
  if (listed.ok() && listed->status == 200) {
    Json j = Json::parse(listed->body, nullptr, false);
    if (!j.is_discarded() && j.contains("items")) {
      for (const auto& item : j["items"]) {
        if (item.value("name", "") != name) continue;
        for (const auto& p : item.value("parameters", Json::array()))
          types[p.value("name", "")] = p.value("type", "string");
      }
    }
  }
  Json params = Json::object();
  for (size_t i = 1; i < c.args.size(); ++i) {
    const std::string& a = c.args[i];
    size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      return fail(kExitUsage, "parameters are KEY=VALUE (or KEY:=JSON), not \"" + a + "\"");
    if (a[eq - 1] == ':') {
      Json v = Json::parse(a.substr(eq + 1), nullptr, false);
      if (v.is_discarded()) return fail(kExitUsage, a.substr(0, eq - 1) + ": not JSON");
      params[a.substr(0, eq - 1)] = v;
      continue;
    }
    std::string key = a.substr(0, eq);
    std::string value = a.substr(eq + 1);
    const std::string& type = types[key];
    if (type == "integer") {
      int64_t n = 0;
      if (!absl::SimpleAtoi(value, &n)) return fail(kExitUsage, key + " must be an integer");
      params[key] = n;
    } else if (type == "boolean") {
      if (value != "true" && value != "false")
        return fail(kExitUsage, key + " must be true or false");
      params[key] = value == "true";
    } else {
      params[key] = value;
    }
  }
  net::HeaderList headers = hubHeaders(c);
  headers.emplace_back("Content-Type", "application/json");
  std::string pending;
  Json last;
  auto sink = [&](std::string_view piece) {
    pending.append(piece);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      Json event = Json::parse(pending.substr(0, nl), nullptr, false);
      pending.erase(0, nl + 1);
      if (event.is_discarded() || !event.is_object()) continue;
      if (event.contains("stream")) {
        std::string data = event.value("data", "");
        if (event["stream"] == "stderr") {
          std::cerr << data << std::flush;
        } else {
          std::cout << data << std::flush;
        }
      } else {
        last = std::move(event);
      }
    }
    return true;
  };
  auto res =
      client->stream("POST", commandsPath(c) + "/" + enc(name), params.dump(), headers, sink);
  if (!res.ok()) return fail(kExitUnavailable, std::string(res.status().message()));
  if (res->status != 200) return failHttp(*res);
  if (last.contains("exitCode") && last["exitCode"].is_number_integer())
    return last["exitCode"].get<int>();
  if (last.contains("error")) {
    std::string error = last.value("error", "");
    fail(error == "timeout" ? kExitCommandTimeout : kExitCommandFailed,
         "command " + name + ": " + error + ": " + last.value("message", ""));
    return error == "timeout" ? kExitCommandTimeout : kExitCommandFailed;
  }
  return fail(kExitCommandFailed, "command " + name + ": the answer ended without an exit code");
}

const std::vector<CommandSpec>& commands() {
  static const FlagSpec kDescription{"description", "free text"};
  static const FlagSpec kTenant{"tenant", "tenant name"};
  static const FlagSpec kReason{"reason", "why (shown to admins and hubs, audited)"};
  static const std::vector<CommandSpec> list = {
      {"tenant", "create", "NAME", "create a tenant", {kDescription}, 1, 1, tenantCreate},
      {"tenant", "list", "", "list tenants", {}, 0, 0, tenantList},
      {"tenant", "get", "NAME", "show a tenant", {}, 1, 1, tenantGet},
      {"tenant",
       "disable",
       "NAME",
       "ban a tenant: all its users' tokens are refused",
       {kReason},
       1,
       1,
       tenantDisable},
      {"tenant", "enable", "NAME", "lift a tenant's ban", {}, 1, 1, tenantEnable},
      {"tenant",
       "delete",
       "NAME",
       "delete a tenant (it must have no users or grants)",
       {},
       1,
       1,
       tenantDelete},
      {"user",
       "create",
       "NAME",
       "create a user in a tenant",
       {kTenant,
        {"groups", "comma-separated groups (sent to clusters)"},
        {"roles", "metaserver roles: admin, hub"},
        kDescription},
       1,
       1,
       userCreate},
      {"user", "list", "", "list users", {{"tenant", "only this tenant's users"}}, 0, 0, userList},
      {"user", "get", "NAME", "show a user", {}, 1, 1, userGet},
      {"user",
       "disable",
       "NAME",
       "ban a user: their tokens are refused, no new ones issued",
       {kReason},
       1,
       1,
       userDisable},
      {"user",
       "enable",
       "NAME",
       "lift a user's ban (their tokens work again)",
       {},
       1,
       1,
       userEnable},
      {"user",
       "delete",
       "NAME",
       "delete a user (revokes their tokens, deletes their grants)",
       {},
       1,
       1,
       userDelete},
      {"bans", "", "", "list what is disabled now: tenants, users, clusters", {}, 0, 0, bans},
      {"cluster",
       "create",
       "NAME",
       "register a cluster",
       {{"labels", "k=v,k2=v2"}, kDescription, {"disabled", "create it disabled", true}},
       1,
       1,
       clusterCreate},
      {"cluster",
       "list",
       "",
       "list clusters and their connection status",
       {{"selector", "label selector, e.g. env=prod,region in (eu,us)"}},
       0,
       0,
       clusterList},
      {"cluster",
       "get",
       "NAME",
       "show a cluster: connection (hubs, since, last seen) and its agent's last status report",
       {},
       1,
       1,
       clusterGet},
      {"cluster",
       "update",
       "NAME",
       "change a cluster's labels or description",
       {{"labels", "k=v,k2=v2 (replaces all labels)"}, kDescription},
       1,
       1,
       clusterUpdate},
      {"cluster",
       "disable",
       "NAME",
       "ban a cluster's agent (hubs refuse it)",
       {},
       1,
       1,
       clusterDisable},
      {"cluster", "enable", "NAME", "lift a ban", {}, 1, 1, clusterEnable},
      {"cluster", "delete", "NAME", "delete a cluster", {}, 1, 1, clusterDelete},
      {"cluster",
       "endpoints",
       "NAME",
       "which hubs hold the cluster's tunnel",
       {},
       1,
       1,
       clusterEndpoints},
      {"cluster",
       "bootstrap",
       "NAME",
       "create a one-time bootstrap token and print what the agent needs",
       {{"ttl", "token lifetime (default: the server's, 1h)"}},
       1,
       1,
       clusterBootstrap},
      {"cluster",
       "install",
       "NAME",
       "create a one-time bootstrap token and print the helm install line of the agent "
       "(enrolment mode: the agent makes its key and gets its certificate itself)",
       {{"hub-url", "hubs' tunnel endpoint(s), wss://HOST:PORT/tunnel (comma-separated)"},
        {"namespace", "namespace of the agent in the edge cluster (default kubehub-system)"},
        {"release", "Helm release name (default kubehub-agent)"},
        {"chart", "the agent chart (default deploy/helm/kubehub-agent)"},
        {"hub-ca", "PEM CA bundle of the hubs' serving certificates, passed to the chart"},
        {"metaserver-url",
         "the metaserver's URL as the agent reaches it (default: its --public-url, else "
         "--server)"},
        {"ttl", "how long the token stays usable (default: the server's, 1h)"},
        {"manifest", "print helm template + kubectl apply (plain YAML) instead", true}},
       1,
       1,
       clusterInstall},
      {"cluster",
       "certificate",
       "NAME",
       "send an agent CSR (with --token set to the bootstrap token, or an admin token) and print "
       "the certificate",
       {{"csr", "PEM CSR file"}, {"ca-out", "also write the CA certificate to this file"}},
       1,
       1,
       clusterCertificate},
      {"grant",
       "create",
       "NAME",
       "grant a tenant (or one user of it) access to clusters",
       {kTenant,
        {"user", "only this user (left out: the whole tenant; an empty value is refused)"},
        {"clusters", "cluster names, or *"},
        {"cluster-selector", "clusters by label selector"},
        {"api-groups", "API groups (core for \"\"; default core)"},
        {"resources", "pods,pods/log,deployments,* ..."},
        {"verbs", "get,list,watch,create,update,patch,delete,..."},
        {"namespaces", "namespaces (default *: all, and cluster-scoped)"},
        {"commands", "native commands its users may run on the clusters (names, or *)"},
        {"file", "the whole grant as a JSON file"}},
       0,
       1,
       grantCreate},
      {"grant",
       "list",
       "",
       "list grants",
       {{"tenant", "only this tenant's"}, {"user", "only this user's"}},
       0,
       0,
       grantList},
      {"grant", "get", "NAME", "show a grant", {}, 1, 1, grantGet},
      {"grant", "delete", "NAME", "delete a grant", {}, 1, 1, grantDelete},
      {"token",
       "issue",
       "",
       "issue a token for a user (printed once)",
       {{"user", "user name"}, {"ttl", "lifetime, e.g. 8h"}, kDescription},
       0,
       0,
       tokenIssue},
      {"token",
       "list",
       "",
       "list tokens (never their secrets)",
       {kTenant, {"user", "user name"}},
       0,
       0,
       tokenList},
      {"token", "get", "ID", "show a token's record", {}, 1, 1, tokenGet},
      {"token",
       "revoke",
       "ID",
       "revoke a token (every hub refuses it within a second)",
       {},
       1,
       1,
       tokenRevoke},
      {"kubeconfig",
       "",
       "",
       "print a kubeconfig for a user and a cluster, with a fresh token",
       {{"user", "user name"}, {"cluster", "cluster name"}, {"ttl", "token lifetime, e.g. 8h"}},
       0,
       0,
       kubeconfig},
      {"hub",
       "list",
       "",
       "list live hubs",
       {{"all", "also hubs whose heartbeat expired", true}},
       0,
       0,
       hubList},
      {"hub", "get", "ID", "show a hub", {}, 1, 1, hubGet},
      {"hub",
       "drain",
       "ID",
       "drain a hub: its agents move to other hubs (new tunnel first), users' requests go to the "
       "other hubs; kept across the hub's restarts until undrain",
       {{"reason", "why (shown in hub list -o json and the hub's log)"}},
       1,
       1,
       hubDrain},
      {"hub", "undrain", "ID", "take a drained hub back into service", {}, 1, 1, hubUndrain},
      {"hub",
       "certificate",
       "ID",
       "send a CSR (with --token set to the hub's own token, or an admin token) and print the hub "
       "certificate for peer links (O=kubehub:hubs, CN=ID)",
       {{"csr", "PEM CSR file"}, {"ca-out", "also write the CA certificate to this file"}},
       1,
       1,
       hubCertificate},
      {"ca", "get", "", "print the tunnel CA certificate", {}, 0, 0, caGet},
      {"signing-key", "list", "", "list the token signing keys", {}, 0, 0, keysList},
      {"signing-key", "rotate", "", "make a new signing key active", {}, 0, 0, keysRotate},
      {"audit",
       "list",
       "",
       "show the newest audit records",
       {{"limit", "how many (default 100)"}},
       0,
       0,
       auditList},
      {"whoami", "", "", "show who the token belongs to", {}, 0, 0, whoami},
      {"command",
       "list",
       "",
       "list the native commands a cluster's agent offers (asks a hub, with a user's --token)",
       {{"cluster", "cluster name"},
        {"hub", "the hub's URL, https://HOST:PORT"},
        {"hub-ca", "PEM CA bundle of the hub's certificate (default: --ca-file)"}},
       0,
       0,
       commandList},
      {"command",
       "run",
       "NAME [KEY=VALUE|KEY:=JSON ...]",
       "run a cluster's native command through a hub, printing its stdout and stderr as they "
       "come; exits with its exit code (124: timed out, 125: stopped otherwise)",
       {{"cluster", "cluster name"},
        {"hub", "the hub's URL, https://HOST:PORT"},
        {"hub-ca", "PEM CA bundle of the hub's certificate (default: --ca-file)"}},
       1,
       65,
       commandRun},
  };
  return list;
}

std::string overview() {
  std::string out =
      "Usage: kubehubctl RESOURCE VERB [ARGS] [flags]\n\n"
      "The platform team's client of the kubehub metaserver.\n\nCommands:\n";
  for (const auto& c : commands()) {
    std::string head = c.resource + (c.verb.empty() ? "" : " " + c.verb) +
                       (c.args_usage.empty() ? "" : " " + c.args_usage);
    out +=
        "  " + head + std::string(head.size() < 30 ? 30 - head.size() : 1, ' ') + c.summary + "\n";
  }
  out +=
      "\nGlobal flags (on every command): --server URL (KUBEHUB_SERVER), --token TOKEN "
      "(KUBEHUB_TOKEN),\n"
      "  --ca-file PEM (KUBEHUB_CA_FILE), --insecure-skip-tls-verify, -o/--output table|json, "
      "--timeout 30s,\n"
      "  --page-size 500 (lists are read whole, this many items per request)\n"
      "\nExit codes: 0 ok, 1 API error, 2 usage or configuration error, 3 not found, 4 conflict,\n"
      "  5 unauthenticated or forbidden, 6 server unavailable.\n"
      "\n`kubehubctl RESOURCE VERB --help` shows a command's flags.\n";
  return out;
}

}  // namespace

int runCtl(int argc, char** argv) {
  // The command words are the first arguments that are neither flags nor the values of global
  // flags, so global flags may come first: `kubehubctl -o json tenant list`.
  static const std::vector<std::string_view> kValueFlags = {
      "--server", "--token", "--ca-file", "--output", "-o", "--timeout", "--page-size"};
  std::vector<std::string> words;
  std::vector<std::string> after;  // everything else, in order
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") help = true;
    bool value_flag = std::find(kValueFlags.begin(), kValueFlags.end(), a) != kValueFlags.end();
    if (value_flag && i + 1 < argc) {
      after.emplace_back(a);
      after.emplace_back(argv[++i]);
      continue;
    }
    bool one_word = !words.empty() &&
                    std::any_of(commands().begin(), commands().end(), [&](const CommandSpec& c) {
                      return c.resource == words[0] && c.verb.empty();
                    });
    if (!a.starts_with("-") && (words.empty() || (words.size() == 1 && !one_word))) {
      words.emplace_back(a);
    } else {
      after.emplace_back(a);
    }
  }
  if (words.empty()) {
    std::fputs(overview().c_str(), help ? stdout : stderr);
    return help ? kExitOk : kExitUsage;
  }
  const CommandSpec* spec = nullptr;
  for (const auto& c : commands()) {
    if (c.resource == words[0] && (c.verb.empty() || (words.size() == 2 && c.verb == words[1]))) {
      spec = &c;
      break;
    }
  }
  if (spec == nullptr) {
    std::string known;
    for (const auto& c : commands()) {
      if (c.resource == words[0]) known += (known.empty() ? "" : ", ") + c.verb;
    }
    if (known.empty())
      return fail(kExitUsage, "unknown command \"" + words[0] + "\" (see kubehubctl --help)");
    return fail(kExitUsage, "\"" + words[0] + "\" needs one of: " + known);
  }
  Ctx c;
  std::string program = "kubehubctl " + spec->resource +
                        (spec->verb.empty() ? "" : " " + spec->verb) +
                        (spec->args_usage.empty() ? "" : " " + spec->args_usage);
  config::FlagSet flags(program, spec->summary);
  c.s["output"] = "table";
  c.s["timeout"] = "30s";
  flags.addString("server", &c.s["server"], "metaserver URL, https://HOST:PORT");
  flags.addString("token", &c.s["token"], "bearer token");
  flags.addString("ca-file", &c.s["ca-file"],
                  "PEM CA bundle that signed the metaserver's certificate");
  flags.addBool("insecure-skip-tls-verify", &c.b["insecure-skip-tls-verify"],
                "do not verify the server (never in production)");
  flags.addString("output", &c.s["output"], "table or json (also -o)");
  flags.addString("timeout", &c.s["timeout"], "request timeout");
  c.s["page-size"] = "500";
  flags.addString("page-size", &c.s["page-size"],
                  "items per request when listing (lists are read whole, page by page)");
  for (const auto& f : spec->flags) {
    if (f.is_bool) {
      flags.addBool(f.name, &c.b[f.name], f.help);
    } else {
      flags.addString(f.name, &c.s[f.name], f.help);
    }
  }
  // Rebuild argv for the flag parser: the program name, then what follows the command words.
  std::vector<std::string> rest = {program};
  for (std::string a : after) {
    if (a == "-o") a = "--output";
    if (a.starts_with("-o") && a.size() > 2 && a[2] != '-') a = "--output=" + a.substr(2);
    rest.push_back(a);
  }
  std::vector<char*> args;
  for (auto& a : rest) args.push_back(a.data());
  if (auto s = flags.parse(static_cast<int>(args.size()), args.data()); !s.ok()) {
    return fail(kExitUsage, std::string(s.message()));
  }
  if (flags.helpRequested()) {
    std::fputs(flags.usage().c_str(), stdout);
    return kExitOk;
  }
  c.args = flags.args();
  for (const auto& f : spec->flags) {
    if (flags.given(f.name)) c.given.insert(f.name);
  }
  if (c.args.size() < spec->min_args || c.args.size() > spec->max_args) {
    return fail(kExitUsage, "usage: " + program + " [flags] (see --help)");
  }
  if (c.s["output"] != "table" && c.s["output"] != "json")
    return fail(kExitUsage, "--output must be table or json");
  c.json = c.s["output"] == "json";
  if (!absl::SimpleAtoi(c.s["page-size"], &c.page_size) || c.page_size < 1 || c.page_size > 10000) {
    return fail(kExitUsage, "--page-size must be an integer between 1 and 10000");
  }
  // Native commands go to a hub (hubClient), not to the metaserver.
  if (spec->resource == "command") return spec->run(c);
  if (c.s["server"].empty()) return fail(kExitUsage, "--server (or KUBEHUB_SERVER) is required");
  std::chrono::milliseconds timeout{30000};
  if (auto s = config::parseDuration(c.s["timeout"], &timeout); !s.ok())
    return fail(kExitUsage, "--timeout: " + std::string(s.message()));
  metaserver::MetaserverClientOptions options;
  options.url = c.s["server"];
  options.token = c.s["token"];
  options.timeout = timeout;
  options.tls.ca_file = c.s["ca-file"];
  options.tls.insecure_skip_verify = c.b["insecure-skip-tls-verify"];
  auto client = metaserver::MetaserverClient::create(std::move(options));
  if (!client.ok()) return fail(kExitUsage, std::string(client.status().message()));
  c.client = std::move(*client);
  return spec->run(c);
}

}  // namespace kubehub::ctl
