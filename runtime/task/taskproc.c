/* taskproc.c: the task process.  Started by its nanny with KEEL_ROLE=task,
 * it never touches MPI: it reads TASKS from fd 3, runs the registered
 * functions and writes each result back on fd 3 as soon as its task ends
 * (batching happens a level up, nanny to master).  Before each task it
 * writes the task id and start time into the page it shares with the nanny
 * (fd 5), so a death is blamed on the right task and deadlines are exact.
 * On a fatal signal it writes the raw frames and its maps to fd 4 (the
 * nanny symbolizes them) and re-raises the signal so the nanny sees the
 * real cause. */
#include "task/task.h"
#include "proto/channel.h"
#include "sys/sys.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <ucontext.h>
#include <unistd.h>

#define CHAN_FD KEEL__CHAN_FD
#define CRASH_FD KEEL__CRASH_FD
#define SHM_FD KEEL__SHM_FD

/* The state of the task process. */
static struct {
  keel__shm *shm;          /* the page shared with the nanny */
  keel_buf in;             /* what the channel brought, not yet run */
  keel_buf out;            /* the RESULTS message being written */
  keel_buf res;            /* the running task's result */
  keel_buf copy;           /* an argument copied to be aligned */
  keel_buf mbox;           /* the task taken from the ring */
  uint64_t take;           /* the ring's next slot */
  struct stat chan;        /* fd 3 as the nanny gave it */
  const char *volatile name; /* registered name of the running task */
  bool tag;                /* KEEL_TAG_OUTPUT: every line names its task */
} tp;

/* A task process lives for many tasks: a buffer that one large argument
 * or result grew is let go once it is done, not kept resident for the
 * tasks after it. */
#define SLIM_ABOVE (1u << 20)

static void slim(keel_buf *b)
{
  if (b->cap > SLIM_ABOVE)
    keel__buf_free(b);
}

/* fd 3 is still the socket from the nanny: a task may have closed it and
 * opened something else that took its number. */
static bool channel_intact(void)
{
  struct stat st;
  return fstat(CHAN_FD, &st) == 0 && st.st_ino == tp.chan.st_ino &&
         st.st_dev == tp.chan.st_dev;
}

/* One task's result, at once: a result held back would be lost, and its
 * task run again, if the next task were killed.  A large result's bytes
 * are written from where the task left them, after the message's packed
 * fields, not copied into it. */
static void send_result(const keel__result *r)
{
  bool big = r->len >= KEEL__RESULT_ALONE;
  keel__buf_reset(&tp.out);
  keel__wire_put_hdr(&tp.out, KEEL__M_RESULTS, 0, 0);
  if (big)
    keel__wire_put_result_head(&tp.out, r);
  else
    keel__wire_put_result(&tp.out, r);
  keel__wire_finish_plus(&tp.out, 0, 1, big ? r->len : 0);
  /* The task closed (or broke, or replaced) the channel: its result cannot
   * reach the nanny.  End while the task is still the current one, so that
   * the nanny blames it and says why, rather than run it again. */
  if (!channel_intact() ||
      !keel__fd_write_all(CHAN_FD, tp.out.data, tp.out.len) ||
      (big && !keel__fd_write_all(CHAN_FD, r->data, r->len)))
    _exit(KEEL__CHANLOST_STATUS);
}

static void put_num(char *buf, size_t *n, unsigned long long v)
{
  char tmp[24];
  int k = 0;
  do
    tmp[k++] = (char)('0' + v % 10);
  while ((v /= 10) && k < 24);
  while (k)
    buf[(*n)++] = tmp[--k];
}

/* "<tag><hex>\n" on the crash fd, without stdio (a signal handler). */
static void put_frame(const char *tag, uintptr_t a)
{
  char line[8 + 2 * sizeof a];
  size_t n = strlen(tag);
  memcpy(line, tag, n);
  int k = 2 * (int)sizeof a;
  while (k > 1 && !((a >> (4 * (k - 1))) & 15))
    k--; /* no leading zeros */
  while (k--)
    line[n++] = "0123456789abcdef"[a >> (4 * k) & 15];
  line[n++] = '\n';
  keel__fd_write_all(CRASH_FD, line, n);
}

/* The instruction the signal interrupted, 0 where we cannot tell. */
static uintptr_t fault_pc(const void *ctx)
{
  const ucontext_t *uc = ctx;
#if defined(__x86_64__)
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  return (uintptr_t)uc->uc_mcontext.pc;
#else
  (void)uc;
  return 0;
#endif
}

