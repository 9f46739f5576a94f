#pragma once
/// Paging of the metaserver's list endpoints, the Kubernetes way: `limit=N` asks for at most N
/// items, and an answer that stops early carries `metadata.continue`, an opaque token the client
/// sends back as `continue=TOKEN` (with the same filters) for the next page. Pages are keyset
/// pages: each starts after the last row of the previous one by the list's sort key, so rows added
/// or removed between two pages shift nothing, and a row present throughout is listed exactly
/// once. Without `limit` a list answers everything, as before. Pure: no I/O.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "metaserver/store/page.h"
#include "nlohmann/json.hpp"

namespace kubehub::metaserver {

inline constexpr int kMaxPageLimit = 10000;

/// `limit` and `continue` as the query held them (nullopt: absent). `list` names the list the
/// token must have come from ("users", "tokens", ...), and `key_size` is its sort key's width.
/// InvalidArgument, with a message naming the parameter, for a bad limit or a token that is
/// malformed or belongs to another list.
absl::StatusOr<PageQuery> parsePage(const std::optional<std::string>& limit,
                                    const std::optional<std::string>& continue_token,
                                    std::string_view list, size_t key_size);

/// The token that continues `list` after the row whose sort key is `key`.
std::string continueToken(std::string_view list, const std::vector<std::string>& key);

/// `{"items": ITEMS}`, with `"metadata": {"continue": TOKEN}` when `next` is not empty.
nlohmann::json pagedItems(nlohmann::json items, std::string_view list,
                          const std::vector<std::string>& next);

}  // namespace kubehub::metaserver
