#include "flows/js/js_heap.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

#include "common/log/log.hpp"

// Called by the engine every JsHeap::kInterruptInterval instructions (DUK_USE_EXEC_TIMEOUT_CHECK,
// declared in the generated duk_config.h). Once it says yes it must keep saying yes until the
// error has left every catch block of the script, which OverBudget() does.
extern "C" int ew_duk_exec_timeout_check(void* udata) {
  return udata != nullptr && static_cast<ew::flows::js::JsHeap*>(udata)->OverBudget() ? 1 : 0;
}

namespace ew::flows::js {

namespace {

// Every block carries its size in front so that the heap's total is exact; 16 bytes keep the
// payload aligned for any type the engine stores.
constexpr size_t kHeader = 16;

void* AllocThunk(void* udata, duk_size_t size) { return static_cast<JsHeap*>(udata)->Allocate(size); }
void* ReallocThunk(void* udata, void* ptr, duk_size_t size) {
  return static_cast<JsHeap*>(udata)->Reallocate(ptr, size);
}
void FreeThunk(void* udata, void* ptr) { static_cast<JsHeap*>(udata)->Free(ptr); }

// An error outside any protected call: a bug of ours, not of the script. Nothing can continue.
void Fatal(void* udata, const char* msg) {
  ew::log::Get("flows")->critical("JavaScript engine fatal error: {}", msg ? msg : "?");
  std::abort();
}

size_t SizeOf(void* ptr) {
  size_t size;
  std::memcpy(&size, static_cast<char*>(ptr) - kHeader, sizeof size);
  return size;
}

duk_ret_t CompileSafe(duk_context* ctx, void* udata) {
  // [source filename] -> [function]
  duk_compile(ctx, DUK_COMPILE_FUNCTION);
  if (udata != nullptr) {
    // Kept in the stash under the filename (still below the function): an allocation failure
    // here is an error of this protected call, not a fatal one.
    duk_push_global_stash(ctx);
    duk_dup(ctx, -2);
    duk_put_prop_string(ctx, -2, static_cast<const char*>(udata));
    duk_pop(ctx);
  }
  return 1;
}

duk_ret_t RemoveDuktapeSafe(duk_context* ctx, void* udata) {
  // Introspection and internal hooks (Duktape.act, .fin, .gc): not for flow code.
  duk_push_global_object(ctx);
  duk_del_prop_string(ctx, -1, "Duktape");
  return 0;
}

}  // namespace

Result<std::unique_ptr<JsHeap>> JsHeap::Create(const JsLimits& limits, const Clock& clock) {
  // Below this the engine's own built-ins (~117 KB) leave no room: an allocation failure while
  // the engine reports an allocation failure recurses without end.
  if (limits.max_heap_bytes < kMinHeapBytes)
    return InvalidArgument("JavaScript heap limit " + std::to_string(limits.max_heap_bytes) + " bytes is below the " +
                           std::to_string(kMinHeapBytes) + " the engine needs");
  std::unique_ptr<JsHeap> heap(new JsHeap(limits, clock));
  heap->ctx_ = duk_create_heap(AllocThunk, ReallocThunk, FreeThunk, heap.get(), Fatal);
  if (!heap->ctx_) return Internal("JavaScript engine: no heap (" + std::to_string(limits.max_heap_bytes) + " bytes allowed)");
  if (duk_safe_call(heap->ctx_, RemoveDuktapeSafe, nullptr, 0, 1) != DUK_EXEC_SUCCESS)
    return Internal("JavaScript engine: out of memory at start");
  duk_pop(heap->ctx_);
  return heap;
}

JsHeap::~JsHeap() {
  if (ctx_) duk_destroy_heap(ctx_);
}

JsHeap* JsHeap::Of(duk_context* ctx) {
  duk_memory_functions funcs;
  duk_get_memory_functions(ctx, &funcs);
  return static_cast<JsHeap*>(funcs.udata);
}

void* JsHeap::Allocate(size_t size) {
  if (size == 0) size = 1;
  if (bytes_ + size + kHeader > limits_.max_heap_bytes) return nullptr;
  char* block = static_cast<char*>(std::malloc(size + kHeader));
  if (!block) return nullptr;
  std::memcpy(block, &size, sizeof size);
  bytes_ += size + kHeader;
  if (bytes_ > peak_) peak_ = bytes_;
  return block + kHeader;
}

void* JsHeap::Reallocate(void* ptr, size_t size) {
  if (!ptr) return Allocate(size);
  if (size == 0) {
    Free(ptr);
    return nullptr;
  }
  const size_t old = SizeOf(ptr);
  if (size > old && bytes_ + (size - old) > limits_.max_heap_bytes) return nullptr;
  char* block = static_cast<char*>(std::realloc(static_cast<char*>(ptr) - kHeader, size + kHeader));
  if (!block) return nullptr;  // the old block is still valid, as the engine expects
  std::memcpy(block, &size, sizeof size);
  bytes_ = bytes_ - old + size;
  if (bytes_ > peak_) peak_ = bytes_;
  return block + kHeader;
}

void JsHeap::Free(void* ptr) {
  if (!ptr) return;
  bytes_ -= SizeOf(ptr) + kHeader;
  std::free(static_cast<char*>(ptr) - kHeader);
}

bool JsHeap::OverBudget() {
  if (!armed_) return false;
  if (expired_) return true;
  ++interrupts_;
  if (max_interrupts_ != 0 && interrupts_ > max_interrupts_) expired_ = true;
  if (limits_.max_call_time.count() > 0 && clock_.Steady() >= deadline_) expired_ = true;
  return expired_;
}

Result<void> JsHeap::CompileFunction(const std::string& source, const std::string& filename) {
  duk_push_lstring(ctx_, source.data(), source.size());
  duk_push_lstring(ctx_, filename.data(), filename.size());
  if (duk_safe_call(ctx_, CompileSafe, nullptr, 2, 1) != DUK_EXEC_SUCCESS) {
    std::string text = ErrorText(ctx_, -1);
    duk_pop(ctx_);
    return InvalidArgument(text);
  }
  return Ok();
}

Result<void*> JsHeap::CompileAndKeep(const std::string& source, const std::string& filename) {
  duk_push_lstring(ctx_, source.data(), source.size());
  duk_push_lstring(ctx_, filename.data(), filename.size());
  if (duk_safe_call(ctx_, CompileSafe, const_cast<char*>(filename.c_str()), 2, 1) != DUK_EXEC_SUCCESS) {
    std::string text = ErrorText(ctx_, -1);
    duk_pop(ctx_);
    return InvalidArgument(text);
  }
  void* fn = duk_get_heapptr(ctx_, -1);
  duk_pop(ctx_);
  return fn;
}

std::string JsHeap::ErrorText(duk_context* ctx, duk_idx_t idx) {
  // duk_safe_to_string never throws (an error in toString() gives a fixed text).
  const char* text = duk_safe_to_string(ctx, idx);
  return text ? text : "Error";
}

Result<void> JsHeap::Call(int nargs) { return Guarded(nargs, false); }
Result<void> JsHeap::CallMethod(int nargs) { return Guarded(nargs, true); }

Result<void> JsHeap::Guarded(int nargs, bool method) {
  // A nested call (a native that calls back into the script) runs under the outer budget.
  const bool outer = !armed_;
  if (outer) {
    armed_ = true;
    expired_ = false;
    interrupts_ = 0;
    max_interrupts_ = limits_.max_call_instructions == 0
                          ? 0
                          : (limits_.max_call_instructions + kInterruptInterval - 1) / kInterruptInterval;
    deadline_ = clock_.Steady() + limits_.max_call_time;
  }
  const duk_int_t rc = method ? duk_pcall_method(ctx_, nargs) : duk_pcall(ctx_, nargs);
  const bool expired = expired_;
  if (outer) {
    armed_ = false;
    expired_ = false;
  }
  if (rc == DUK_EXEC_SUCCESS) return Ok();
  if (expired) {
    if (outer) ++timeouts_;
    if (limits_.max_call_time.count() > 0 && (max_interrupts_ == 0 || interrupts_ <= max_interrupts_))
      return DeadlineExceeded("Script execution timed out after " + std::to_string(limits_.max_call_time.count()) + "ms");
    return DeadlineExceeded("Script execution stopped after " + std::to_string(limits_.max_call_instructions) +
                            " instructions");
  }
  return tl::unexpected<Error>(Error(ErrorCode::kInvalidArgument, ErrorText(ctx_, -1)));
}

}  // namespace ew::flows::js