/* The frames from the faulting one on: the handler's own frame and the
 * kernel's sigreturn trampoline are noise.  Where the faulting pc is not
 * among the frames (no unwind info through the signal frame, an unknown
 * architecture), every frame: noisy, but nothing lost. */
static void put_frames(const void *ctx)
{
  void *frames[64];
  int k = backtrace(frames, 64), first = -1;
  uintptr_t pc = fault_pc(ctx);
  for (int i = 0; pc && i < k && first < 0; i++)
    if ((uintptr_t)frames[i] == pc)
      first = i;
  if (first >= 0)
    put_frame(KEEL__CRASH_PC, pc);
  for (int i = first + 1; i < k; i++)
    put_frame(KEEL__CRASH_RA, (uintptr_t)frames[i]);
}

/* Our maps, for the nanny to place each frame in its file: open, read
 * and write only, so async-signal-safe. */
static void put_maps(void)
{
  char buf[4096];
  ssize_t n;
  keel__fd_write_all(CRASH_FD, KEEL__CRASH_MAPS, strlen(KEEL__CRASH_MAPS));
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  while ((n = read(fd, buf, sizeof buf)) > 0 &&
         keel__fd_write_all(CRASH_FD, buf, (size_t)n))
    ;
  close(fd);
}

/* Raw addresses and maps only (proto/channel.h): symbols, files and lines
 * are the nanny's work, after the signal has been re-raised, so the crash
 * is not delayed by reading debug info. */
static void on_crash(int sig, siginfo_t *si, void *ctx)
{
  (void)si;
  char line[128];
  size_t n = 0;
  const char *head = "task process caught signal ";
  memcpy(line, head, strlen(head));
  n = strlen(head);
  put_num(line, &n, (unsigned long long)sig);
  memcpy(line + n, " in task ", 9);
  n += 9;
  put_num(line, &n, tp.shm ? tp.shm->task_id : 0);
  keel__fd_write_all(CRASH_FD, line, n);
  const char *name = tp.name;
  if (name) { /* the registered name, whatever the symbols say */
    keel__fd_write_all(CRASH_FD, " (", 2);
    keel__fd_write_all(CRASH_FD, name, strlen(name));
    keel__fd_write_all(CRASH_FD, ")", 1);
  }
  keel__fd_write_all(CRASH_FD, "\n", 1);
  put_frames(ctx);
  put_maps();
  raise(sig); /* SA_RESETHAND: the default action, the real signal */
}

static void install_crash_handlers(void)
{
  static char altstack[64 * 1024]; /* a stack overflow still reports */
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
  sigaltstack(&ss, NULL);
  void *warm[2];
  backtrace(warm, 2); /* load libgcc now, not inside the handler */
  const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_crash;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
    sigaction(sigs[i], &sa, NULL);
}

/* ---- reading the channel ---- */

/* A message being read starts LEAD bytes into `in`: a task's argument,
 * KEEL__TASK_PREFIX bytes into a TASKS message of one task, then lies
 * aligned for any C type and needs no aligned copy (call()). */
#define LEAD ((16 - KEEL__TASK_PREFIX % 16) % 16)
_Static_assert((LEAD + KEEL__TASK_PREFIX) % 16 == 0, "LEAD aligns");

/* `in` let go once it grew large, what it holds past *consumed moved to
 * a new one. */
static void slim_in(size_t *consumed)
{
  if (tp.in.cap <= SLIM_ABOVE)
    return;
  keel_buf rest = {0};
  size_t have = tp.in.len - *consumed;
  if (keel__buf_reserve(&rest, LEAD + have + 1))
    return; /* no memory: keep the large one */
  rest.len = LEAD;
  keel_buf_append(&rest, tp.in.data + *consumed, have);
  keel__buf_free(&tp.in);
  tp.in = rest;
  *consumed = LEAD;
}

/* The next whole message in `in`, reading (blocking) as needed.
 * Returns its length, 0 at EOF, -1 on garbage. */
static ssize_t next_msg(size_t *consumed)
{
  for (;;) {
    size_t have = tp.in.len - *consumed, want = 65536;
    if (have >= KEEL__WIRE_HDR) {
      uint32_t len;
      memcpy(&len, tp.in.data + *consumed + 16, 4);
      if (len > KEEL__WIRE_MAX)
        return -1;
      if (have >= KEEL__WIRE_HDR + (size_t)len)
        return (ssize_t)(KEEL__WIRE_HDR + len);
      /* Room for the rest at once: growing by halves would copy a large
       * argument each time, and hold two copies while it does. */
      want = KEEL__WIRE_HDR + len - have;
    }
    if (*consumed != LEAD) {
      if (keel__buf_reserve(&tp.in, LEAD > *consumed ? LEAD - *consumed : 0))
        return -1;
      memmove(tp.in.data + LEAD, tp.in.data + *consumed, have);
      tp.in.len = LEAD + have;
      *consumed = LEAD;
    }
    if (keel__buf_reserve(&tp.in, want))
      return -1;
    ssize_t n = recv(CHAN_FD, tp.in.data + tp.in.len, tp.in.cap - tp.in.len, 0);
    if (n <= 0)
      return 0;
    tp.in.len += (size_t)n;
  }
}

