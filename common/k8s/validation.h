#pragma once
/// Kubernetes name and label validation with the API server's exact wording
/// (k8s.io/apimachinery validation: qualified names, label values, DNS-1123 labels and
/// subdomains), and the helpers that print a field error as the server does. Each check returns
/// the list of problems; empty means valid. Pure.

#include <string>
#include <string_view>
#include <vector>

namespace kubehub::k8s {

/// A label key or qualified name: `[prefix/]name`, prefix a DNS-1123 subdomain, name at most
/// 63 characters of [-A-Za-z0-9_.] starting and ending alphanumeric.
std::vector<std::string> isQualifiedName(std::string_view value);
/// Empty, or like a qualified name's name part.
std::vector<std::string> isLabelValue(std::string_view value);
/// [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
std::vector<std::string> isDns1123Label(std::string_view value);
/// DNS-1123 labels joined by '.', at most 253 characters.
std::vector<std::string> isDns1123Subdomain(std::string_view value);
/// The same two checks answering only valid or not (no message built): a namespace, a
/// cluster or grant name (label); an object name or host name (subdomain, as apimachinery's
/// IsDNS1123Subdomain: 253 characters in all, no bound per label).
bool isDnsLabel(std::string_view value);
bool isDnsSubdomain(std::string_view value);
/// A host name as DNS and X.509 take it (RFC 1123): a subdomain whose labels are each at most
/// 63 characters. Hub ids (a host in URLs, a certificate's name) and certificates' DNS names.
bool isDnsHostname(std::string_view value);

/// The string as Go's %q prints it (quotes, escapes, \x.. for invalid UTF-8).
std::string goQuote(std::string_view s);
/// `s` as valid UTF-8 of at most `max_bytes` bytes, for text from a request that goes into a
/// message, a log or a PostgreSQL text column: cut before a character that does not fit whole,
/// and each byte that is not part of a valid character written as \xNN.
std::string validUtf8(std::string_view s, size_t max_bytes = std::string_view::npos);
/// "strconv.ParseInt: parsing \"abc\": invalid syntax" or nullopt-equivalent "" when `text`
/// is a valid base-10 int64; `out` receives the value.
std::string parseInt64(std::string_view text, int64_t* out);

/// The string as Go's json.Marshal writes it (how a field error prints a value of a named
/// string type, such as resourceVersionMatch).
std::string jsonQuote(std::string_view s);

/// One field error (field.Error): its type ("FieldValueInvalid"...), path, and the body
/// printed after the path.
struct FieldError {
  std::string type;
  std::string field;
  std::string body;
  /// "<path>: <body>", as field.Error.Error() prints it.
  std::string str() const { return field + ": " + body; }
};
/// "Invalid value: \"v\": detail"; `quoted` is the value already quoted.
FieldError fieldInvalid(std::string_view path, std::string_view quoted, std::string_view detail);
FieldError fieldForbidden(std::string_view path, std::string_view detail);
FieldError fieldNotSupported(std::string_view path, std::string_view quoted,
                             const std::vector<std::string>& supported);
/// Several errors as an aggregate prints them: one as is, more as "[a, b]" (duplicates once).
std::string aggregate(const std::vector<std::string>& errors);
/// Strings joined with "; ", as validation details are.
std::string joinDetails(const std::vector<std::string>& details);

}  // namespace kubehub::k8s
