// ThreadSanitizer builds only: tells TSan about the happens-before edge of CAF's mailboxes.
//
// Debian's libcaf_core/libcaf_io are not instrumented, so TSan cannot see that a message is
// enqueued (on the sender's thread) before it is handled (on the receiver's): every hand-off
// would be reported as a race. These functions interpose CAF's own enqueue and dequeue entry
// points (the executable is linked with -rdynamic, so the libraries' vtables and calls bind
// here), mark a release on the receiving actor at enqueue and an acquire on it before each
// message is consumed, and forward to the library's function. That is exactly the ordering the
// mailbox provides. One more edge: an actor's messages are handled one after the other,
// whichever worker thread takes each (a release after each one), as CAF guarantees. Nothing
// else is hidden, so two of our threads (or actors) touching the same data without a message
// between them are still reported.
//
// The signatures follow the Itanium C++ ABI: `this` first; a std::unique_ptr argument (not
// trivially copyable) is passed by address and destroyed by the caller; a returned unique_ptr
// is written through a hidden pointer passed before `this`, which is also returned.

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

extern "C" {
void __tsan_acquire(void* address);
void __tsan_release(void* address);
}

namespace {

void* original(const char* symbol) {
  void* function = ::dlsym(RTLD_NEXT, symbol);
  if (function == nullptr) {
    std::fprintf(stderr, "caf_mailbox_annotations: %s not found\n", symbol);
    std::abort();
  }
  return function;
}

using enqueue_fn = void (*)(void* self, void* element, void* context);
using consume_fn = int (*)(void* self, void* element);
using dequeue_fn = void* (*)(void* result, void* self);
using await_fn = void (*)(void* self);
using await_until_fn = bool (*)(void* self, long deadline_ns);

#define GQ_SCHEDULED_ENQUEUE \
  _ZN3caf15scheduled_actor7enqueueESt10unique_ptrINS_15mailbox_elementENS_6detail8disposerEEPNS_14execution_unitE
#define GQ_BROKER_ENQUEUE \
  _ZN3caf2io15abstract_broker7enqueueESt10unique_ptrINS_15mailbox_elementENS_6detail8disposerEEPNS_14execution_unitE
#define GQ_BLOCKING_ENQUEUE \
  _ZN3caf14blocking_actor7enqueueESt10unique_ptrINS_15mailbox_elementENS_6detail8disposerEEPNS_14execution_unitE
#define GQ_SCHEDULED_CONSUME _ZN3caf15scheduled_actor7consumeERNS_15mailbox_elementE
#define GQ_RAW_CONSUME _ZN3caf21raw_event_based_actor7consumeERNS_15mailbox_elementE
#define GQ_BLOCKING_DEQUEUE _ZN3caf14blocking_actor7dequeueEv
#define GQ_BLOCKING_AWAIT _ZN3caf14blocking_actor10await_dataEv
#define GQ_BLOCKING_AWAIT_UNTIL \
  _ZN3caf14blocking_actor10await_dataENSt6chrono10time_pointINS1_3_V212system_clockENS1_8durationIlSt5ratioILl1ELl1000000000EEEEEE
#define GQ_NAME(x) GQ_NAME2(x)
#define GQ_NAME2(x) #x

}  // namespace

extern "C" {

void GQ_SCHEDULED_ENQUEUE(void* self, void* element, void* context) {
  static const auto next = reinterpret_cast<enqueue_fn>(original(GQ_NAME(GQ_SCHEDULED_ENQUEUE)));
  __tsan_release(self);
  next(self, element, context);
}

void GQ_BROKER_ENQUEUE(void* self, void* element, void* context) {
  static const auto next = reinterpret_cast<enqueue_fn>(original(GQ_NAME(GQ_BROKER_ENQUEUE)));
  __tsan_release(self);
  next(self, element, context);
}

void GQ_BLOCKING_ENQUEUE(void* self, void* element, void* context) {
  static const auto next = reinterpret_cast<enqueue_fn>(original(GQ_NAME(GQ_BLOCKING_ENQUEUE)));
  __tsan_release(self);
  next(self, element, context);
}

// The release after a message is handled orders what its handler wrote (say, the handler of a
// request it sent) before the actor's next message, which another worker thread may handle:
// CAF hands the actor over through its (uninstrumented) mailbox state and scheduler queues.
int GQ_SCHEDULED_CONSUME(void* self, void* element) {
  static const auto next = reinterpret_cast<consume_fn>(original(GQ_NAME(GQ_SCHEDULED_CONSUME)));
  __tsan_acquire(self);
  const int result = next(self, element);
  __tsan_release(self);
  return result;
}

int GQ_RAW_CONSUME(void* self, void* element) {
  static const auto next = reinterpret_cast<consume_fn>(original(GQ_NAME(GQ_RAW_CONSUME)));
  __tsan_acquire(self);
  const int result = next(self, element);
  __tsan_release(self);
  return result;
}

void* GQ_BLOCKING_DEQUEUE(void* result, void* self) {
  static const auto next = reinterpret_cast<dequeue_fn>(original(GQ_NAME(GQ_BLOCKING_DEQUEUE)));
  next(result, self);
  __tsan_acquire(self);
  return result;
}

// A blocking actor (scoped_actor) waits here and then reads its mailbox inside the library, so
// the acquire goes after the wait, before any message is taken.
void GQ_BLOCKING_AWAIT(void* self) {
  static const auto next = reinterpret_cast<await_fn>(original(GQ_NAME(GQ_BLOCKING_AWAIT)));
  next(self);
  __tsan_acquire(self);
}

bool GQ_BLOCKING_AWAIT_UNTIL(void* self, long deadline_ns) {
  static const auto next =
      reinterpret_cast<await_until_fn>(original(GQ_NAME(GQ_BLOCKING_AWAIT_UNTIL)));
  const bool ready = next(self, deadline_ns);
  __tsan_acquire(self);
  return ready;
}

}  // extern "C"