/* ---- output ---- */

/* The nanny's count of reads of our output pipes, once no read is under
 * way (channel.h). */
static uint32_t settled_reads(void)
{
  uint32_t r;
  while ((r = atomic_load(&tp.shm->reads)) & 1)
    sched_yield();
  return r;
}

static bool pipe_has_bytes(int fd)
{
  int n = 0;
  return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* What the task printed goes out now, not when a buffer fills in some
 * later task.  True when it printed anything (channel.h): then its result
 * carries out_task, and end_output() waits for the nanny.  A task process
 * that never printed pays nothing here: its first bytes written straight
 * to fd 1 or 2 (not through stdio) may then, if the nanny has not read
 * them when the task ends, be taken for the next task's. */
static bool flush_output(uint32_t reads_before)
{
  bool held = __fpending(stdout) || __fpending(stderr);
  if (held) {
    fflush(stdout);
    fflush(stderr);
  }
  if (!held && !tp.tag && !atomic_load(&tp.shm->printed))
    return false;
  return held || pipe_has_bytes(1) || pipe_has_bytes(2) ||
         settled_reads() != reads_before;
}

/* The nanny has read all the task printed and ended its last line: the
 * next task may print.  Bounded: a nanny that never answers costs at most
 * a second, and some lines their separation. */
static void end_output(uint64_t id)
{
  double wait = 5e-6, until = keel__clock_now() + 1.0;
  while (atomic_load(&tp.shm->out_done) != id &&
         keel__clock_now() < until) {
    keel__clock_sleep(wait);
    wait = wait < 1e-3 ? wait * 2 : wait;
  }
}

/* ---- running tasks ---- */

static int normalise(int rc, keel_buf *b)
{
  if (rc == 0 && !b->failed)
    return 0;
  if (rc > 0 || rc == 0) {
    if (!b->failed)
      keel_fail(b, "task function returned %d", rc);
    return KEEL_ETASK;
  }
  if (!b->failed) {
    keel__buf_reset(b);
    keel_buf_printf(b, "%s", rc == KEEL_ETASK ? "task failed"
                                              : keel_strerror(rc));
  }
  return rc;
}

/* Each item's outcome goes straight into the chunk's result, in place:
 * no copy per item. */
static int run_chunk(keel_task_fn *fn, const keel__task *t, keel_buf *res)
{
  size_t n = t->arg_len / t->item_size;
  for (size_t i = 0; i < n; i++) {
    if (keel__wire_item_begin(res))
      return keel_fail(res, "out of memory for the result of item %zu", i);
    int rc = fn((const char *)t->arg + i * t->item_size, t->item_size, res);
    keel__wire_item_end(res, normalise(rc, res));
  }
  return 0;
}

/* Bytes where user code may read any C type from them: the wire packs
 * arguments at 4-byte offsets, and tasks cast them to structs.  Returns p
 * itself when it is aligned, an empty aligned object for n = 0, else a copy
 * in *copy, or NULL when that cannot be allocated. */
static const void *aligned(const void *p, size_t n, keel_buf *copy)
{
  static const max_align_t empty;
  if (n == 0)
    return &empty;
  if ((uintptr_t)p % _Alignof(max_align_t) == 0)
    return p; /* realloc'd keel_buf memory below is aligned the same way */
  keel__buf_reset(copy);
  return keel_buf_append(copy, p, n) ? NULL : copy->data;
}

static int call(keel_task_fn *fn, const keel__task *t, keel_buf *res)
{
  keel__task at = *t;
  if (!(at.arg = aligned(t->arg, t->arg_len, &tp.copy)))
    return keel_fail(res, "out of memory aligning the task's argument");
  if (t->item_size)
    return run_chunk(fn, &at, res);
  return normalise(fn(at.arg, at.arg_len, res), res);
}

static void run_task(const keel__task *t)
{
  keel_buf *res = &tp.res;
  const char *name;
  keel_task_fn *fn = keel__registry_fn(t->fn, &name);
  double t0 = keel__clock_now();
  uint32_t reads = settled_reads();
  int status;
  keel__buf_reset(res);
  tp.name = name;
  atomic_store(&tp.shm->started, t0);
  atomic_store(&tp.shm->task_id, t->id);
  keel__debug("task %llu (%s) starts", (unsigned long long)t->id,
              name ? name : "?");
  if (!fn) {
    keel_buf_printf(res, "task function %016llx is not registered in the "
                    "task process (is it the same binary?)",
                    (unsigned long long)t->fn);
    status = KEEL_ENOTASK;
  } else {
    status = call(fn, t, res);
  }
  if (res->len > KEEL__PAYLOAD_MAX) { /* it could not travel: fail it */
    size_t n = res->len;
    keel_fail(res, "the result of %zu bytes is over keel's limit of %zu",
              n, (size_t)KEEL__PAYLOAD_MAX);
    status = KEEL_ETASK;
  }
  bool printed = flush_output(reads);
  if (printed)
    atomic_store(&tp.shm->out_task, t->id);
  double t1 = keel__clock_now();
  double us = (t1 - t0) * 1e6;
  keel__debug("task %llu (%s) ends after %.0f us: %s",
              (unsigned long long)t->id, name ? name : "?", us,
              status ? keel_strerror(status) : "ok");
  keel__result r = {t->id, status, us > 4e9 ? 4000000000u : (uint32_t)us,
                    res->data, (uint32_t)res->len};
  send_result(&r);
  /* Only now is the task over for the nanny: a death before this point
   * is blamed on it, after it on nothing. */
  atomic_store(&tp.shm->task_id, 0);
  tp.name = NULL;
  if (printed)
    end_output(t->id);
  slim(&tp.res);
  slim(&tp.copy);
}

/* Run count task records from p[0, len), in order. */
static void run_records(const char *p, size_t len, uint32_t count)
{
  keel__wire_rd rd;
  keel__wire_reader(&rd, p, len);
  for (uint32_t i = 0; i < count; i++) {
    keel__task t;
    if (keel__wire_get_task(&rd, &t))
      _exit(2); /* the nanny sees a death outside any task */
    run_task(&t);
  }
}

/* The nanny's memfd named by TASKFD, mapped (its whole size in *len),
 * or MAP_FAILED with errno. */
static void *map_nanny_fd(uint32_t fd, size_t need, size_t *len)
{
  char path[64];
  struct stat st;
  snprintf(path, sizeof path, "/proc/%d/fd/%u", (int)getppid(), fd);
  int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0)
    return MAP_FAILED;
  void *map = MAP_FAILED;
  if (fstat(f, &st) == 0 && (size_t)st.st_size >= need) {
    *len = (size_t)st.st_size;
    map = mmap(NULL, *len, PROT_READ, MAP_SHARED, f, 0);
  } else {
    errno = EINVAL; /* not the nanny's message: too short */
  }
  int e = errno;
  close(f);
  errno = e;
  return map;
}

