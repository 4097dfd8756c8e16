/*
 * worker/worker.h: a worker rank, the nanny.  The MPI process never runs
 * user code: for each executor it serves it keeps a slot with one task
 * process, feeds it tasks, reads results back, watches it and reports its
 * death.  Its files, from the bottom up:
 *
 *   symbolize.c  a task process's crash backtrace: raw addresses and its
 *              maps to function, file and line (libdw)
 *   spawn.c    starting a task process (posix_spawn of the same binary)
 *   uplink.c   messages to the master
 *   lines.c    a task process's stdout and stderr, cut into whole lines
 *   slot.c     one executor served: its queue and its task process, which
 *              it supervises (deadlines, memory, deaths, recycling)
 *   nanny.c    the rank: messages from the master, the loop, the lifeline
 *              to the master, start and exit
 *
 * Each file calls only the ones above it in this list.  The state is
 * keel__nanny, one struct, handed down by pointer.
 */
#ifndef KEEL_WORKER_H
#define KEEL_WORKER_H

#include "keel_int.h"
#include "proto/channel.h"
#include "proto/mpiq.h"
#include "proto/wire.h"

#include <mpi.h>
#include <poll.h>
#include <stdbool.h>

#define KEEL__MAX_SLOTS 64 /* executors one nanny serves at once */

typedef struct keel__slot keel__slot;

typedef struct keel__nanny {
  MPI_Comm comm; /* master is rank 0 */
  keel__slot *slots[KEEL__MAX_SLOTS];
  keel__sendq sends;
  keel__recvq recvs;
  double last_sent;  /* when it last sent the master anything */
  double last_heard; /* when the master was last heard */
  bool stopping;     /* STOP came */
  bool no_finalize;  /* STOP said KEEL__STOP_NO_FINALIZE */
  int bell;          /* the master on our node wakes us with it */
  /* the lifeline to the master (sys/lifeline.c): a pidfd on its node, a
   * socket from another */
  int master_pidfd, master_sock, master_pid;
  int rank; /* ours in the job */
  double master_timeout;
} keel__nanny;

/* ---- nanny.c: taking the role ---- */
/* Serve as worker `rank` of comm (the job's ranks, master rank 0) from
 * node-local index `index` among `node_workers`.  Never returns. */
void keel__nanny_main(MPI_Comm comm, int rank, int index, int node_workers)
    __attribute__((noreturn));
/* A worker spawned by a master started alone (master/ranks.c): merge with
 * it, learn its plan, serve.  Never returns. */
void keel__nanny_spawned(MPI_Comm parent) __attribute__((noreturn));

/* ---- uplink.c: to the master ---- */
/* Send b (taking its bytes); work (not a heartbeat) also rings the
 * master's bell when it shares our node.  A send that cannot even start
 * ends the rank: nothing could reach the master any more. */
void keel__uplink_send(keel__nanny *n, keel_buf *b, bool work);
/* Work: len bytes at msg, inside the allocation own, which is freed once
 * MPI is done with them (a message sent as it came, not copied). */
void keel__uplink_send_own(keel__nanny *n, const void *msg, size_t len,
                           void *own);
/* A message of a header only (CLOSED, BYE, HEARTBEAT). */
void keel__uplink_simple(keel__nanny *n, uint8_t type, uint32_t exec);
/* DEATH for executor exec. */
void keel__uplink_death(keel__nanny *n, uint32_t exec, const keel__death *d);

/* ---- lines.c: a task process's stdout and stderr ---- */
/* An OUTPUT message being gathered for the master. */
typedef struct keel__outbox {
  keel_buf msg;
  uint32_t n; /* records in msg */
  uint32_t exec;
} keel__outbox;
/* The read ends of a task process's stdout and stderr pipes, and the part
 * of a line read from each. */
typedef struct keel__lines {
  int fd[2];
  keel_buf part[2];
} keel__lines;
void keel__lines_init(keel__lines *l);
void keel__lines_open(keel__lines *l, int out, int err);
/* Read what the pipes have; whole lines go into o as records of the task
 * that wrote them (shm, the task process's page; channel.h says how that
 * is exact).  Whether anything was read. */
int keel__lines_read(keel__lines *l, keel__shm *shm, unsigned which,
                     keel__outbox *o); /* which: 1 stdout, 2 stderr */
/* task, which printed, has ended (its result came, with out_task set):
 * the rest of its output, its last line ended by a newline; then the task
 * process may go on (out_done). */
void keel__lines_end(keel__lines *l, keel__shm *shm, uint64_t task,
                     keel__outbox *o);
/* The task process is gone: the rest of what it wrote, and the pipes
 * closed. */
void keel__lines_close(keel__lines *l, keel__shm *shm, keel__outbox *o);

/* ---- slot.c: one executor served ---- */
keel__slot *keel__slot_find(keel__nanny *n, uint32_t exec);
/* OPEN: a new slot and a warm task process; a slot that cannot be had is
 * reported to the master as a DEATH (KEEL__C_SPAWN). */
void keel__slot_open(keel__nanny *n, const keel__wire_hdr *h,
                     keel__wire_rd *rd);
/* ---- shmbuf.c: large messages the task process maps ---- */
/* n bytes to receive a message from the master into: in a memfd when n is
 * KEEL__TAKE_MIN or more (and /proc lets a child reach it), else malloc'd. */
char *keel__shmbuf_new(size_t n);
/* buf's memfd, its message at *off, our view of it unmapped: the caller
 * closes the descriptor with keel__shmbuf_close(); -1 when buf is not in
 * a memfd. */
int keel__shmbuf_keep(char *buf, uint32_t *off);
void keel__shmbuf_close(int fd);
/* Let go of buf, whichever kind it is. */
void keel__shmbuf_free(char *buf);

/* A task of at least this many bytes is not copied: its message becomes
 * its queue entry (*msg taken, NULL), and it is written to the task
 * process from there. */
#define KEEL__TAKE_MIN (64u << 10)
void keel__slot_tasks(keel__nanny *n, const keel__wire_hdr *h,
                      keel__wire_rd *rd, char **msg);
/* RECALL: give back tasks not started (answered with RECALLED). */
void keel__slot_recall(keel__nanny *n, const keel__wire_hdr *h);
/* Kill its task process and what it left, free the slot. */
void keel__slot_close(keel__nanny *n, keel__slot *s);
/* One turn: read, reap, forward, write, watch limits: how much it did. */
int keel__slot_step(keel__nanny *n, keel__slot *s, double now);
/* No task queued, running or retiring, nothing to send. */
bool keel__slot_quiet(const keel__slot *s);
/* Its task process's fds to poll (up to KEEL__SLOT_FDS): how many were
 * added. */
#define KEEL__SLOT_FDS 5
int keel__slot_pollfds(const keel__slot *s, struct pollfd *fds);

/* ---- symbolize.c ---- */
/* What a task process's crash handler wrote (len bytes, proto/channel.h)
 * as the backtrace people read: its text lines, then one line a frame,
 * innermost first, "#k  function (file.c:LINE)" where debug info says,
 * else "#k  function+0xOFF [module]" or "#k  [module+0xOFF]".  Malloc'd;
 * NULL if out of memory. */
char *keel__symbolize(const char *raw, size_t len);

/* ---- spawn.c ---- */
/* Start a task process: the same binary, role in the environment, the
 * channel, crash pipe and shared page on fds 3, 4 and 5, stdout and
 * stderr on the write ends of the pipes out and err, its own process
 * group.  Returns its pid, or -1 with errno set. */
pid_t keel__spawn_task(int chan, int crash, int shm, int out, int err);


#endif /* KEEL_WORKER_H */
