// The store's aggregates against a real PostgreSQL: each one's round trip, and the failures
// their callers rely on (a duplicate is AlreadyExists, a missing row NotFound, pages continue
// and end, a transaction that fails leaves nothing).
#include "metaserver/store/store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "metaserver/store/migrations.h"
#include "metaserver/store/query.h"
#include "tests/integration/test_postgres.h"

namespace kubehub::metaserver {
namespace {

using namespace std::chrono_literals;

class StoreTest : public ::testing::Test {
 protected:
  // One server for the suite (initdb takes seconds), a database of its own for each test.
  static void SetUpTestSuite() { pg_ = new integration::TestPostgres(); }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    // `make deps` installs PostgreSQL 15: without it these tests fail rather than pass unseen.
    ASSERT_TRUE(pg_->running()) << "no PostgreSQL 15 server to start (set KUBEHUB_PGBIN)";
    std::string db = "store_" + std::to_string(++databases_);
    {
      auto admin = PgConnection::connect(pg_->conninfo());
      ASSERT_TRUE(admin.ok()) << admin.status();
      ASSERT_TRUE((*admin)->run("CREATE DATABASE " + db).ok());
    }
    std::string conninfo = pg_->conninfo();
    conninfo.replace(conninfo.find("dbname=postgres"), 15, "dbname=" + db);
    auto conn = PgConnection::connect(conninfo);
    ASSERT_TRUE(conn.ok()) << conn.status();
    auto applied = applyMigrations(**conn, builtinMigrations());
    ASSERT_TRUE(applied.ok()) << applied.status();
    pool_ = std::make_shared<PgPool>(conninfo, 2, 5s);
    store_ = std::make_unique<Store>(pool_, 30s);
    conninfo_ = conninfo;
  }

  /// A connection of the test's own, outside the store's pool.
  std::unique_ptr<PgConnection> connect() {
    auto c = PgConnection::connect(conninfo_);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  /// Waits until another session of this database waits for a lock, or `done` is ready (it
  /// did not block); false after 10 s of neither.
  template <class T>
  bool blockedOrDone(std::future<T>& done) {
    auto watcher = connect();
    if (!watcher) return false;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done.wait_for(0s) == std::future_status::ready) return true;
      auto waiting = watcher->exec(
          "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
          "wait_event_type = 'Lock'");
      if (waiting.ok() && waiting->int64(0, 0) > 0) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  static ClusterRecord clusterNamed(const std::string& name) {
    ClusterRecord c;
    c.name = name;
    return c;
  }
  void tenant(const std::string& name) {
    ASSERT_TRUE(store_->identity().createTenant({name, "", 0, {}}).ok());
  }
  void user(const std::string& name, const std::string& tenant) {
    ASSERT_TRUE(store_->identity().createUser({name, tenant, {}, {}, "", 0, {}}).ok());
  }
  TokenRecord token(const std::string& id, const std::string& user, int64_t issued_at) {
    TokenRecord t{id, user, "acme", "", "k1", issued_at, issued_at + 3600, std::nullopt, "admin"};
    EXPECT_TRUE(store_->credentials().insertToken(t, "hash-" + id).ok());
    return t;
  }

  static inline integration::TestPostgres* pg_ = nullptr;
  static inline int databases_ = 0;
  std::string conninfo_;
  std::shared_ptr<PgPool> pool_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, IdentityRoundTripAndBans) {
  Identity& id = store_->identity();
  auto t = id.createTenant({"acme", "the first", 0, {}});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->description, "the first");
  EXPECT_GT(t->created_at, 0);
  auto u = id.createUser({"ann", "acme", {"dev"}, {"admin"}, "", 0, {}});
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->groups, std::vector<std::string>{"dev"});

