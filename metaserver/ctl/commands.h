#pragma once
/// kubehubctl's commands: `kubehubctl RESOURCE VERB [ARGS] [FLAGS]`, each a thin call of the
/// metaserver's REST API with human or JSON output.

namespace kubehub::ctl {

/// Runs the command line; returns the process exit code (output.h).
int runCtl(int argc, char** argv);

}  // namespace kubehub::ctl
