/* tasks.h: task functions the integration tests run (each test program
 * includes it once, so every rank registers the same names). */
#ifndef KEEL_TEST_TASKS_H
#define KEEL_TEST_TASKS_H

#include <keel.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

static int arg_int(const void *arg, size_t len)
{
  int x = 0;
  memcpy(&x, arg, len < sizeof x ? len : sizeof x);
  return x;
}

static int t_square(const void *arg, size_t len, keel_buf *out)
{
  long long x = arg_int(arg, len);
  long long y = x * x;
  return keel_buf_append(out, &y, sizeof y);
}
KEEL_REGISTER(t_square);

static int t_empty(const void *arg, size_t len, keel_buf *out)
{
  return 0;
}
KEEL_REGISTER(t_empty);

static int t_fail(const void *arg, size_t len, keel_buf *out)
{
  return keel_fail(out, "bad input %d", arg_int(arg, len));
}
KEEL_REGISTER(t_fail);

/* Squares, but fails on 13: for map error tests. */
static int t_square_but_13(const void *arg, size_t len, keel_buf *out)
{
  if (arg_int(arg, len) == 13)
    return keel_fail(out, "unlucky %d", 13);
  return t_square(arg, len, out);
}
KEEL_REGISTER(t_square_but_13);

/* n bytes of a pattern that depends on n (n from the argument, or 8 bytes
 * per map item of n items): results big enough to travel alone. */
static unsigned char pattern_byte(size_t n, size_t i)
{
  return (unsigned char)((i * 7 + n) & 0xff);
}

static int t_pattern(const void *arg, size_t len, keel_buf *out)
{
  size_t n = (size_t)arg_int(arg, len);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = pattern_byte(n, i);
    if (keel_buf_append(out, &c, 1))
      return keel_fail(out, "out of memory at byte %zu", i);
  }
  return 0;
}
KEEL_REGISTER(t_pattern);

/* A map item that reads back what it wrote: its out must look like its own
 * buffer although items share the chunk's.  Odd items write, then fail. */
static int t_item_readback(const void *arg, size_t len, keel_buf *out)
{
  int i = arg_int(arg, len);
  char mine[32];
  int n = snprintf(mine, sizeof mine, "item %d", i);
  if (keel_buf_len(out) != 0 || keel_buf_append(out, mine, (size_t)n))
    return keel_fail(out, "out was not empty on entry");
  if (keel_buf_len(out) != (size_t)n || memcmp(keel_buf_data(out), mine, n))
    return keel_fail(out, "out does not read back");
  return i % 2 ? keel_fail(out, "odd %d", i) : 0;
}
KEEL_REGISTER(t_item_readback);

static void sleep_s(double s)
{
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts))
    ;
}

/* Sleeps arg milliseconds, returns its pid. */
static int t_sleep_ms(const void *arg, size_t len, keel_buf *out)
{
  sleep_s(arg_int(arg, len) / 1000.0);
  int pid = (int)getpid();
  return keel_buf_append(out, &pid, sizeof pid);
}
KEEL_REGISTER(t_sleep_ms);

static int t_pid(const void *arg, size_t len, keel_buf *out)
{
  int pid = (int)getpid();
  return keel_buf_append(out, &pid, sizeof pid);
}
KEEL_REGISTER(t_pid);

/* Crash this task process as a buggy task would.  A real segfault is a
 * write to a page mapped without access (a NULL store would be caught by
 * UBSan in a sanitizer build before the signal). */
