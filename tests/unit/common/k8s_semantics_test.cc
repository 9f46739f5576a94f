// The Kubernetes semantics library against cases derived from apimachinery's own behaviour:
// what the API server accepts, what it refuses, and the exact words and codes it refuses with.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/k8s/api_error.h"
#include "common/k8s/field_selector.h"
#include "common/k8s/label_selector.h"
#include "common/k8s/list_options.h"
#include "common/k8s/query.h"
#include "common/k8s/rfc3339.h"
#include "common/k8s/validation.h"

namespace kubehub::k8s {
namespace {

const std::string kNameMsg =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const std::string kPrefixMsg =
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
    "'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const std::string kValueMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const std::string kGtLt = "for 'Gt', 'Lt' operators, the value must be an integer";
const std::string kReq = "unable to parse requirement: ";

struct Answer {
  int code = 0;
  std::string reason;
  std::string message;
  nlohmann::json body;
};

Answer answerOf(const absl::Status& s) {
  auto b = apiErrorBody(s);
  EXPECT_TRUE(b.has_value()) << s;
  if (!b) return {};
  auto j = nlohmann::json::parse(b->body);
  return {b->code, j.value("reason", ""), j.value("message", ""), j};
}

struct BadLabel {
  std::string text;
  std::string message;
};

TEST(LabelSelectorParse, RefusesWithTheServersWords) {
  const std::vector<BadLabel> cases = {
      {"-x.io/k=v", kReq + "<nil>: Invalid value: \"-x.io/k\": " + kPrefixMsg},
      {"x..io/k=v", kReq + "<nil>: Invalid value: \"x..io/k\": " + kPrefixMsg},
      {"A/b=c", kReq + "<nil>: Invalid value: \"A/b\": " + kPrefixMsg},
      {"/b=c", kReq + "<nil>: Invalid value: \"/b\": prefix part must be non-empty"},
      {"x.io/=c",
       kReq + "<nil>: Invalid value: \"x.io/\": name part must be non-empty; " + kNameMsg},
      {"a/b/c", kReq + "<nil>: Invalid value: \"a/b/c\": a valid label key must consist of "
                       "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                       "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
                       "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an "
                       "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"},
      {std::string(64, 'k') + "=v", kReq + "<nil>: Invalid value: \"" + std::string(64, 'k') +
                                        "\": name part must be no more than 63 bytes"},
      {"-k", kReq + "<nil>: Invalid value: \"-k\": " + kNameMsg},
      {"app=-x", kReq + "values[0][app]: Invalid value: \"-x\": " + kValueMsg},
      {"a=" + std::string(64, 'v'), kReq + "values[0][a]: Invalid value: \"" +
                                        std::string(64, 'v') + "\": must be no more than 63 bytes"},
      {"a=\"y\"", kReq + "values[0][a]: Invalid value: \"\\\"y\\\"\": " + kValueMsg},
      {"a in (b,-c)", kReq + "values[0][a]: Invalid value: \"-c\": " + kValueMsg},
      {"n>x", kReq + "values[0]: Invalid value: \"x\": " + kGtLt},
      {"n<", kReq + "values[0]: Invalid value: \"\": " + kGtLt},
      {"n<+6", kReq + "values[0][n]: Invalid value: \"+6\": " + kValueMsg},
      {"n>-1", kReq + "values[0][n]: Invalid value: \"-1\": " + kValueMsg},
      {"n>a-", kReq + "[values[0]: Invalid value: \"a-\": " + kGtLt +
                   ", values[0][n]: Invalid value: \"a-\": " + kValueMsg + "]"},
      {"app=web,", "found '', expected: identifier after ','"},
      {",app", "found ',', expected: !, identifier, or 'end of string'"},
      {"=web", "found '=', expected: !, identifier, or 'end of string'"},
      {"app in web", kReq + "found 'web' expected: '('"},
      {"app in (web", kReq + "found '', expected: ',' or ')'"},
      {"app in (a,,b", kReq + "found '', expected: ',' or ')'"},
      {"app in (a,", kReq + "found '', expected: ',', or identifier"},
      {"app in (=)", kReq + "found '=', expected: ',', ')' or identifier"},
      {"app=we b", "found 'b', expected: ',' or 'end of string'"},
      {"a b", kReq + "found 'b', expected: in, notin, =, ==, !=, gt, lt"},
      {"a!!b", kReq + "found '!', expected: in, notin, =, ==, !=, gt, lt"},
      {"!a=b", "found '=', expected: ',' or 'end of string'"},
      {"!", kReq + "found '', expected: identifier"},
      {"a=(", kReq + "found '(', expected: identifier"},
      {"a in (b) c", "found 'c', expected: ',' or 'end of string'"},
  };
  for (const BadLabel& c : cases) {
    auto s = LabelSelector::parse(c.text);
    ASSERT_FALSE(s.ok()) << c.text;
    Answer a = answerOf(s.status());
    EXPECT_EQ(a.code, 400) << c.text;
    EXPECT_EQ(a.reason, "BadRequest") << c.text;
    EXPECT_EQ(a.message, c.message) << c.text;
  }
}

struct Match {
  std::string text;
  bool matches;
};

TEST(LabelSelectorParse, AcceptsAndMatchesLikeTheServer) {
  const LabelMap labels = {
      {"app", "web"}, {"tier", "front"}, {"example.com/team", "edge"}, {"n", "5"},
      {"empty", ""},  {"in", "in"},      {"x.io/A_b-c.D", "v.1"}};
  const std::vector<Match> cases = {
      {"", true},
      {"  ", true},
      {"app=web", true},
      {"app==web", true},
      {"app=db", false},
      {"app!=db", true},
      {"missing!=x", true},
      {"app in (web, db)", true},
      {"app notin (web,db)", false},
      {"missing notin (a)", true},
      {"missing in (a)", false},
      {"tier", true},
      {"!tier", false},
      {"!missing", true},
      {"example.com/team=edge", true},
      {"n>4,n<6", true},
      {"n>5", false},
      {"n<6", true},
      {"app>1", false},
      {" app = web , tier in (front) ", true},
      {"app=web\ttier=front", false},  // a tab separates tokens: "tier" is a second value
      {"empty=", true},
      {"empty in ()", true},
      {"empty in (,)", true},
      {"empty in (a,)", true},
      {"app in (,web)", true},
      {"in in (in)", true},
      {"in notin (x)", true},
      {"x.io/A_b-c.D=v.1", true},
      // A NUL where a token starts ends the input, as in the server's lexer; inside a word it
      // only ends the word.
      {std::string("app=web \0,tier=back", 19), true},
      {std::string("app=web\0,tier=back", 18), false},
  };
  for (const Match& c : cases) {
    auto s = LabelSelector::parse(c.text);
    if (c.text == "app=web\ttier=front") {
      EXPECT_FALSE(s.ok());
      continue;
    }
    ASSERT_TRUE(s.ok()) << c.text << ": " << s.status();
    EXPECT_EQ(s->matches(labels), c.matches) << c.text;
  }
}

TEST(LabelSelectorParse, OneMatcherForMapsPairsAndJson) {
  auto s = LabelSelector::parse("app=web,!gone,n>1");
  ASSERT_TRUE(s.ok());
  LabelMap map = {{"app", "web"}, {"n", "2"}};
  Labels pairs = {{"app", "web"}, {"n", "2"}};
  nlohmann::json json = {{"app", "web"}, {"n", "2"}};
  nlohmann::json not_strings = {{"app", 1}, {"n", "2"}};
  EXPECT_TRUE(s->matches(map));
  EXPECT_TRUE(s->matches(pairs));
  EXPECT_TRUE(s->matches(&json));
  EXPECT_FALSE(s->matches(&not_strings));
  EXPECT_FALSE(s->matches(static_cast<const nlohmann::json*>(nullptr)));
  EXPECT_TRUE(LabelSelector::parse("!app")->matches(static_cast<const nlohmann::json*>(nullptr)));
}

TEST(LabelSelectorParse, CanonicalFormSortsKeysAndValues) {
  auto s = LabelSelector::parse("b in (y,x,x), a=1 ,!c, d==2, e>3");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->str(), "a=1,b in (x,y),!c,d==2,e>3");
  EXPECT_EQ(LabelSelector::parse(s->str())->str(), s->str());
  EXPECT_EQ(s->requiresExactMatch("a").value(), "1");
  EXPECT_EQ(s->requiresExactMatch("d").value(), "2");
  EXPECT_FALSE(s->requiresExactMatch("b").has_value());
}

struct BadField {
  std::string text;
  std::string message;
};

TEST(FieldSelectorParse, RefusesWithTheServersWords) {
  const std::vector<BadField> cases = {
      {"nonsense", "invalid selector: 'nonsense'; can't understand 'nonsense'"},
      {"a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"},
      {"z,a", "invalid selector: 'z,a'; can't understand 'a'"},  // terms are sorted first
      {"a=b=c", "invalid field selector: unescaped character in value: 61"},
      {"a=b\\c", "invalid field selector: invalid escape sequence: \\c"},
      {"a=b\\", "invalid field selector: invalid escape sequence: \\"},
      {"a!=x\\,y,b", "invalid selector: 'a!=x\\,y,b'; can't understand 'b'"},
  };
  for (const BadField& c : cases) {
    auto s = FieldSelector::parse(c.text);
    ASSERT_FALSE(s.ok()) << c.text;
    Answer a = answerOf(s.status());
    EXPECT_EQ(a.code, 400) << c.text;
    EXPECT_EQ(a.message, c.message) << c.text;
  }
}

TEST(FieldSelectorParse, TermsEscapesAndMatching) {
  auto s = FieldSelector::parse("metadata.name=web-0,metadata.namespace!=kube-system");
  ASSERT_TRUE(s.ok());
  auto of = [](std::string ns, std::string name) {
    return [ns, name](std::string_view f) {
      return f == "metadata.name" ? name : f == "metadata.namespace" ? ns : std::string();
    };
  };
  EXPECT_TRUE(s->matches(of("default", "web-0")));
  EXPECT_FALSE(s->matches(of("kube-system", "web-0")));
  EXPECT_FALSE(s->matches(of("default", "web-1")));
  EXPECT_EQ(s->requiresExactMatch("metadata.name").value(), "web-0");
  EXPECT_FALSE(s->requiresExactMatch("metadata.namespace").has_value());
  auto esc = FieldSelector::parse("a==x\\,y\\=z\\\\,,b=");
  ASSERT_TRUE(esc.ok()) << esc.status();
  ASSERT_EQ(esc->terms().size(), 2u);
  EXPECT_EQ(esc->terms()[0].field, "a");
  EXPECT_EQ(esc->terms()[0].value, "x,y=z\\");
  EXPECT_EQ(esc->terms()[1].value, "");
  EXPECT_EQ(escapeFieldValue("x,y=z\\"), "x\\,y\\=z\\\\");
  EXPECT_TRUE(FieldSelector::parse("")->empty());
  EXPECT_TRUE(FieldSelector::parse(",")->empty());
  EXPECT_EQ(FieldSelector::parse("=x")->terms()[0].field, "");
}

struct OptionsCase {
  std::string query;
  int code;  // 0: accepted
  std::string message;
};

const std::string kInvalid = "ListOptions.meta.k8s.io \"\" is invalid: ";
const std::string kRvm = "resourceVersionMatch: ";

TEST(ListOptionsParse, CodesAndMessagesLikeTheServer) {
  const std::vector<OptionsCase> cases = {
      {"", 0, ""},
      {"limit=500&continue=abc", 0, ""},
      {"limit=-1", 0, ""},
      {"timeoutSeconds=-5&watch=1", 0, ""},
      {"timeoutSeconds=abc", 400, "strconv.ParseInt: parsing \"abc\": invalid syntax"},
      {"timeoutSeconds=", 400, "strconv.ParseInt: parsing \"\": invalid syntax"},
      {"limit=abc", 400, "strconv.ParseInt: parsing \"abc\": invalid syntax"},
      {"limit=1.5", 400, "strconv.ParseInt: parsing \"1.5\": invalid syntax"},
      {"limit=99999999999999999999", 400,
       "strconv.ParseInt: parsing \"99999999999999999999\": value out of range"},
      {"limit=x&timeoutSeconds=y", 400, "strconv.ParseInt: parsing \"y\": invalid syntax"},
      {"labelSelector=-x.io%2Fk%3Dv", 400,
       kReq + "<nil>: Invalid value: \"-x.io/k\": " + kPrefixMsg},
      {"labelSelector=a+b", 400, kReq + "found 'b', expected: in, notin, =, ==, !=, gt, lt"},
      {"fieldSelector=bad&labelSelector=a%3D-", 400,
       kReq + "values[0][a]: Invalid value: \"-\": " + kValueMsg},
      {"fieldSelector=bad", 400, "invalid selector: 'bad'; can't understand 'bad'"},
      {"resourceVersionMatch=NotOlderThan", 422,
       kInvalid + kRvm +
           "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is "
           "provided"},
      {"resourceVersionMatch=Exact&resourceVersion=0", 422,
       kInvalid + kRvm +
           "Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""},
      {"resourceVersionMatch=Foo&resourceVersion=1", 422,
       kInvalid + kRvm +
           "Unsupported value: \"Foo\": supported values: \"Exact\", \"NotOlderThan\", \"\""},
      {"resourceVersionMatch=Foo", 422,
       kInvalid + "[" + kRvm +
           "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided, " +
           kRvm +
           "Unsupported value: \"Foo\": supported values: \"Exact\", \"NotOlderThan\", "
           "\"\"]"},
      {"resourceVersionMatch=NotOlderThan&resourceVersion=1&continue=x", 422,
       kInvalid + kRvm + "Forbidden: resourceVersionMatch is forbidden when continue is provided"},
      {"sendInitialEvents=false", 422,
       kInvalid + "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"},
      {"watch=1&sendInitialEvents=true", 422,
       kInvalid + kRvm +
           "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"},
      {"watch=1&resourceVersion=5&resourceVersionMatch=NotOlderThan", 422,
       kInvalid + kRvm +
           "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
           "provided"},
      {"watch=1&resourceVersionMatch=Exact&sendInitialEvents=true", 422,
       kInvalid + "[" + kRvm +
           "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, " +
           kRvm + "Unsupported value: \"Exact\": supported values: \"NotOlderThan\"]"},
      {"watch=1&continue=abc", 422,
       kInvalid + kRvm + "Forbidden: resourceVersionMatch is forbidden when continue is provided"},
      {"watch=1&resourceVersion=7&continue=abc", 0, ""},
      {"watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=1", 0,
       ""},
      {"watch=true&timeoutSeconds=abc&resourceVersionMatch=Foo", 400,
       "strconv.ParseInt: parsing \"abc\": invalid syntax"},
  };
  for (const OptionsCase& c : cases) {
    auto o = parseListOptions(QueryValues(c.query));
    if (c.code == 0) {
      EXPECT_TRUE(o.ok()) << c.query << ": " << o.status();
      continue;
    }
    ASSERT_FALSE(o.ok()) << c.query;
    Answer a = answerOf(o.status());
    EXPECT_EQ(a.code, c.code) << c.query;
    EXPECT_EQ(a.reason, c.code == 400 ? "BadRequest" : "Invalid") << c.query;
    EXPECT_EQ(a.message, c.message) << c.query;
  }
}

TEST(ListOptionsParse, InvalidCarriesTheServersDetails) {
  auto o = parseListOptions(QueryValues("resourceVersionMatch=NotOlderThan"));
  ASSERT_FALSE(o.ok());
  Answer a = answerOf(o.status());
  EXPECT_EQ(a.body["details"]["group"], "meta.k8s.io");
  EXPECT_EQ(a.body["details"]["kind"], "ListOptions");
  EXPECT_FALSE(a.body["details"].contains("name"));
  EXPECT_EQ(a.body["details"]["causes"][0]["reason"], "FieldValueForbidden");
  EXPECT_EQ(a.body["details"]["causes"][0]["field"], "resourceVersionMatch");
  EXPECT_EQ(a.body["details"]["causes"][0]["message"],
            "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided");
}

TEST(ListOptionsParse, BooleansAndValuesAsTheServerDecodesThem) {
  auto o = parseListOptions(
      QueryValues("watch=&allowWatchBookmarks=abc&resourceVersion=1&limit=%2B7&limit=9&x=%zz"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->watch);  // anything but "0" and "false" is true, even nothing
  EXPECT_TRUE(o->allow_watch_bookmarks);
  EXPECT_EQ(o->limit, 7);  // the first value counts
  EXPECT_FALSE(o->send_initial_events.has_value());
  auto f = parseListOptions(QueryValues("watch=FaLsE&allowWatchBookmarks=0&sendInitialEvents=0"));
  ASSERT_FALSE(f.ok());  // sendInitialEvents is set (false) on a list
  QueryValues q("a=1;b=2&c=%41+b&d");
  EXPECT_FALSE(q.has("a"));
  EXPECT_EQ(q.first("c").value(), "A b");
  EXPECT_EQ(q.first("d").value(), "");
}

TEST(Query, OneReaderForWholeQueriesAndSingleParameters) {
  // queryParam and queryFlag (the hub's planner, the metaserver) read a raw query exactly as
  // QueryValues does (the cache, the stand-in): a pair with ';' or a bad escape does not
  // exist, '+' is a space, the first value counts.
  const char* queries[] = {"watch=1",
                           "watch=1;x=2",
                           "watch=%zz&watch=true",
                           "a=1&watch=FALSE",
                           "watch",
                           "watch=",
                           "w%61tch=0",
                           "watch=+",
                           "x=1&&watch=false&watch=1",
                           "watch=%",
                           "labelSelector=a+in+(b)&labelSelector=c",
                           ""};
  for (const char* raw : queries) {
    QueryValues q(raw);
    for (const char* name : {"watch", "labelSelector", "a", "x"}) {
      EXPECT_EQ(queryParam(raw, name), q.first(name)) << raw << " " << name;
      EXPECT_EQ(queryFlag(raw, name), queryBool(q, name)) << raw << " " << name;
    }
  }
  EXPECT_FALSE(queryParam("watch=1;x=2", "watch").has_value());
  EXPECT_EQ(queryParam("watch=%zz&watch=true", "watch").value(), "true");
  EXPECT_EQ(queryParam("labelSelector=a+in+(b)", "labelSelector").value(), "a in (b)");
  EXPECT_TRUE(queryFlag("watch", "watch"));
  EXPECT_TRUE(queryFlag("watch=+", "watch"));
  EXPECT_FALSE(queryFlag("w%61tch=0", "watch"));
  EXPECT_FALSE(queryFlag("a=1&watch=FALSE", "watch"));
  // What a server of its own API refuses: exactly the pairs QueryValues drops.
  EXPECT_FALSE(droppedQueryPair("a=1&&b=%41+c&").has_value());
  EXPECT_EQ(droppedQueryPair("a=1&user=bob%&c=%zz").value(), "user=bob%");
  EXPECT_EQ(droppedQueryPair("a=1;b=2").value(), "a=1;b=2");
  EXPECT_EQ(droppedQueryPair(";").value(), ";");
}

TEST(Validation, NamesAndLabels) {
  EXPECT_TRUE(isQualifiedName("app.kubernetes.io/name").empty());
  EXPECT_FALSE(isQualifiedName("App.Example/x").empty());
  EXPECT_TRUE(isLabelValue("").empty());
  EXPECT_TRUE(isLabelValue("v1.2_3-x").empty());
  EXPECT_TRUE(isDns1123Label("edge-1").empty());
  EXPECT_EQ(isDns1123Label("a.b"), std::vector<std::string>{"must not contain dots"});
  EXPECT_EQ(isDns1123Label(std::string(64, 'a')).front(), "must be no more than 63 bytes");
  EXPECT_TRUE(isDns1123Subdomain("a.b-c.d").empty());
  EXPECT_FALSE(isDns1123Subdomain("a..b").empty());
  EXPECT_FALSE(isDns1123Subdomain(std::string(254, 'a')).empty());
  // The yes-or-no forms answer as the message forms do.
  for (const std::string& s :
       {std::string("edge-1"), std::string("a.b"), std::string("a..b"), std::string("-a"),
        std::string("A"), std::string(""), std::string(63, 'a'), std::string(64, 'a'),
        std::string(64, 'a') + ".b", std::string(253, 'a'), std::string(254, 'a'),
        std::string("a_b"), std::string("xn--p1ai.example")}) {
    EXPECT_EQ(isDnsLabel(s), isDns1123Label(s).empty()) << s;
    EXPECT_EQ(isDnsSubdomain(s), isDns1123Subdomain(s).empty()) << s;
  }
  // Host names bound each label as well (apimachinery's subdomain does not).
  EXPECT_TRUE(isDnsHostname("hub-1.kubehub.example"));
  EXPECT_TRUE(isDnsHostname(std::string(63, 'a') + "." + std::string(63, 'b')));
  EXPECT_FALSE(isDnsHostname(std::string(64, 'a') + ".example"));
  EXPECT_FALSE(isDnsHostname("example." + std::string(64, 'a')));
  EXPECT_TRUE(isDnsSubdomain(std::string(64, 'a') + ".example"));
  EXPECT_FALSE(isDnsHostname("a..b"));
  EXPECT_EQ(goQuote("a\"b\\\n\x01\xff\xc3\xa9"), "\"a\\\"b\\\\\\n\\x01\\xff\xc3\xa9\"");
  // Valid UTF-8 within a byte budget: cut between characters, invalid bytes escaped.
  EXPECT_EQ(validUtf8("a\xc3\xa9\xc3\xa9", 4), "a\xc3\xa9");
  EXPECT_EQ(validUtf8("a\xc3\xa9\xc3\xa9", 5), "a\xc3\xa9\xc3\xa9");
  EXPECT_EQ(validUtf8("\xff/\xc3"), "\\xff/\\xc3");
  EXPECT_EQ(validUtf8("ab\xff", 4), "ab");
  EXPECT_EQ(validUtf8("\xe2\x82\xac\xf0\x9f\x98\x80"), "\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(validUtf8("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate is not a character
  EXPECT_EQ(validUtf8("", 0), "");
  EXPECT_EQ(jsonQuote("<a>\x01\xff"), "\"\\u003ca\\u003e\\u0001\\ufffd\"");
  int64_t n = 0;
  EXPECT_EQ(parseInt64("-9223372036854775808", &n), "");
  EXPECT_EQ(n, INT64_MIN);
  EXPECT_EQ(parseInt64("9223372036854775808", &n),
            "strconv.ParseInt: parsing \"9223372036854775808\": value out of range");
  EXPECT_EQ(parseInt64("1_000", &n), "strconv.ParseInt: parsing \"1_000\": invalid syntax");
}

TEST(Rfc3339, ParsesAndFormatsLikeMetav1Time) {
  EXPECT_EQ(parseRfc3339("1970-01-01T00:00:00Z")->seconds, 0);
  EXPECT_EQ(parseRfc3339("2024-02-29T12:00:00Z")->seconds, 1709208000);
  EXPECT_EQ(parseRfc3339("2024-01-01T01:00:00+01:00")->seconds, 1704067200);
  EXPECT_EQ(parseRfc3339("2023-12-31T23:00:00-01:00")->seconds, 1704067200);
  auto frac = parseRfc3339("2024-01-01T00:00:00.123456Z");
  ASSERT_TRUE(frac.has_value());
  EXPECT_EQ(frac->nanos, 123456000);
  for (const char* bad : {"2023-02-29T00:00:00Z", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00",
                          "2024-13-01T00:00:00Z", "2024-01-01T00:00:00.Z", "x"}) {
    EXPECT_FALSE(parseRfc3339(bad).has_value()) << bad;
  }
  EXPECT_EQ(formatRfc3339(1709208000), "2024-02-29T12:00:00Z");
  EXPECT_EQ(formatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatRfc3339Micro({1704067200, 123456789}), "2024-01-01T00:00:00.123456Z");
}

}  // namespace
}  // namespace kubehub::k8s
