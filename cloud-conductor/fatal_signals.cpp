#include "cloud-conductor/fatal_signals.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace ew::conductor {

namespace {

// Built before the handler can run; the handler only reads it (no allocation in a handler).
char g_message[1024];
size_t g_message_size = 0;

// "0x" and 16 hex digits of `value` into `out` (19 bytes with the terminator).
void FormatAddress(uintptr_t value, char* out) {
  static const char kHex[] = "0123456789abcdef";
  out[0] = '0';
  out[1] = 'x';
  for (int i = 0; i < 16; ++i) out[2 + i] = kHex[(value >> (60 - 4 * i)) & 0xf];
  out[18] = '\0';
}

void OnSigbus(int signal, siginfo_t* info, void*) {
  char address[19];
  FormatAddress(reinterpret_cast<uintptr_t>(info ? info->si_addr : nullptr), address);
  static const char kPrefix[] = "[error] [conductor] fatal SIGBUS touching memory-mapped file data at ";
  ssize_t ignored = ::write(STDERR_FILENO, kPrefix, sizeof kPrefix - 1);
  ignored = ::write(STDERR_FILENO, address, 18);
  ignored = ::write(STDERR_FILENO, g_message, g_message_size);
  (void)ignored;
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

}  // namespace

void InstallFatalSignalLog(const std::string& store_path) {
  const std::string text =
      ": the store's shared-memory file " + store_path + "-shm (SQLite's WAL index) was truncated, replaced or "
      "its disk could not back it (full tmpfs/overlay, or I/O error). Check the disk of " + store_path +
      ", leave the -wal and -shm files to SQLite (never edit or truncate them), and restart.\n";
  g_message_size = std::min(text.size(), sizeof g_message);
  std::memcpy(g_message, text.data(), g_message_size);
  struct sigaction action {};
  action.sa_sigaction = OnSigbus;
  action.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, nullptr);
}

}  // namespace ew::conductor