enum { DIE_SEGV = 1, DIE_KILL, DIE_EXIT3 };
static inline void die_as(int how)
{
  if (how == DIE_SEGV) {
    volatile int *p = mmap(NULL, 4096, PROT_NONE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *p = 1;
  } else if (how == DIE_KILL) {
    kill(getpid(), SIGKILL);
  } else if (how == DIE_EXIT3) {
    _exit(3);
  }
}

static int t_segv(const void *arg, size_t len, keel_buf *out)
{
  (void)arg;
  (void)len;
  (void)out;
  die_as(DIE_SEGV);
  return 0;
}
KEEL_REGISTER(t_segv);

static int t_sigkill(const void *arg, size_t len, keel_buf *out)
{
  kill(getpid(), SIGKILL);
  sleep_s(10);
  return 0;
}
KEEL_REGISTER(t_sigkill);

static int t_exit3(const void *arg, size_t len, keel_buf *out)
{
  exit(3);
}
KEEL_REGISTER(t_exit3);

static int t_abort(const void *arg, size_t len, keel_buf *out)
{
  abort();
}
KEEL_REGISTER(t_abort);

/* Touches arg MiB, one page at a time, slowly enough to be watched. */
static int t_alloc_mib(const void *arg, size_t len, keel_buf *out)
{
  size_t mib = (size_t)arg_int(arg, len);
  char *p = malloc(mib << 20);
  if (!p)
    return keel_fail(out, "malloc failed");
  for (size_t i = 0; i < (mib << 20); i += 4096) {
    p[i] = 1;
    if (i % (1 << 20) == 0)
      sleep_s(1e-3);
  }
  free(p);
  return 0;
}
KEEL_REGISTER(t_alloc_mib);

/* Segfault if the marker file at path p[0..n) is not there yet (making
 * it): the first run for a path crashes, the next ones go on. */
static inline void crash_first_time(const char *p, size_t n)
{
  char path[256];
  snprintf(path, sizeof path, "%.*s", (int)n, p);
  int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
  if (fd >= 0) {
    close(fd);
    raise(SIGSEGV);
  }
}

/* Crashes the first time it runs for a marker path, succeeds after. */
static int t_crash_once(const void *arg, size_t len, keel_buf *out)
{
  crash_first_time(arg, len);
  return keel_buf_append(out, "ok", 2);
}
KEEL_REGISTER(t_crash_once);

static int init_value;
static int t_init_set(const void *arg, size_t len, keel_buf *out)
{
  init_value = arg_int(arg, len);
  return 0;
}
KEEL_REGISTER(t_init_set);

/* An initializer that fails, after a moment: the executor's first tasks
 * are submitted by then, so they fail with its message. */
static int t_init_fail(const void *arg, size_t len, keel_buf *out)
{
  usleep(300 * 1000);
  return keel_fail(out, "cannot open the model file");
}
KEEL_REGISTER(t_init_fail);

static int t_init_get(const void *arg, size_t len, keel_buf *out)
{
  return keel_buf_append(out, &init_value, sizeof init_value);
}
KEEL_REGISTER(t_init_get);

/* Writes junk into its own channel to the nanny (fd 3), then returns. */
static int t_garbage(const void *arg, size_t len, keel_buf *out)
{
  char junk[64];
  memset(junk, 0x5a, sizeof junk);
  if (write(3, junk, sizeof junk) < 0)
    return keel_fail(out, "write failed");
  sleep_s(0.5);
  return 0;
}
KEEL_REGISTER(t_garbage);

/* Appends one byte to the file named by arg: counts how often it ran. */
static int t_count_runs(const void *arg, size_t len, keel_buf *out)
{
  char path[256];
  snprintf(path, sizeof path, "%.*s", (int)len, (const char *)arg);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0 || write(fd, "x", 1) != 1)
    return keel_fail(out, "cannot append to %s", path);
  close(fd);
  return 0;
}
KEEL_REGISTER(t_count_runs);

/* How far its argument is from max_align_t alignment (0 = aligned); in a
 * map, each item's offset from 8-byte alignment. */
static int t_misalign(const void *arg, size_t len, keel_buf *out)
{
  long long off = (long long)((uintptr_t)arg % (len == 8 ? 8 : 16));
  return keel_buf_append(out, &off, sizeof off);
}
KEEL_REGISTER(t_misalign);

/* Is pid running?  A zombie is not: when its parent died, whoever
 * adopted it (pid 1 in a container) may never reap it. */
static inline bool pid_running(int pid)
{
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *end = strrchr(buf, ')');
  return end && end[1] == ' ' && end[2] != 'Z' && end[2] != 'X';
}

#ifdef KEEL_TESTUTIL_H
/* An executor with the given crash policy, task_timeout and memory_limit
 * (0: none), every worker; fails the test if it cannot be made. */
static inline keel_executor *make_executor(int on_crash, double timeout,
                                           size_t mem)
{
  keel_options o;
  keel_executor *ex = NULL;
  keel_options_init(&o);
  o.on_crash = on_crash;
  o.task_timeout = timeout;
  o.memory_limit = mem;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  return ex;
}

/* An executor that runs a crashed task again, up to max_retries times;
 * fails the test if it cannot be made. */
static inline keel_executor *make_retry_executor(int max_retries)
{
  keel_options o;
  keel_executor *ex = NULL;
  keel_options_init(&o);
  o.on_crash = KEEL_ON_CRASH_RETRY;
  o.max_retries = max_retries;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  return ex;
}

/* Submit fn(x) for an int x; fails the test if it cannot be. */
static inline keel_future *submit_int(keel_executor *ex, keel_task_fn *fn,
                                      int x)
{
  keel_future *f = NULL;
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, fn, &x, sizeof x, &f), KEEL_OK);
  return f;
}

/* main() of an integration test: workers serve inside keel_init(); the
 * master runs the suite, then finalises under a watchdog. */
static inline int tu_keel_main(int *argc, char ***argv, const char *suite,
                        const tu_test *tests, size_t n)
{
  int rc = keel_init(argc, argv);
  if (rc) {
    fprintf(stderr, "keel_init: %s\n", keel_strerror(rc));
    return 2;
  }
  rc = tu_run(suite, tests, n);
  tu_watchdog("keel_finalize", 60);
  return keel_finalize() != KEEL_OK ? 1 : rc;
}
#endif

#endif
