// The main() of a fuzz target in the normal (g++) build, where libFuzzer is not linked: runs
// every file of the seed corpus through LLVMFuzzerTestOneInput, then a bounded number of
// deterministic pseudo-random mutations of them, so each target runs for a few seconds in ctest.
// The long runs under ASan+UBSan with libFuzzer are tests/fuzz/run_fuzzers.sh.
//
//   <target> [--mutations N] [--seed S] [--max-len BYTES] CORPUS_DIR_OR_FILE...
//
// A crash (signal, uncaught exception, failed invariant) writes the input being run to
// ./fuzz-replay-crash-<target> so that it can be replayed under a debugger or added to the corpus.
#include <signal.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

// The input being run and where a crash saves it. Plain globals: the signal handler reads them.
const uint8_t* g_current = nullptr;
size_t g_current_size = 0;
char g_crash_path[256] = "fuzz-replay-crash";

void SaveCurrentInput() {
  if (g_current == nullptr) return;
  int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  size_t done = 0;
  while (done < g_current_size) {
    ssize_t n = ::write(fd, g_current + done, g_current_size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  static const char kSaved[] = "fuzz replay: the crashing input is in ./";
  (void)!::write(STDERR_FILENO, kSaved, sizeof kSaved - 1);
  (void)!::write(STDERR_FILENO, g_crash_path, std::strlen(g_crash_path));
  (void)!::write(STDERR_FILENO, "\n", 1);
}

void OnFatalSignal(int signal_number) {
  SaveCurrentInput();
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

void InstallCrashHandlers() {
  for (int s : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) ::signal(s, OnFatalSignal);
  // An exception escaping the target terminates, which aborts: the handler above saves the input.
}

struct Options {
  uint64_t mutations = 2000;
  uint64_t seed = 1;
  size_t max_len = 64 * 1024;
  std::vector<fs::path> inputs;
};

bool ParseOptions(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--mutations" || arg == "--seed" || arg == "--max-len") {
      const char* value = next();
      if (value == nullptr) return false;
      const uint64_t n = std::strtoull(value, nullptr, 10);
      if (arg == "--mutations") options->mutations = n;
      if (arg == "--seed") options->seed = n;
      if (arg == "--max-len") options->max_len = static_cast<size_t>(n);
    } else if (!arg.empty() && arg[0] == '-') {
      return false;
    } else {
      options->inputs.emplace_back(arg);
    }
  }
  return !options->inputs.empty();
}

// Every regular file named (or below a named directory), sorted so that runs are reproducible.
std::vector<std::string> ReadCorpus(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> files;
  for (const fs::path& input : inputs) {
    if (fs::is_directory(input)) {
      for (const auto& entry : fs::recursive_directory_iterator(input)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else if (fs::is_regular_file(input)) {
      files.push_back(input);
    } else {
      std::fprintf(stderr, "fuzz replay: %s: no such file or directory\n", input.c_str());
      std::exit(2);
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> corpus;
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return corpus;
}

// libFuzzer's cheap mutations, simplified: bit flips, byte changes, inserts, erases, copies of a
// chunk, splices with another corpus entry, and bytes that announce lengths or nesting.
class Mutator {
 public:
  Mutator(uint64_t seed, size_t max_len) : rng_(seed), max_len_(max_len) {}

  std::string Mutate(std::string data, const std::vector<std::string>& corpus) {
    static const char kInteresting[] = {'\x00', '\x01', '\x7f', '\x80', '\xff', '\x90', '\xdc', '\xdd',
                                        '\xde', '\xdf', '\xdb', '\xcf', '[',    '{',    ']',    '}',
                                        '"',    '\\',   '=',    '\n',   '.',    '/',    '0',    '-'};
    const size_t count = 1 + Pick(4);
    for (size_t m = 0; m < count; ++m) {
      if (data.empty()) data += static_cast<char>(Pick(256));
      const size_t at = Pick(data.size());
      switch (Pick(9)) {
        case 0: data[at] = static_cast<char>(data[at] ^ (1 << Pick(8))); break;
        case 1: data[at] = static_cast<char>(Pick(256)); break;
        case 2: data.insert(data.begin() + static_cast<long>(at), static_cast<char>(Pick(256))); break;
        case 3: data.erase(at, 1 + Pick(std::min<size_t>(8, data.size() - at))); break;
        case 4: data.resize(at); break;
        case 5: data.insert(at, data.substr(Pick(data.size()), 1 + Pick(16))); break;
        case 6: data[at] = kInteresting[Pick(sizeof kInteresting)]; break;
        case 7: {  // splice: our head, another entry's tail
          const std::string& other = corpus[Pick(corpus.size())];
          if (!other.empty()) data = data.substr(0, at) + other.substr(Pick(other.size()));
          break;
        }
        case 8: {  // a run of one byte (long numbers, deep nesting, long names)
          data.insert(at, 1 + Pick(64), data[at]);
          break;
        }
      }
    }
    if (data.size() > max_len_) data.resize(max_len_);
    return data;
  }

 private:
  size_t Pick(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  std::mt19937_64 rng_;
  size_t max_len_;
};

void Run(const std::string& input) {
  g_current = reinterpret_cast<const uint8_t*>(input.data());
  g_current_size = input.size();
  LLVMFuzzerTestOneInput(g_current, g_current_size);
  g_current = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, &options)) {
    std::fprintf(stderr, "usage: %s [--mutations N] [--seed S] [--max-len BYTES] CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  std::snprintf(g_crash_path, sizeof g_crash_path, "fuzz-replay-crash-%s", fs::path(argv[0]).filename().c_str());
  InstallCrashHandlers();
  const std::vector<std::string> corpus = ReadCorpus(options.inputs);
  if (corpus.empty()) {
    std::fprintf(stderr, "fuzz replay: the corpus is empty\n");
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& input : corpus) Run(input);
  Mutator mutator(options.seed, options.max_len);
  for (uint64_t i = 0; i < options.mutations; ++i) Run(mutator.Mutate(corpus[i % corpus.size()], corpus));
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  std::printf("fuzz replay: %zu corpus files and %llu mutations, no crash, %lld ms\n", corpus.size(),
              static_cast<unsigned long long>(options.mutations), static_cast<long long>(ms));
  return 0;
}
