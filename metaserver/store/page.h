#pragma once
/// What the store's list methods take and return: one page of a list, by keyset.

#include <string>
#include <vector>

namespace kubehub::metaserver {

/// One page of a list, in the list's order: at most `limit` rows (0: all of them) after the row
/// whose sort key is `after` (empty: from the start). The key's columns are the store's business:
/// callers hand back what the previous page's `next` held.
struct PageQuery {
  std::vector<std::string> after;
  int limit = 0;
};

template <class T>
struct Listed {
  std::vector<T> items;
  /// The last row's sort key when more rows follow; empty on the last page.
  std::vector<std::string> next;
};

}  // namespace kubehub::metaserver
