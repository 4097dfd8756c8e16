/*
 * sys/sys.h: what the runtime needs of the machine and the kernel, below
 * every role: the clock and the adaptive back-off of its loops, the
 * doorbell that wakes a peer on the same node, the lifeline (pidfds) by
 * which the master and its nannies watch each other, and hwloc binding.
 * Free of MPI.
 */
#ifndef KEEL_SYS_H
#define KEEL_SYS_H

#include "keel_int.h"

#include <pthread.h>
#include <stdbool.h>

/* ---- clock.c: monotonic time, naps ---- */
double keel__clock_now(void);
void keel__clock_sleep(double seconds);
/* keel__clock_now() + timeout, or -1 for a negative timeout (forever). */
double keel__clock_deadline(double timeout);
/* The CLOCK_MONOTONIC time of deadline (>= 0) for a timed wait, at most
 * 1e6 s away; false once it has passed. */
struct timespec;
bool keel__clock_abstime(double deadline, struct timespec *ts);
/* A condition variable whose timed waits take CLOCK_MONOTONIC times. */
void keel__clock_cond_init(pthread_cond_t *c);
/* Sleep s seconds (0: yield) or until one of fds is ready: poll()'s
 * result, 0 after a yield. */
struct pollfd;
int keel__clock_poll(struct pollfd *fds, unsigned long n, double s);

/* ---- fd.c ---- */
/* Write all n bytes of buf to fd (short writes, EINTR): false on an error
 * or a write of nothing.  Async-signal-safe. */
bool keel__fd_write_all(int fd, const void *buf, size_t n);

/* ---- backoff.c: how the loops wait ---- */
/* Spin (with sched_yield) for a moment after activity, then sleep in steps
 * growing to 1 ms, and with nothing in flight for KEEL__DOZE_AFTER, doze in
 * naps up to KEEL__DOZE_MAX: an idle loop costs almost nothing, a busy one
 * no latency.  Heartbeats are not activity.  A dozing nanny is woken for
 * work by its doorbell on the master's node, by a byte on its lifeline
 * elsewhere; each wake costs MPI's progress engine tens of microseconds,
 * so the doze is long: with hundreds of nannies, idle cost is their wakes. */
#define KEEL__DOZE_AFTER 50e-3 /* seconds */
#define KEEL__DOZE_MAX 250e-3  /* seconds */
typedef struct keel__backoff {
  double last_activity;
  double sleep;
} keel__backoff;
void keel__backoff_reset(keel__backoff *b);
/* How long to sleep now (0 = just yield); may_doze: nothing in flight. */
double keel__backoff_next(keel__backoff *b, bool may_doze);

/* ---- doorbell.c: master and nannies on one node wake each other ---- */
/* This process's bell, to poll() on (nonblocking, close-on-exec); -1 and a
 * log line if it cannot have one: it then answers after its naps. */
int keel__doorbell_open(void);
void keel__doorbell_drain(int fd);
/* Ring the bell of the process with this pid on our node (best effort). */
void keel__doorbell_ring(int pid);

/* ---- lifeline.c: master and nannies watching each other ---- */
/* "boot-id pid-namespace": equal on two processes of one kernel and pid
 * namespace, which may then watch each other's pids. */
const char *keel__lifeline_node(char *buf, size_t n);
/* A pidfd on pid when node (its keel__lifeline_node) is ours, else -1. */
int keel__lifeline_open(int pid, const char *node);
bool keel__lifeline_dead(int fd); /* the process is gone */
bool keel__lifeline_kill(int fd); /* SIGKILL it; false if that failed */
/* Across nodes, a TCP connection from each nanny to the master, closed by
 * the kernel of whichever dies.  The master listens on every address
 * (nonblocking fd, or -1; *port gets the port) ... */
int keel__lifeline_listen(int *port);
/* ... and tells its addresses ("a,b,c": up, not loopback) in HELLO. */
int keel__lifeline_addrs(char *buf, size_t n);
/* A nanny connects to one of addrs (its own subnets first), each try
 * bounded by timeout seconds, and greets: the connected fd, or -1. */
int keel__lifeline_connect(const char *addrs, int port, uint64_t token,
                           uint32_t rank, double timeout);
/* The master accepts (nonblocking: the fd, or -1) ... */
int keel__lifeline_accept(int lfd);
/* ... and reads the greeting: 1 with *rank when it came with the token
 * (answered), 0 when it has not come yet, -1 when it is bad (close it). */
int keel__lifeline_greet(int fd, uint64_t token, uint32_t *rank);
/* The other end closed the connection: its process died.  Drains what
 * came meanwhile (doorbell bytes). */
bool keel__lifeline_closed(int fd);
/* Wake the nanny at the other end, which may be dozing: one byte. */
void keel__lifeline_ring(int fd);

/* ---- children.c: what children leave behind ---- */
/* Become a child subreaper: orphans of our descendants become ours.
 * False if the kernel refuses. */
bool keel__children_adopt(void);
/* Kill (with its process group) and reap every child of ours not in keep,
 * again until none is left (bounded, against a fork bomb). */
void keel__children_kill(const pid_t *keep, int nkeep);

/* ---- bind.c: hwloc ---- */
/* Cores each worker gets: KEEL_CORES_PER_WORKER, else Slurm's
 * SLURM_CPUS_PER_TASK inside a job, else 1. */
int keel__bind_per_worker(void);
/* KEEL_BIND=none: nobody is bound. */
bool keel__bind_off(void);
/* Bind this process to the cores of worker `index` among the
 * `node_workers` workers of its node, and set the thread count its task
 * processes get to match (threads.c); returns the first core's logical index,
 * or -1 when unbound (KEEL_BIND=none or no hwloc).  desc gets a
 * description for reports. */
int keel__bind_self(int index, int node_workers, char *desc, size_t n);
/* Bind the master to the cores its node's first `workers` workers leave
 * free, or unbind it when none are; reports it like keel__bind_self. */
void keel__bind_master(int workers);
/* KEEL_REPORT_BINDINGS set: one line on stderr for this rank. */
void keel__bind_report(int rank, const char *desc);
/* Cores the master's node gives its workers (at least 1). */
int keel__bind_cores(void);

/* ---- threads.c: threads inside tasks ---- */
#define KEEL__THREAD_VARS 5 /* OMP_NUM_THREADS and its kin */
/* Task processes get OMP_NUM_THREADS and its kin at n. */
void keel__threads_limit(int n);
/* Append "VAR=n" to env[k...] for each of them the user has not set (at
 * most KEEL__THREAD_VARS); the new count. */
size_t keel__threads_env(char **env, size_t k);

#endif /* KEEL_SYS_H */
