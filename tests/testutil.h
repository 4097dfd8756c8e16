/* testutil.h: what keel's CUnit programs share: a watchdog per test (a hang
 * fails the test and the program instead of stalling CI) and the runner. */
#ifndef KEEL_TESTUTIL_H
#define KEEL_TESTUTIL_H

#include <CUnit/Basic.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *tu_current = "?";

static void tu_on_alarm(int sig)
{
  (void)sig;
  char msg[256];
  int n = snprintf(msg, sizeof msg, "\nWATCHDOG: test '%s' hung; failing\n",
                   tu_current);
  if (write(2, msg, (size_t)n) < 0) {
  }
  _exit(99);
}

/* Arm the watchdog for the current test. */
static inline void tu_watchdog(const char *name, unsigned seconds)
{
  tu_current = name;
  signal(SIGALRM, tu_on_alarm);
  alarm(seconds);
}

static inline double tu_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* This process's resident memory, KiB (0 if /proc cannot tell). */
static inline size_t tu_rss_kib(void)
{
  unsigned long size = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f && fscanf(f, "%lu %lu", &size, &rss) != 2)
    rss = 0;
  if (f)
    fclose(f);
  return rss * (size_t)sysconf(_SC_PAGESIZE) / 1024;
}

/* First line of every test: a hang past `seconds` fails the program. */
#define WATCHDOG(seconds) tu_watchdog(__func__, seconds)

/* Why keel cannot spawn ranks with this MPI here, or NULL.  Debian's
 * MPICH 4.0 fails every MPI_Comm_spawn (a plain MPI program's too), so a
 * program started alone gets no workers and a lost rank is not replaced:
 * tests of those skip, saying so (doc/mpich.md lists them). */
static inline const char *tu_no_spawn(void)
{
#if defined(MPICH_NUMVERSION) && MPICH_NUMVERSION < 40100000
  return "MPICH " MPICH_VERSION "'s MPI_Comm_spawn fails here";
#else
  return NULL;
#endif
}

static unsigned tu_skipped; /* tests that skipped themselves */

/* Skip the calling test when why is not NULL, saying why. */
#define TU_SKIP_IF(why)                                                       \
  do {                                                                        \
    const char *why_ = (why);                                                 \
    if (why_) {                                                               \
      printf("skipped: %s ... ", why_);                                       \
      tu_skipped++;                                                           \
      return;                                                                 \
    }                                                                         \
  } while (0)

typedef struct tu_test {
  const char *name;
  void (*fn)(void);
} tu_test;

/* Run tests as one CUnit suite; returns the exit status for main(). */
static inline int tu_run(const char *suite, const tu_test *tests, size_t n)
{
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 2;
  CU_pSuite s = CU_add_suite(suite, NULL, NULL);
  for (size_t i = 0; i < n; i++)
    CU_add_test(s, tests[i].name, tests[i].fn);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned fails = CU_get_number_of_failures();
  unsigned run = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  alarm(0);
  if (!fails && run == n && tu_skipped == n)
    return 77; /* automake's SKIP */
  return fails || run != n ? 1 : 0;
}

#define TU_TEST(fn) {#fn, fn}

#endif
