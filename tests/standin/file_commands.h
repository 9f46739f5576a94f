#pragma once
/// The exec commands that touch a container's files, run on its PodFiles: what `kubectl cp`
/// sends (`tar -xmf - -C DIR` with the archive on stdin, `tar cf - PATH`, with --retries
/// `sh -c "tar cf - PATH | tail -c+N"`, and the `test -d PATH` it asks first), plus
/// `cat FILE...`. GNU tar 1.34 and coreutils, as in the Debian-based images the seeded pods
/// run, are the model: the same stderr lines and exit codes. ExecCommand hands such commands
/// here; the output is its frames. No I/O; one thread at a time.

#include <memory>
#include <string_view>

#include "tests/standin/exec_command.h"

namespace kubehub::standin {

class FileCommand {
 public:
  /// The command `request` runs, if it is one of these and the request has a file system;
  /// otherwise null.
  static std::unique_ptr<FileCommand> match(const ExecRequest& request);

  virtual ~FileCommand() = default;
  virtual ExecCommand::Output start() = 0;
  virtual ExecCommand::Output onStdin(std::string_view data);
  virtual ExecCommand::Output onStdinClosed();

  /// Stdout frames are at most this long, as the kubelet's copy buffer.
  static constexpr size_t kChunk = 32 * 1024;
};

}  // namespace kubehub::standin
