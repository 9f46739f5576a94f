// What clients and the log learn when PostgreSQL is down: clients get what failed, never where
// the database lives; the log gets libpq's text without the password.
#include <gtest/gtest.h>

#include "metaserver/api/api_server.h"
#include "metaserver/store/pg.h"

namespace kubehub::metaserver {
namespace {

// libpq's messages for a socket and a TCP server that are down.
constexpr const char* kSocketDown =
    "database unavailable: connection to server on socket \"/tmp/kubehub-pg-x1/.s.PGSQL.5432\" "
    "failed: No such file or directory";
constexpr const char* kTcpDown =
    "database unavailable: connection to server at \"db.internal\" (10.0.3.7), port 6432 failed: "
    "Connection refused";

TEST(ClientErrorMessageTest, UnavailableSaysWhatFailedNotWhere) {
  for (const char* detail : {kSocketDown, kTcpDown}) {
    absl::Status s = absl::UnavailableError(detail);
    int code = httpStatusFor(s);
    ASSERT_EQ(code, 503);
    std::string message = clientErrorMessage(s, code);
    EXPECT_NE(message.find("database unavailable"), std::string::npos) << message;
    EXPECT_NE(message.find("retry"), std::string::npos) << message;
    for (const char* leak : {"/tmp", ".s.PGSQL", "socket", "db.internal", "10.0.3.7", "6432"}) {
      EXPECT_EQ(message.find(leak), std::string::npos) << leak << " in: " << message;
    }
  }
}

TEST(ClientErrorMessageTest, InternalErrorsAreHiddenAndOthersKept) {
  absl::Status internal = absl::InternalError("database error: relation \"x\" does not exist");
  EXPECT_EQ(clientErrorMessage(internal, 500), "internal error (see the metaserver log)");
  absl::Status missing = absl::NotFoundError("cluster \"edge-1\" not found");
  EXPECT_EQ(clientErrorMessage(missing, 404), "cluster \"edge-1\" not found");
  absl::Status media = absl::InvalidArgumentError("unsupported media type");
  EXPECT_EQ(clientErrorMessage(media, 415), "send the request body as application/json");
}

TEST(RedactConninfoPasswordTest, KeyValueAndUri) {
  EXPECT_EQ(redactConninfoPassword("password authentication failed (s3cr3t-pw)",
                                   "host=db user=app password=s3cr3t-pw dbname=kubehub"),
            "password authentication failed (***)");
  EXPECT_EQ(redactConninfoPassword("bad thing near s3cr3t-pw@db",
                                   "postgresql://app:s3cr3t-pw@db:5432/kubehub"),
            "bad thing near ***@db");
  // Unparseable conninfo (libpq then quotes pieces of it back).
  EXPECT_EQ(redactConninfoPassword("missing \"=\" after \"junk password=s3cr3t-pw\"",
                                   "host=db junk password=s3cr3t-pw"),
            "missing \"=\" after \"junk password=***\"");
  EXPECT_EQ(redactConninfoPassword("no secret here", "host=/tmp/x user=postgres"),
            "no secret here");
  EXPECT_EQ(validateConninfo("host=db junk password=s3cr3t-pw").message().find("s3cr3t-pw"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace kubehub::metaserver