  auto banned = id.setUserBan("ann", {true, "left"});
  ASSERT_TRUE(banned.ok()) << banned.status();
  EXPECT_TRUE(banned->ban.disabled);
  EXPECT_EQ(banned->ban.reason, "left");
  ASSERT_TRUE(banned->ban.since.has_value());
  // Disabled again without a reason: the first reason and time stay.
  auto again = id.setUserBan("ann", {true, std::nullopt});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ban.reason, "left");
  EXPECT_EQ(again->ban.since, banned->ban.since);
  ASSERT_TRUE(id.setTenantBan("acme", {true, "unpaid"}).ok());

  auto bans = id.bans();
  ASSERT_TRUE(bans.ok()) << bans.status();
  ASSERT_EQ(bans->users.size(), 1u);
  EXPECT_EQ(bans->users[0].name, "ann");
  EXPECT_EQ(bans->users[0].tenant, "acme");
  ASSERT_EQ(bans->tenants.size(), 1u);
  EXPECT_EQ(bans->tenants[0].reason, "unpaid");

  auto lifted = id.setUserBan("ann", {false, std::nullopt});
  ASSERT_TRUE(lifted.ok());
  EXPECT_FALSE(lifted->ban.disabled);
  EXPECT_FALSE(lifted->ban.since.has_value());
  auto got = id.getUser("ann");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->roles, std::vector<std::string>{"admin"});
}

TEST_F(StoreTest, DuplicatesAreAlreadyExistsNamingTheThing) {
  tenant("acme");
  auto t = store_->identity().createTenant({"acme", "", 0, {}});
  EXPECT_EQ(t.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(t.status().message(), "tenant \"acme\" already exists");
  user("ann", "acme");
  auto u = store_->identity().createUser({"ann", "acme", {}, {}, "", 0, {}});
  EXPECT_EQ(u.status().message(), "user \"ann\" already exists");
  ASSERT_TRUE(store_->clusters().createCluster(clusterNamed("edge")).ok());
  auto c = store_->clusters().createCluster(clusterNamed("edge"));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(c.status().message(), "cluster \"edge\" already exists");
}

TEST_F(StoreTest, MissingRowsAndParentsAreNotFound) {
  auto t = store_->identity().getTenant("nope");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(t.status().message(), "tenant \"nope\" not found");
  // A foreign key that refuses the row names the missing parent.
  auto u = store_->identity().createUser({"ann", "nope", {}, {}, "", 0, {}});
  EXPECT_EQ(u.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(u.status().message(), "tenant \"nope\" not found");
  EXPECT_EQ(store_->clusters().deleteCluster("edge").message(), "cluster \"edge\" not found");
  EXPECT_EQ(store_->identity().deleteUser("ann").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->credentials().getToken("t1").status().message(), "token \"t1\" not found");
  EXPECT_EQ(store_->registry().getHub("hub-1").status().message(), "hub \"hub-1\" not found");
  // ... and one that keeps children: a conflict that says what to do.
  tenant("acme");
  user("ann", "acme");
  absl::Status s = store_->identity().deleteTenant("acme");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "tenant \"acme\" still has users or grants: delete them first");
}

TEST_F(StoreTest, PagesContinueAndEnd) {
  for (const char* name : {"e", "b", "d", "a", "c"}) tenant(name);
  std::vector<std::string> seen;
  PageQuery page{{}, 2};
  int pages = 0;
  for (;; ++pages) {
    ASSERT_LT(pages, 5) << "paging does not end";
    auto list = store_->identity().listTenants(page);
    ASSERT_TRUE(list.ok()) << list.status();
    EXPECT_LE(list->items.size(), 2u);
    for (const auto& t : list->items) seen.push_back(t.name);
    if (list->next.empty()) break;
    page.after = list->next;
  }
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  auto everything = store_->identity().listTenants();
  ASSERT_TRUE(everything.ok());
  EXPECT_EQ(everything->items.size(), 5u);
  EXPECT_TRUE(everything->next.empty());
}

TEST_F(StoreTest, FailedTransactionLeavesNothing) {
  absl::Status s = sql::transaction(*pool_, [](PgConnection& c) -> absl::Status {
    if (auto w = sql::exec(c, "INSERT INTO tenants (name) VALUES ('ghost')"); !w.ok()) return w;
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store_->identity().getTenant("ghost").status().code(), absl::StatusCode::kNotFound);

  // The same with a value: a failed statement after a write rolls the write back.
  auto r = sql::transaction(*pool_, [](PgConnection& c) -> absl::StatusOr<int> {
    if (auto w = sql::exec(c, "INSERT INTO tenants (name) VALUES ('ghost')"); !w.ok()) return w;
    if (auto w = sql::exec(c, "INSERT INTO tenants (name) VALUES ('ghost')", {},
                           sql::about("tenant", "ghost"));
        !w.ok())
      return w;
    return 1;
  });
  EXPECT_EQ(r.status().message(), "tenant \"ghost\" already exists");
  EXPECT_EQ(store_->identity().getTenant("ghost").status().code(), absl::StatusCode::kNotFound);

  // A grant for a user of another tenant is refused before anything is written.
  tenant("acme");
  tenant("other");
  user("ann", "other");
  auth::Grant g;
  g.name = "g1";
  g.tenant = "acme";
  g.user = "ann";
  g.cluster_names = {"*"};
  g.commands = {"*"};
  auto grant = store_->grants().createGrant(g);
  EXPECT_EQ(grant.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->grants().getGrant("g1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, ClustersAndGrants) {
  ClusterRecord cl;
  cl.name = "edge-1";
  cl.labels = {{"zone", "north"}};
  auto created = store_->clusters().createCluster(cl);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->labels.at("zone"), "north");
  EXPECT_TRUE(created->hubs.empty());
  ClusterPatch patch;
  patch.description = "north edge";
  patch.disabled = true;
  auto updated = store_->clusters().updateCluster("edge-1", patch);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->description, "north edge");
  EXPECT_TRUE(updated->disabled);
  EXPECT_EQ(updated->labels.at("zone"), "north");
  EXPECT_EQ(store_->clusters().updateCluster("edge-2", patch).status().code(),
            absl::StatusCode::kNotFound);

  tenant("acme");
  auth::Grant g;
  g.name = "g1";
  g.tenant = "acme";
  g.cluster_selector = "zone=north";
  g.commands = {"*"};
  auto grant = store_->grants().createGrant(g);
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(grant->grant.cluster_selector, "zone=north");
  EXPECT_EQ(store_->grants().createGrant(g).status().message(), "grant \"g1\" already exists");
  g.name = "g2";
  g.tenant = "nope";
  EXPECT_EQ(store_->grants().createGrant(g).status().message(), "tenant \"nope\" not found");
  auto list = store_->grants().listGrants("acme", "");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0].grant.name, "g1");
  EXPECT_TRUE(store_->grants().deleteGrant("g1").ok());
  EXPECT_EQ(store_->grants().deleteGrant("g1").message(), "grant \"g1\" not found");
  EXPECT_TRUE(store_->clusters().deleteCluster("edge-1").ok());
}

