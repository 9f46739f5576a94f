#include "common/k8s/quantity.h"

#include <limits>
#include <optional>
#include <string>

namespace kubehub::k8s {

namespace {

using Wide = __int128;

// Far beyond any int64 result, yet small enough that one more multiplication by 10 or 2
// cannot overflow the 128-bit intermediate.
constexpr Wide kCeiling = static_cast<Wide>(1) << 100;

struct Suffix {
  int exp10 = 0;
  int exp2 = 0;
};

std::optional<Suffix> parseSuffix(std::string_view s) {
  if (s.empty()) return Suffix{};
  if (s.size() == 2 && s[1] == 'i') {
    switch (s[0]) {
      case 'K':
        return Suffix{0, 10};
      case 'M':
        return Suffix{0, 20};
      case 'G':
        return Suffix{0, 30};
      case 'T':
        return Suffix{0, 40};
      case 'P':
        return Suffix{0, 50};
      case 'E':
        return Suffix{0, 60};
      default:
        return std::nullopt;
    }
  }
  if (s.size() == 1) {
    switch (s[0]) {
      case 'n':
        return Suffix{-9, 0};
      case 'u':
        return Suffix{-6, 0};
      case 'm':
        return Suffix{-3, 0};
      case 'k':
        return Suffix{3, 0};
      case 'M':
        return Suffix{6, 0};
      case 'G':
        return Suffix{9, 0};
      case 'T':
        return Suffix{12, 0};
      case 'P':
        return Suffix{15, 0};
      case 'E':
        return Suffix{18, 0};
      default:
        return std::nullopt;
    }
  }
  // A decimal exponent: e or E, an optional sign, digits.
  if (s[0] != 'e' && s[0] != 'E') return std::nullopt;
  size_t i = 1;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (i >= s.size() || s.size() - i > 3) return std::nullopt;
  int exponent = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    exponent = exponent * 10 + (s[i] - '0');
  }
  return Suffix{negative ? -exponent : exponent, 0};
}

std::string quoted(std::string_view text) {
  constexpr size_t kShown = 40;
  if (text.size() <= kShown) return "\"" + std::string(text) + "\"";
  return "\"" + std::string(text.substr(0, kShown)) + "...\"";
}

}  // namespace

absl::StatusOr<int64_t> parseQuantity(std::string_view text, int scale10) {
  auto malformed = [&] {
    return absl::InvalidArgumentError(quoted(text) + " is not a Kubernetes quantity");
  };
  auto too_large = [&] {
    return absl::OutOfRangeError("quantity " + quoted(text) + " is too large");
  };
  if (text.empty() || text.size() > 64) return malformed();
  size_t i = 0;
  bool negative = false;
  if (text[i] == '+' || text[i] == '-') negative = text[i++] == '-';
  // value = mantissa * 10^(exp10 - fraction_digits) * 2^exp2
  Wide mantissa = 0;
  int digits = 0;
  int fraction_digits = 0;
  bool seen_point = false;
  bool significant = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.') {
      if (seen_point) return malformed();
      seen_point = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    ++digits;
    if (seen_point) ++fraction_digits;
    if (c != '0') significant = true;
    // Leading zeros cost nothing; 38 significant digits is beyond anything meaningful.
    if (significant && mantissa >= kCeiling) return too_large();
    mantissa = mantissa * 10 + (c - '0');
  }
  if (digits == 0) return malformed();
  auto suffix = parseSuffix(text.substr(i));
  if (!suffix) return malformed();
  int exp10 = suffix->exp10 + scale10 - fraction_digits;
  for (int k = 0; k < suffix->exp2; ++k) {
    mantissa *= 2;
    if (mantissa >= kCeiling) return too_large();
  }
  for (; exp10 > 0; --exp10) {
    mantissa *= 10;
    if (mantissa >= kCeiling) return too_large();
  }
  if (exp10 < 0) {
    Wide divisor = 1;
    for (; exp10 < 0; ++exp10) {
      divisor *= 10;
      // Anything divided by more than the mantissa rounds to 1 (or 0): stop early.
      if (divisor > mantissa) {
        mantissa = mantissa == 0 ? 0 : 1;
        divisor = 1;
        break;
      }
    }
    mantissa = (mantissa + divisor - 1) / divisor;  // round up, like the API server
  }
  if (mantissa > std::numeric_limits<int64_t>::max()) return too_large();
  int64_t value = static_cast<int64_t>(mantissa);
  return negative ? -value : value;
}

}  // namespace kubehub::k8s
