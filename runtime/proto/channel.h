/*
 * proto/channel.h: what a nanny and its task process share, besides the
 * wire messages on the channel: the file descriptors the task process
 * finds open, its environment, the page they share and the exit statuses
 * that carry a meaning between them.  Free of MPI.
 */
#ifndef KEEL_PROTO_CHANNEL_H
#define KEEL_PROTO_CHANNEL_H

#include "proto/wire.h"

#include <stdatomic.h>

/* The task process's fds: the channel (a stream socket: TASKS and OPEN in,
 * RESULTS and INITFAIL out), the pipe its crash handler writes the
 * backtrace to, and the shared page (a memfd, mapped then closed). */
enum { KEEL__CHAN_FD = 3, KEEL__CRASH_FD = 4, KEEL__SHM_FD = 5 };
_Static_assert(KEEL__CRASH_FD == KEEL__CHAN_FD + 1 &&
                   KEEL__SHM_FD == KEEL__CHAN_FD + 2,
               "worker/spawn.c places the three fds in a row");

/* What the crash handler writes on KEEL__CRASH_FD, in this order: text
 * lines for people (the signal, the task); the faulting frame, exact, as
 * "@pc <hex>"; its callers' return addresses, "@ra <hex>", one a line
 * (without "@pc" when the faulting frame was not found among them: then
 * every frame, the handler's own included); "@maps"; then a copy of the
 * task process's /proc/self/maps to the end.  Only raw addresses: a signal
 * handler can neither read debug info nor allocate, and the task process's
 * load addresses are its own (it is exec'd), so the nanny needs its maps
 * to symbolize them (worker/symbolize.c). */
#define KEEL__CRASH_PC "@pc "
#define KEEL__CRASH_RA "@ra "
#define KEEL__CRASH_MAPS "@maps\n"

/* Environment variables from a nanny to its task process. */
#define KEEL__ENV_ROLE "KEEL_ROLE"
#define KEEL__ENV_NANNY "KEEL_TASK_NANNY"

#define KEEL__RING_SLOTS 128 /* slots in the ring */
#define KEEL__RING_BYTES 2048 /* the task records a slot takes at most */

/* The page a task process shares with its nanny: which task runs now and
 * since when, so that a death is blamed exactly and deadlines are exact
 * although results travel in batches. */
typedef struct keel__shm {
  _Atomic uint64_t task_id; /* 0 between tasks */
  _Atomic double started;   /* keel__clock_now() when it started */
  _Atomic uint32_t phase;   /* KEEL__P_* */
  /* What a task printed is its own, to the byte (worker/lines.c):
   *  - the nanny adds 1 to reads before and after each read of the task
   *    process's stdout and stderr pipes (odd: a read under way);
   *  - a task that printed (reads moved while it ran, or bytes are still
   *    in a pipe) sets out_task to its id before it sends its result, and
   *    the task process starts nothing until the nanny has read the rest
   *    and ended its last line: out_done = out_task.
   * Looking costs a task two ioctls, so a task process looks only once it
   * has printed at all (printed, set by the nanny; or stdio held bytes),
   * or always under KEEL_TAG_OUTPUT, where every line names its task. */
  _Atomic uint32_t reads;
  _Atomic uint32_t printed;
  _Atomic uint64_t out_task, out_done;
  /* Tasks, and TASKS messages, the task process has read from its
   * channel: the nanny offers in the ring only behind every task it sent
   * there, and keeps one wake-up (TASKS of no task) in flight at most. */
  _Atomic uint64_t chan_read, chan_msgs;
  /* The ring: tasks the nanny offers while the task process runs others,
   * so that it starts each next one without a round trip to the nanny,
   * and which the nanny can take back until the task process has taken
   * them (a RECALL).  A slot holds a few tasks, taken whole.  The task
   * process takes slot after slot in order; the nanny takes back from the
   * newest.  A slot goes EMPTY -nanny-> OFFERED -task process-> TAKEN
   * (copying) -> COPIED -nanny-> EMPTY, or OFFERED -nanny-> EMPTY. */
  struct keel__ring_slot {
    _Atomic uint32_t state;
    uint32_t count;              /* tasks in it */
    uint32_t len;                /* their bytes */
    char task[KEEL__RING_BYTES]; /* task records, as in TASKS */
  } ring[KEEL__RING_SLOTS];
} keel__shm;
enum { KEEL__MB_EMPTY = 0, KEEL__MB_OFFERED = 1, KEEL__MB_TAKEN = 2,
       KEEL__MB_COPIED = 3 };
enum { KEEL__P_START = 0, KEEL__P_INIT = 1, KEEL__P_READY = 2 };

/* Exit status of a task process whose initializer failed. */
#define KEEL__INITFAIL_STATUS 113
/* Exit status of a task process that could not write a result: its task
 * closed or broke the channel to the nanny. */
#define KEEL__CHANLOST_STATUS 114

#endif /* KEEL_PROTO_CHANNEL_H */
