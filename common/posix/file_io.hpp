// Whole-file reads and durable atomic writes: the one way Edgewire replaces a file on disk
// (credential, CLI state, deployment book, conductor package store). Blocking: call from a
// thread that may block (never an io_context thread of a daemon).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/error/error.hpp"

namespace ew::posix {

// Replaces `path` with `bytes` so that a reader, or the file after a crash or power cut, holds
// either the old contents or the new, never a mix:
//   1. creates a temporary ".<name>.tmp-XXXXXX" in the same directory (O_CLOEXEC, O_EXCL),
//   2. sets its permission bits to `mode` with fchmod (the umask does not apply), writes all
//      bytes (EINTR and short writes retried), fsyncs it,
//   3. renames it over `path`, then fsyncs the directory so the rename itself is durable.
// The directory must exist. On any failure the temporary is removed and `path` is unchanged.
// Errors name the path and the errno text: PermissionDenied for EACCES, EPERM and EROFS;
// ResourceExhausted for ENOSPC, EDQUOT and EFBIG; NotFound for a missing directory; Internal
// otherwise. A crash between steps 1 and 3 may leave the temporary behind (never read).
Result<void> WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes, mode_t mode);

// fsyncs the directory `dir`, making renames and creations in it durable. Same errors as above.
Result<void> SyncDirectory(const std::filesystem::path& dir);

// The whole of `path` (a regular file, symlinks followed). NotFound when it does not exist,
// ResourceExhausted when it holds more than `max_bytes` (checked before and while reading, so a
// growing file cannot exceed it), PermissionDenied or Internal as above.
Result<std::string> ReadFileLimited(const std::filesystem::path& path, size_t max_bytes);

}  // namespace ew::posix