/* TASKFD: one task whose TASKS message lies in a memfd of the nanny's
 * (worker/shmbuf.c), run where it lies: one copy of a large argument on
 * the node.  If it cannot be reached, the task fails saying why. */
static void run_mapped(const char *p, size_t n)
{
  keel__wire_rd rd;
  keel__wire_reader(&rd, p, n);
  uint64_t id = keel__wire_get_u64(&rd);
  uint32_t fd = keel__wire_get_u32(&rd), off = keel__wire_get_u32(&rd),
           mlen = keel__wire_get_u32(&rd);
  if (rd.err || id == 0 || mlen < KEEL__WIRE_HDR)
    _exit(2); /* the nanny sees a death outside any task */
  size_t len = 0;
  char *map = map_nanny_fd(fd, (size_t)off + mlen, &len);
  if (map == MAP_FAILED) {
    char *why = keel__error_printf("cannot map the task's argument from "
                                   "its worker (/proc/%d/fd/%u): %s",
                                   (int)getppid(), fd, strerror(errno));
    keel__result r = {id, KEEL_ESYS, 0, why, why ? (uint32_t)strlen(why) : 0};
    send_result(&r);
    free(why);
    return;
  }
  keel__wire_hdr h;
  const char *why;
  if (keel__wire_check(map + off, mlen, &h, &why) ||
      h.type != KEEL__M_TASKS || h.count != 1)
    _exit(2);
  run_records(map + off + KEEL__WIRE_HDR, h.len, 1);
  munmap(map, len);
}

/* The next slot its nanny offers in the shared page's ring
 * (proto/channel.h), if any: taken, copied out (the nanny may reuse the
 * slot once it sees COPIED), and run.  True if there was one. */
