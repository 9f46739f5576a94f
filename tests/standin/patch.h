#pragma once
/// The three patch formats kubectl sends: JSON merge patch (RFC 7386), JSON patch (RFC 6902)
/// and strategic merge patch (lists of known fields merged by their merge key, `$patch`,
/// `$setElementOrder`, `$retainKeys`, `$deleteFromPrimitiveList` directives). Strategic merge
/// knows the merge keys of the built-in types by field name instead of from OpenAPI, which is
/// enough for what apply/label/annotate/scale/edit send. Pure.

#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "tests/standin/json_types.h"

namespace kubehub::standin {

enum class PatchType { kMerge, kJson, kStrategic, kApply };

/// Maps a Content-Type to a patch type; nullopt for unsupported types.
std::optional<PatchType> patchTypeFor(std::string_view content_type);

absl::StatusOr<Json> applyMergePatch(const Json& target, const Json& patch);
absl::StatusOr<Json> applyJsonPatch(const Json& target, const Json& patch);
absl::StatusOr<Json> applyStrategicMergePatch(const Json& target, const Json& patch);

}  // namespace kubehub::standin
