#pragma once
/// RETURN_IF_ERROR-style helpers for absl::Status / absl::StatusOr.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KH_CONCAT_INNER(a, b) a##b
#define KH_CONCAT(a, b) KH_CONCAT_INNER(a, b)

/// Returns the status from the enclosing function when `expr` is not OK.
#define KH_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status kh_status_ = (expr);      \
    if (!kh_status_.ok()) return kh_status_; \
  } while (0)

// `lhs` is a declaration (`auto x`) and `tmp` a name: neither can be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define KH_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(*tmp)
// NOLINTEND(bugprone-macro-parentheses)

/// `KH_ASSIGN_OR_RETURN(auto x, f());` assigns the value or returns the error.
#define KH_ASSIGN_OR_RETURN(lhs, expr) \
  KH_ASSIGN_OR_RETURN_IMPL(KH_CONCAT(kh_statusor_, __LINE__), lhs, expr)

/// The same inside a coroutine returning asio::awaitable<absl::Status...>.
#define KH_CO_RETURN_IF_ERROR(expr)             \
  do {                                          \
    ::absl::Status kh_status_ = (expr);         \
    if (!kh_status_.ok()) co_return kh_status_; \
  } while (0)
