// One Duktape heap with the limits a board puts on flow JavaScript (Node-RED `function` nodes):
// a memory cap (every allocation of the heap goes through a counting allocator that refuses to
// pass JsLimits::max_heap_bytes) and a budget per call (time and instructions, checked by the
// engine every 262,144 bytecode instructions through DUK_USE_EXEC_TIMEOUT_CHECK, which
// flows/js/CMakeLists.txt turns on in the Duktape it compiles from duktape-dev's source).
//
// Sandbox: a heap starts with ECMAScript built-ins only (Duktape has no require, process, file
// or socket access); Create() removes the `Duktape` object too. Whatever else a script can reach
// is what its owner registers.
//
// Threading: a heap is not thread-safe; its owner (a flow node) uses it on the runtime's strand.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <duktape.h>

#include "common/clock/clock.hpp"
#include "common/error/error.hpp"

namespace ew::flows::js {

struct JsLimits {
  // Bytes one heap may hold: compiled code, msg, the script's own objects. An allocation past it
  // fails (after a garbage collection), which the script sees as an Error "alloc failed". A fresh
  // heap takes ~117 KB, with the function node's API ~160 KB (docs/BENCHMARKS.md, Flows); at
  // least kMinHeapBytes.
  size_t max_heap_bytes = 8u << 20;
  // Wall time one call (a message, initialize, finalize, a timer) may run before it is stopped
  // with "Script execution timed out". 0 = no time limit (the instruction limit still holds).
  std::chrono::milliseconds max_call_time{1000};
  // Bytecode instructions one call may execute. Checked at the same interrupts as the time, so
  // it is rounded up to a multiple of 262,144; deterministic where the clock does not move
  // (tests with ManualClock). 0 = no instruction limit.
  uint64_t max_call_instructions = 2'000'000'000;
};

class JsHeap {
 public:
  // The engine checks budgets every this many bytecode instructions (DUK_HTHREAD_INTCTR_DEFAULT).
  static constexpr uint64_t kInterruptInterval = 256 * 1024;
  // The smallest JsLimits::max_heap_bytes Create() accepts.
  static constexpr size_t kMinHeapBytes = 256 * 1024;

  // A heap with ECMAScript built-ins only. InvalidArgument for a heap limit under kMinHeapBytes,
  // Internal when the engine cannot start (no memory);
  // `clock` outlives the heap.
  static Result<std::unique_ptr<JsHeap>> Create(const JsLimits& limits, const Clock& clock);
  ~JsHeap();
  JsHeap(const JsHeap&) = delete;
  JsHeap& operator=(const JsHeap&) = delete;

  duk_context* ctx() const { return ctx_; }
  const JsLimits& limits() const { return limits_; }

  // Compiles `source`, a function expression ("function (msg) { ... }"), and leaves the function
  // on the stack. InvalidArgument with the engine's message (e.g. "SyntaxError: parse error
  // (line 3)") when it does not compile; nothing is left on the stack then.
  Result<void> CompileFunction(const std::string& source, const std::string& filename);
  // Compiles as CompileFunction and keeps the function in the heap's global stash under
  // `filename` (so it stays alive): its heap pointer (duk_push_heapptr), nothing left on the stack.
  Result<void*> CompileAndKeep(const std::string& source, const std::string& filename);

  // duk_pcall of the function below `nargs` arguments on the stack, under the call budget. The
  // result (or the thrown value) replaces them. Ok when it returned; otherwise the error's text
  // ("TypeError: ...", "Script execution timed out after 1000ms", "RangeError: alloc failed").
  Result<void> Call(int nargs);
  // Same, with `this` below the function's arguments (duk_pcall_method).
  Result<void> CallMethod(int nargs);

  // What a call that failed left on the stack top, as text: String(error).
  static std::string ErrorText(duk_context* ctx, duk_idx_t idx);

  size_t heap_bytes() const { return bytes_; }
  size_t peak_heap_bytes() const { return peak_; }
  uint64_t timeouts() const { return timeouts_; }

  // The object whose natives this heap serves (a function node); natives find it with Owner().
  void set_owner(void* owner) { owner_ = owner; }
  static JsHeap* Of(duk_context* ctx);
  template <typename T>
  static T* Owner(duk_context* ctx) {
    return static_cast<T*>(Of(ctx)->owner_);
  }

  // For the allocator and the engine's interrupt (js_heap.cpp): not for callers.
  void* Allocate(size_t size);
  void* Reallocate(void* ptr, size_t size);
  void Free(void* ptr);
  bool OverBudget();

 private:
  JsHeap(const JsLimits& limits, const Clock& clock) : limits_(limits), clock_(clock) {}
  Result<void> Guarded(int nargs, bool method);

  JsLimits limits_;
  const Clock& clock_;
  duk_context* ctx_ = nullptr;
  void* owner_ = nullptr;
  size_t bytes_ = 0;
  size_t peak_ = 0;
  // The running call's budget; armed_ false between calls (compiling is not limited).
  bool armed_ = false;
  bool expired_ = false;
  uint64_t interrupts_ = 0;
  uint64_t max_interrupts_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  uint64_t timeouts_ = 0;
};

}  // namespace ew::flows::js