TEST_F(StoreTest, TokensRevocationsAndTheirPages) {
  tenant("acme");
  user("ann", "acme");
  // Issued in one second: the page key's second column (the id) orders them.
  for (const char* id : {"t3", "t1", "t2"}) token(id, "ann", 1'900'000'000);
  std::vector<std::string> seen;
  PageQuery page{{}, 2};
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 3) << "paging does not end";
    auto list = store_->credentials().listTokens("acme", "ann", page);
    ASSERT_TRUE(list.ok()) << list.status();
    for (const auto& t : list->items) seen.push_back(t.id);
    if (list->next.empty()) break;
    EXPECT_EQ(list->next.size(), 2u);
    page.after = list->next;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"t1", "t2", "t3"}));

  auto state = store_->credentials().tokenState("t1");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_FALSE(state->revoked);
  EXPECT_TRUE(state->user_exists);
  auto revoked = store_->credentials().revokeToken("t1");
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_TRUE(revoked->revoked_at.has_value());
  // Deleting the user revokes the rest, each once in the feed.
  ASSERT_TRUE(store_->identity().deleteUser("ann").ok());
  state = store_->credentials().tokenState("t2");
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->revoked);
  EXPECT_FALSE(state->user_exists);
  auto feed = store_->credentials().revocationsSince(0, 10);
  ASSERT_TRUE(feed.ok()) << feed.status();
  ASSERT_EQ(feed->items.size(), 3u);
  EXPECT_EQ(feed->items[0].token_id, "t1");
  EXPECT_FALSE(feed->more);
  // A page shorter than the feed says more follows, until the last page.
  auto first = store_->credentials().revocationsSince(0, 2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->items.size(), 2u);
  EXPECT_TRUE(first->more);
  auto last = store_->credentials().revocationsSince(first->cursor, 2);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->items.size(), 1u);
  EXPECT_FALSE(last->more);
  EXPECT_EQ(last->cursor, feed->cursor);
  auto exact = store_->credentials().revocationsSince(0, 3);
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_FALSE(exact->more);
  auto rest = store_->credentials().revocationsSince(feed->cursor, 10);
  ASSERT_TRUE(rest.ok());
  EXPECT_TRUE(rest->items.empty());
  EXPECT_FALSE(rest->more);
  EXPECT_EQ(rest->cursor, feed->cursor);
  // A cursor from the future comes back to what exists.
  auto future = store_->credentials().revocationsSince(feed->cursor + 100, 10);
  ASSERT_TRUE(future.ok());
  EXPECT_EQ(future->cursor, feed->cursor);
}