static bool run_offered(void)
{
  struct keel__ring_slot *r = &tp.shm->ring[tp.take % KEEL__RING_SLOTS];
  uint32_t offered = KEEL__MB_OFFERED;
  if (!atomic_compare_exchange_strong(&r->state, &offered, KEEL__MB_TAKEN))
    return false;
  tp.take++;
  uint32_t len = r->len, count = r->count;
  keel__buf_reset(&tp.mbox);
  if (len > KEEL__RING_BYTES || keel_buf_append(&tp.mbox, r->task, len))
    _exit(2);
  atomic_store(&r->state, KEEL__MB_COPIED);
  run_records(tp.mbox.data, tp.mbox.len, count);
  return true;
}

/* ---- start-up ---- */

static void initialise(const char *m, const keel__wire_hdr *h)
{
  keel__wire_rd rd;
  keel__xopts o;
  keel__wire_reader(&rd, m + KEEL__WIRE_HDR, h->len);
  if (h->type != KEEL__M_OPEN || keel__wire_get_open(&rd, &o))
    _exit(2);
  atomic_store(&tp.shm->phase, KEEL__P_INIT);
  keel_task_fn *initializer =
      o.init_fn ? keel__registry_fn(o.init_fn, NULL) : NULL;
  keel_buf b = {0};
  int rc = 0;
  if (o.init_fn && !initializer)
    rc = keel_fail(&b, "initializer %016llx is not registered in the task "
                   "process", (unsigned long long)o.init_fn);
  else if (initializer) {
    keel_buf copy = {0};
    const void *arg = aligned(o.initarg, o.initarg_len, &copy);
    rc = arg ? normalise(initializer(arg, o.initarg_len, &b), &b)
             : keel_fail(&b, "out of memory aligning the initializer's "
                             "argument");
    keel__buf_free(&copy);
  }
  if (rc) {
    keel_buf msg = {0};
    keel__wire_put_hdr(&msg, KEEL__M_INITFAIL, 0, 0);
    keel_buf_append(&b, "", 1);
    keel__wire_put_str(&msg, b.data);
    keel__wire_finish(&msg, 0, 0);
    keel__fd_write_all(CHAN_FD, msg.data, msg.len);
    _exit(KEEL__INITFAIL_STATUS);
  }
  keel__buf_free(&b);
  atomic_store(&tp.shm->phase, KEEL__P_READY);
}

static void attach_to_nanny(void)
{
  const char *nanny = getenv(KEEL__ENV_NANNY);
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with its nanny */
  if (!nanny || getppid() != (pid_t)atoi(nanny))
    _exit(1); /* the nanny died before we could ask */
  tp.shm = mmap(NULL, sizeof *tp.shm, PROT_READ | PROT_WRITE, MAP_SHARED,
                SHM_FD, 0);
  if (tp.shm == MAP_FAILED)
    _exit(1);
  close(SHM_FD);
  if (fstat(CHAN_FD, &tp.chan))
    _exit(1);
  unsetenv(KEEL__ENV_ROLE);
  unsetenv(KEEL__ENV_NANNY);
  tp.tag = keel__env_switch("KEEL_TAG_OUTPUT");

}

void keel__taskproc_main(void)
{
  size_t consumed = 0;
  ssize_t n;
  keel__wire_hdr h;
  const char *why;
  attach_to_nanny();
  install_crash_handlers();
  if ((n = next_msg(&consumed)) <= 0 ||
      keel__wire_check(tp.in.data + consumed, (size_t)n, &h, &why))
    _exit(n == 0 ? 0 : 2);
  initialise(tp.in.data + consumed, &h);
  consumed += (size_t)n;
  for (;;) {
    /* The ring before the channel: its tasks come first. */
    while (run_offered())
      ;
    n = next_msg(&consumed);
    if (n == 0)
      exit(0); /* EOF: retired by the nanny */
    if (n < 0 || keel__wire_check(tp.in.data + consumed, (size_t)n, &h, &why) ||
        (h.type != KEEL__M_TASKS && h.type != KEEL__M_TASKFD))
      _exit(2);
    /* Read: the nanny may offer what comes after them in the ring.  No
     * task at all is a wake-up: the ring has some. */
    atomic_fetch_add(&tp.shm->chan_read, h.count);
    atomic_fetch_add(&tp.shm->chan_msgs, 1);
    if (h.type == KEEL__M_TASKFD)
      run_mapped(tp.in.data + consumed + KEEL__WIRE_HDR, h.len);
    else
      run_records(tp.in.data + consumed + KEEL__WIRE_HDR, h.len, h.count);
    consumed += (size_t)n;
    slim_in(&consumed);
  }
}
