#pragma once
/// Which names of values (command parameters) are taken to hold secrets and never written to a
/// log: the agent marks them in its listing, the hub redacts them in its audit line. Pure.

#include <string_view>

namespace kubehub::auth {

/// The agent's response header naming a command call's parameters that the commands file marks
/// `secret: true` (comma-separated), for the hub's audit line to redact besides those that
/// look secret by name.
inline constexpr std::string_view kSecretParametersHeader = "X-Kubehub-Secret-Parameters";

/// True when the name contains password, passwd, token, secret, key or credential, in any case.
bool looksSecret(std::string_view name);

}  // namespace kubehub::auth