// A token recorded while its user is being deleted: the deletion holds the user's row, so the
// token waits and then is refused (never left unrevoked for a user that is gone).
TEST_F(StoreTest, TokenForAUserDeletedMeanwhileIsRefused) {
  tenant("acme");
  user("ann", "acme");
  auto deleting = connect();
  ASSERT_TRUE(deleting);
  ASSERT_TRUE(deleting->run("BEGIN").ok());
  ASSERT_TRUE(deleting->run("SELECT 1 FROM users WHERE name = 'ann' FOR UPDATE").ok());
  TokenRecord t{"t1", "ann", "acme", "", "k1", 1'900'000'000, 1'900'003'600, std::nullopt, "admin"};
  auto inserted = std::async(std::launch::async,
                             [&] { return store_->credentials().insertToken(t, "hash-t1"); });
  ASSERT_TRUE(blockedOrDone(inserted));
  ASSERT_TRUE(deleting->run("DELETE FROM users WHERE name = 'ann'").ok());
  ASSERT_TRUE(deleting->run("COMMIT").ok());
  absl::Status s = inserted.get();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_EQ(s.message(), "user \"ann\" not found");
  EXPECT_EQ(store_->credentials().getToken("t1").status().code(), absl::StatusCode::kNotFound);
  // A user now of another tenant than the one read before: refused too.
  tenant("other");
  user("ann", "other");
  EXPECT_EQ(store_->credentials().insertToken(t, "hash-t1").code(),
            absl::StatusCode::kFailedPrecondition);
}

// A token recorded just before its user is deleted: the deletion waits for it and revokes it.
TEST_F(StoreTest, UserDeletionWaitsForATokenBeingRecordedAndRevokesIt) {
  tenant("acme");
  user("ann", "acme");
  // What insertToken does, held open: the user's row shared, the token inserted.
  auto issuing = connect();
  ASSERT_TRUE(issuing);
  ASSERT_TRUE(issuing->run("BEGIN").ok());
  ASSERT_TRUE(issuing->run("SELECT 1 FROM users WHERE name = 'ann' FOR SHARE").ok());
  ASSERT_TRUE(issuing
                  ->run("INSERT INTO tokens (id, username, tenant, token_hash, kid, issued_at, "
                        "expires_at, issued_by) VALUES ('t1', 'ann', 'acme', 'h', 'k1', now(), "
                        "now() + interval '1 hour', 'admin')")
                  .ok());
  auto deleted =
      std::async(std::launch::async, [&] { return store_->identity().deleteUser("ann"); });
  ASSERT_TRUE(blockedOrDone(deleted));
  ASSERT_TRUE(issuing->run("COMMIT").ok());
  absl::Status s = deleted.get();
  ASSERT_TRUE(s.ok()) << s;
  auto state = store_->credentials().tokenState("t1");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_TRUE(state->revoked);
  EXPECT_FALSE(state->user_exists);
  auto feed = store_->credentials().revocationsSince(0, 10);
  ASSERT_TRUE(feed.ok()) << feed.status();
  ASSERT_EQ(feed->items.size(), 1u);
  EXPECT_EQ(feed->items[0].token_id, "t1");
}

TEST_F(StoreTest, SigningKeysAndBootstrapTokens) {
  Credentials& creds = store_->credentials();
  ASSERT_TRUE(creds.rotateSigningKey({"k1", "private-1", "public-1", true, 0, std::nullopt}).ok());
  ASSERT_TRUE(creds.rotateSigningKey({"k2", "private-2", "public-2", true, 0, std::nullopt}).ok());
  auto keys = creds.signingKeys();
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].kid, "k1");
  EXPECT_FALSE((*keys)[0].active);
  EXPECT_TRUE((*keys)[0].retired_at.has_value());
  EXPECT_EQ((*keys)[1].private_pem, "private-2");
  EXPECT_TRUE((*keys)[1].active);

  EXPECT_EQ(creds.createBootstrapToken("b0", "nope", "h0", 4'000'000'000, "admin").message(),
            "cluster \"nope\" not found");
  ASSERT_TRUE(store_->clusters().createCluster(clusterNamed("edge")).ok());
  ASSERT_TRUE(creds.createBootstrapToken("b1", "edge", "h1", 4'000'000'000, "admin").ok());
  auto valid = creds.bootstrapTokenValid("edge", "h1");
  ASSERT_TRUE(valid.ok());
  EXPECT_TRUE(*valid);
  // The certificate cannot be recorded (its serial is taken): the token stays unused.
  CertificateRecord cert{"01", "agent", "edge", 4'000'000'000, "bootstrap-token"};
  ASSERT_TRUE(store_->pki().recordCertificate(cert).ok());
  EXPECT_EQ(creds.consumeBootstrapToken("edge", "h1", cert).code(),
            absl::StatusCode::kAlreadyExists);
  valid = creds.bootstrapTokenValid("edge", "h1");
  ASSERT_TRUE(valid.ok());
  EXPECT_TRUE(*valid);
  cert.serial = "02";
  EXPECT_TRUE(creds.consumeBootstrapToken("edge", "h1", cert).ok());
  cert.serial = "03";
  EXPECT_EQ(creds.consumeBootstrapToken("edge", "h1", cert).code(),
            absl::StatusCode::kPermissionDenied);
  valid = creds.bootstrapTokenValid("edge", "h1");
  ASSERT_TRUE(valid.ok());
  EXPECT_FALSE(*valid);
  // Only the certificate issued with the token was recorded.
  auto serials =
      sql::all(*pool_, "SELECT serial FROM certificates ORDER BY serial", {}, sql::firstText);
  ASSERT_TRUE(serials.ok()) << serials.status();
  EXPECT_EQ(*serials, (std::vector<std::string>{"01", "02"}));
}

TEST_F(StoreTest, PkiBootstrapsOnce) {
  auto none = store_->pki().loadCa();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  int made = 0;
  auto make_key = [&]() -> absl::StatusOr<SigningKeyRecord> {
    ++made;
    return SigningKeyRecord{"k1", "private", "public", true, 0, std::nullopt};
  };
  auto make_ca = [&]() -> absl::StatusOr<CaRecord> {
    ++made;
    return CaRecord{"ca-cert", "ca-key"};
  };
  auto box = SecretBox::plaintext();
  ASSERT_TRUE(bootstrapSecrets(*pool_, make_key, make_ca, true, *box).ok());
  ASSERT_TRUE(bootstrapSecrets(*pool_, make_key, make_ca, true, *box).ok());
  EXPECT_EQ(made, 2);
  auto ca = store_->pki().loadCa();
  ASSERT_TRUE(ca.ok()) << ca.status();
  ASSERT_TRUE(ca->has_value());
  EXPECT_EQ((*ca)->cert_pem, "ca-cert");
  EXPECT_EQ((*ca)->key_pem, "ca-key");
  EXPECT_TRUE(
      store_->pki().recordCertificate({"01", "agent", "edge", 4'000'000'000, "admin"}).ok());

  // Encryption configured later: the next start seals both keys, and a store with the box
  // opens them again.
  auto sealing = SecretBox::fromKeys("k1:" + std::string(43, 'A') + "=");
  ASSERT_TRUE(sealing.ok()) << sealing.status();
  ASSERT_TRUE(bootstrapSecrets(*pool_, make_key, make_ca, true, **sealing).ok());
  EXPECT_EQ(made, 2);
  auto stored = sql::one(*pool_, "SELECT key_pem FROM certificate_authority", {}, sql::firstText);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(SecretBox::isSealed(*stored));
  Store sealed_store(pool_, 30s, *sealing);
  auto opened = sealed_store.pki().loadCa();
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_TRUE(opened->has_value());
  EXPECT_EQ((*opened)->key_pem, "ca-key");
  auto keys = sealed_store.credentials().signingKeys();
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].private_pem, "private");
}

TEST_F(StoreTest, RegistryRoutesClustersThroughLiveHubs) {
  HubRegistry& reg = store_->registry();
  ASSERT_TRUE(store_->clusters().createCluster(clusterNamed("edge")).ok());
  auto hub = reg.heartbeatHub("hub-1", {{"agents", "wss://hub-1"}}, 1, 0.5, "v1", "i1");
  ASSERT_TRUE(hub.ok()) << hub.status();
  EXPECT_TRUE(hub->alive);
  EXPECT_EQ(reg.putConnection("edge", "hub-2").message(),
            "hub \"hub-2\" is not registered: PUT /api/v1/hubs/hub-2 first");
  EXPECT_EQ(reg.putConnection("nope", "hub-1").message(), "cluster \"nope\" not found");
  ASSERT_TRUE(reg.putConnection("edge", "hub-1").ok());
  auto eps = reg.endpoints("edge");
  ASSERT_TRUE(eps.ok()) << eps.status();
  ASSERT_EQ(eps->size(), 1u);
  EXPECT_EQ((*eps)[0].addresses.at("agents"), "wss://hub-1");
  auto stored = reg.putClusterStatus("hub-1", {{"edge", R"({"nodes": 3})"}, {"nope", "{}"}});
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, std::vector<std::string>{"edge"});
  auto cl = store_->clusters().getCluster("edge");
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->hubs, std::vector<std::string>{"hub-1"});
  EXPECT_EQ(cl->reported_by, "hub-1");

  auto table = reg.routingTable();
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->hubs.size(), 1u);
  ASSERT_EQ(table->connections.size(), 1u);
  EXPECT_EQ(table->connections[0].cluster, "edge");
  auto drained = reg.setHubDraining("hub-1", true, "upgrade");
  ASSERT_TRUE(drained.ok());
  EXPECT_TRUE(drained->draining);
  // Another process under the same id is a restart: its connections are gone.
  ASSERT_TRUE(reg.heartbeatHub("hub-1", {}, 0, 0, "v1", "i2").ok());
  EXPECT_EQ(reg.deleteConnection("edge", "hub-1").message(),
            "cluster \"edge\" has no connection on hub \"hub-1\"");
  auto hubs = reg.listHubs(true);
  ASSERT_TRUE(hubs.ok());
  EXPECT_EQ(hubs->items.size(), 1u);
  EXPECT_TRUE(reg.announceExpiredHubs(5s).ok());
  EXPECT_TRUE(reg.deleteHub("hub-1").ok());
  EXPECT_EQ(reg.deleteHub("hub-1").message(), "hub \"hub-1\" not found");
  EXPECT_TRUE(store_->pruneExpired().ok());
}

// A drain mark is kept until an admin undrains, whatever happens to the hub's registration:
// pruned after ten registry TTLs of silence, or deleted by the hub itself as it stops.
TEST_F(StoreTest, DrainMarkOutlivesTheRegistration) {
  HubRegistry& reg = store_->registry();
  ASSERT_TRUE(reg.heartbeatHub("hub-1", {}, 0, 0, "v1", "i1").ok());
  ASSERT_TRUE(reg.setHubDraining("hub-1", true, "upgrade").ok());
  auto silent = [&] {
    ASSERT_TRUE(sql::exec(*pool_,
                          "UPDATE hubs SET last_heartbeat = now() - interval '1 hour' WHERE id = "
                          "'hub-1'")
                    .ok());
  };
  auto back = [&](const std::string& instance) {
    auto hub = reg.heartbeatHub("hub-1", {}, 0, 0, "v1", instance);
    EXPECT_TRUE(hub.ok()) << hub.status();
    return hub.ok() ? *hub : HubRecord{};
  };

  silent();
  ASSERT_TRUE(store_->pruneExpired().ok());
  EXPECT_EQ(reg.getHub("hub-1").status().code(), absl::StatusCode::kNotFound);
  HubRecord hub = back("i2");
  EXPECT_TRUE(hub.draining);
  EXPECT_EQ(hub.drain_reason, "upgrade");
  auto table = reg.routingTable();
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->hubs.size(), 1u);
  EXPECT_TRUE(table->hubs[0].draining);

  // Deregistered as it stops, then started again.
  ASSERT_TRUE(reg.deleteHub("hub-1").ok());
  EXPECT_TRUE(back("i3").draining);

  // Undrained while away: it comes back in service.
  ASSERT_TRUE(reg.deleteHub("hub-1").ok());
  auto undrained = reg.setHubDraining("hub-1", false, "");
  ASSERT_TRUE(undrained.ok()) << undrained.status();
  EXPECT_EQ(undrained->id, "hub-1");
  EXPECT_FALSE(undrained->alive);
  EXPECT_FALSE(undrained->draining);
  EXPECT_FALSE(back("i4").draining);

  // Undrained while registered: gone for good, pruned or not.
  ASSERT_TRUE(reg.setHubDraining("hub-1", true, "again").ok());
  ASSERT_TRUE(reg.setHubDraining("hub-1", false, "").ok());
  silent();
  ASSERT_TRUE(store_->pruneExpired().ok());
  EXPECT_FALSE(back("i5").draining);
  // Neither registered nor marked: not found.
  EXPECT_EQ(reg.setHubDraining("hub-9", false, "").status().message(), "hub \"hub-9\" not found");
  EXPECT_EQ(reg.setHubDraining("hub-9", true, "x").status().code(), absl::StatusCode::kNotFound);

  // A change of the live row made by anyone else (a replica of an older version, which knows
  // nothing of hub_drains; an operator's SQL) moves the mark with it.
  ASSERT_TRUE(
      sql::exec(*pool_,
                "UPDATE hubs SET draining = true, drain_reason = 'by hand' WHERE id = 'hub-1'")
          .ok());
  ASSERT_TRUE(reg.deleteHub("hub-1").ok());
  hub = back("i6");
  EXPECT_TRUE(hub.draining);
  EXPECT_EQ(hub.drain_reason, "by hand");
  ASSERT_TRUE(sql::exec(*pool_, "UPDATE hubs SET draining = false WHERE id = 'hub-1'").ok());
  ASSERT_TRUE(reg.deleteHub("hub-1").ok());
  EXPECT_FALSE(back("i7").draining);
}

TEST_F(StoreTest, AuditNewestFirst) {
  for (int i = 1; i <= 3; ++i) {
    AuditRecord a;
    a.actor = "admin";
    a.action = "POST /api/v1/tenants";
    a.resource = "tenants/t" + std::to_string(i);
    a.status = 201;
    ASSERT_TRUE(store_->audit().insertAudit(a).ok());
  }
  auto list = store_->audit().listAudit(2);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].resource, "tenants/t3");
  EXPECT_EQ((*list)[1].resource, "tenants/t2");
  EXPECT_EQ((*list)[0].status, 201);
}

}  // namespace
}  // namespace kubehub::metaserver
