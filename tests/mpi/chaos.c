/* chaos: random faults for a set time, under keelrun -n 2 (tests/scripts/
 * chaos; make check runs 30 s, make soak-chaos 10 minutes).  Round after
 * round, an executor with a random policy gets a batch of tasks of which
 * some segfault, SIGKILL or exit(3) their task process, overrun their
 * deadline or return a big result; one round in six has a task SIGKILL or
 * SIGSTOP its own nanny (the rank is lost and replaced); some callbacks
 * submit more work; some
 * executors are shut down (CANCEL or KILL) while tasks run.
 *
 * Checked: every future resolves exactly once (its on_done runs once) with
 * an outcome that fits its fault, its executor's policy and whether it was
 * shut down; every follow-up submitted from a callback resolves too;
 * nothing hangs (a watchdog per round); the master's RSS stays flat.  The
 * script then checks that no process outlived the job.  The counts are
 * printed at the end. */
#include "../testutil.h"
#include "tasks.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>

enum kind { OK, SEGV, KILL, EXIT3, SLOW, BIG, NANNY_KILL, NANNY_STOP, NKIND };
static const char *const kind_name[NKIND] = {
    "ok", "segv", "sigkill", "exit 3", "past deadline", "big result",
    "nanny SIGKILL", "nanny SIGSTOP"};

#define DEADLINE 0.5         /* task_timeout, seconds */
#define BIG_BYTES (4u << 20) /* travels alone */
#define MAX_TASKS 256        /* a round's tasks, follow-ups apart */

typedef struct {
  uint32_t kind;
  uint32_t ms;
  uint64_t seq;
} job;

static int t_chaos(const void *arg, size_t len, keel_buf *out)
{
  job j;
  memcpy(&j, arg, len < sizeof j ? len : sizeof j);
  switch (j.kind) {
  case SEGV:
    die_as(DIE_SEGV);
    break;
  case KILL:
    die_as(DIE_KILL);
    break;
  case EXIT3:
    die_as(DIE_EXIT3);
    break;
  case SLOW:
    sleep_s(4 * DEADLINE);
    break;
  case NANNY_KILL:
    kill(getppid(), SIGKILL);
    sleep_s(30);
    break;
  case NANNY_STOP:
    kill(getppid(), SIGSTOP);
    sleep_s(30);
    break;
  case BIG: {
    char *p = malloc(BIG_BYTES);
    if (!p)
      return keel_fail(out, "no memory");
    memset(p, (int)(j.seq & 0xff), BIG_BYTES);
    int rc = keel_buf_append(out, p, BIG_BYTES);
    free(p);
    return rc;
  }
  }
  sleep_s(j.ms / 1000.0);
  uint64_t r = 2 * j.seq + 1;
  return keel_buf_append(out, &r, sizeof r);
}
KEEL_REGISTER(t_chaos);

static uint64_t rng = 0x6b65656c; /* xorshift, seeded from KEEL_CHAOS_SEED */
static uint64_t next(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static int pick_kind(void)
{
  unsigned r = (unsigned)(next() % 1000);
  return r < 30 ? SEGV : r < 50 ? KILL : r < 70 ? EXIT3 : r < 90 ? SLOW
       : r < 110 ? BIG : OK;
}

/* ---- one round ---- */

typedef struct chaos_round chaos_round;
typedef struct {
  chaos_round *r;
  job j;
  keel_future *f;
  atomic_int calls; /* on_done runs */
  bool follow;      /* its callback submits a follow-up */
} entry;

struct chaos_round {
  keel_executor *ex;
  int policy;
  bool rank_fault;  /* a task of it stops or kills its nanny */
  atomic_bool shut; /* shut down mid-flight */
  entry e[MAX_TASKS];
  int n;
  pthread_mutex_t mu; /* the follow-ups */
  keel_future *follow[MAX_TASKS];
  int nfollow;
};

static uint64_t counts[NKIND][3]; /* kind: fitting outcome, collateral, wrong */
static uint64_t follow_ok, follow_refused, rounds, shutdowns;
static atomic_ullong seq;

static void on_done(keel_future *f, void *arg)
{
  entry *e = arg;
  (void)f;
  atomic_fetch_add(&e->calls, 1);
  if (!e->follow || atomic_load(&e->r->shut))
    return;
  /* A callback that submits more work, as a pipeline does. */
  job j = {OK, 1, atomic_fetch_add(&seq, 1)};
  keel_future *g = NULL;
  int rc = keel_submit(e->r->ex, t_chaos, &j, sizeof j, &g);
  pthread_mutex_lock(&e->r->mu);
  if (rc == KEEL_OK && e->r->nfollow < MAX_TASKS)
    e->r->follow[e->r->nfollow++] = g;
  else if (rc == KEEL_OK)
    keel_future_release(g);
  else
    follow_refused++; /* its executor is broken or shut down: fine */
  pthread_mutex_unlock(&e->r->mu);
}

/* Does rc fit what the task was? 0 fits, 1 collateral (fits the round:
 * broken, shut down), 2 wrong. */
static int judge(const chaos_round *r, const entry *e, int rc, const void *d,
                 size_t len)
{
  if (rc == KEEL_OK) {
    if (e->j.kind == BIG)
      return len == BIG_BYTES &&
                     ((const unsigned char *)d)[BIG_BYTES - 1] ==
                         (e->j.seq & 0xff)
                 ? 0 : 2;
    uint64_t v;
    if (len != sizeof v || (memcpy(&v, d, sizeof v), v != 2 * e->j.seq + 1))
      return 2;
    return e->j.kind == OK ? 0 : 2;
  }
  if (rc == KEEL_ECANCELED || rc == KEEL_ESHUTDOWN)
    return atomic_load(&r->shut) ? 1 : 2;
  if (rc == KEEL_EBROKEN)
    return r->policy == KEEL_ON_CRASH_BREAK ? 1 : 2;
  switch (e->j.kind) {
  case SEGV: case KILL: case EXIT3: case NANNY_KILL: case NANNY_STOP:
    return rc == KEEL_EWORKER ? 0 : 2;
  default:
    if (e->j.kind == SLOW && rc == KEEL_EDEADLINE)
      return 0;
    /* When a rank is lost, the master blames the oldest task it had sent
     * there (keel(3), Lost ranks): a task whose result the nanny had not
     * yet passed on when its culprit stopped or killed it.  Innocents share
     * a crash otherwise only under BREAK (EBROKEN, above). */
    return rc == KEEL_EWORKER && r->rank_fault ? 1 : 2;
  }
}

/* Returns whether the round lost ranks (their replacements cost the
 * master memory: Open MPI maps shared memory for each new peer). */
static bool play_round(double now_s)
{
  static chaos_round r;
  keel_options o;
  memset(&r, 0, sizeof r);
  pthread_mutex_init(&r.mu, NULL);
  keel_options_init(&o);
  int p = (int)(next() % 10);
  r.policy = p < 4 ? KEEL_ON_CRASH_FAIL_TASK
           : p < 8 ? KEEL_ON_CRASH_RETRY : KEEL_ON_CRASH_BREAK;
  o.on_crash = r.policy;
  o.max_retries = 1;
  o.task_timeout = DEADLINE;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &r.ex), KEEL_OK);
  r.n = 50 + (int)(next() % 150);
  /* one round in six loses a rank (each replaced by a spawn) */
  int nanny = next() % 6 == 0 ? (next() % 3 ? NANNY_KILL : NANNY_STOP) : -1;
  for (int i = 0; i < r.n; i++) {
    entry *e = &r.e[i];
    e->r = &r;
    e->j = (job){(uint32_t)pick_kind(), (uint32_t)(next() % 20),
                 atomic_fetch_add(&seq, 1)};
    if (i == r.n / 2 && nanny >= 0) {
      e->j.kind = (uint32_t)nanny;
      r.rank_fault = true;
    }
    e->follow = e->j.kind == OK && next() % 8 == 0;
    CU_ASSERT_EQUAL_FATAL(keel_submit(r.ex, t_chaos, &e->j, sizeof e->j,
                                      &e->f), KEEL_OK);
    CU_ASSERT_EQUAL(keel_future_on_done(e->f, on_done, e), KEEL_OK);
  }
  if (next() % 5 == 0) { /* shut down while tasks run */
    sleep_s((double)(next() % 300) / 1000);
    atomic_store(&r.shut, true);
    shutdowns++;
    CU_ASSERT_EQUAL(keel_executor_shutdown(
                        r.ex, KEEL_SHUTDOWN_WAIT | (next() % 2
                                                        ? KEEL_SHUTDOWN_CANCEL
                                                        : KEEL_SHUTDOWN_KILL)),
                    KEEL_OK);
  } else {
    keel_future *fs[MAX_TASKS];
    for (int i = 0; i < r.n; i++)
      fs[i] = r.e[i].f;
    CU_ASSERT_EQUAL(keel_wait(fs, (size_t)r.n, KEEL_ALL_COMPLETED, 120, NULL),
                    KEEL_OK);
    /* WAIT also waits for the callbacks, so the follow-ups are in */
    CU_ASSERT_EQUAL(keel_executor_shutdown(r.ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  }
  for (int i = 0; i < r.n; i++) {
    entry *e = &r.e[i];
    const void *d = NULL;
    size_t len = 0;
    int rc = keel_future_result(e->f, 0, &d, &len);
    int v = judge(&r, e, rc, d, len);
    counts[e->j.kind][v]++;
    if (v == 2) {
      const keel_error *er = keel_future_error(e->f);
      fprintf(stderr, "chaos: at %.1f s, task %" PRIu64 " (%s, policy %d%s): "
              "%s: %s\n", now_s, e->j.seq, kind_name[e->j.kind], r.policy,
              atomic_load(&r.shut) ? ", shut down" : "", keel_err_name(rc),
              er && er->message ? er->message : "");
      CU_FAIL("an outcome that does not fit its fault");
    }
    CU_ASSERT_EQUAL(atomic_load(&e->calls), 1); /* exactly once */
    keel_future_release(e->f);
  }
  for (int i = 0; i < r.nfollow; i++) {
    int rc = keel_future_result(r.follow[i], 0, NULL, NULL);
    CU_ASSERT(rc == KEEL_OK || (atomic_load(&r.shut) &&
                                (rc == KEEL_ECANCELED || rc == KEEL_ESHUTDOWN)) ||
              (r.policy == KEEL_ON_CRASH_BREAK && rc == KEEL_EBROKEN));
    follow_ok += rc == KEEL_OK;
    keel_future_release(r.follow[i]);
  }
  pthread_mutex_destroy(&r.mu);
  rounds++;
  return r.rank_fault;
}

static double seconds = 30;

static void test_chaos(void)
{
  TU_SKIP_IF(tu_no_spawn()); /* needs MPI_Comm_spawn */
  printf("\n  chaos: seed %#" PRIx64 ", %.0f s\n", rng, seconds);
  double t0 = tu_now();
  size_t rss_start = 0;
  long task_growth = 0, rank_growth = 0; /* KiB, after the first fifth */
  while (tu_now() - t0 < seconds) {
    WATCHDOG(300); /* a round that hangs fails the run */
    size_t before = tu_rss_kib();
    bool lost = play_round(tu_now() - t0);
    long grew = (long)tu_rss_kib() - (long)before;
    if (rss_start) {
      if (lost)
        rank_growth += grew;
      else
        task_growth += grew;
    }
    if (!rss_start && tu_now() - t0 > seconds / 5)
      rss_start = tu_rss_kib();
  }
  size_t rss_end = tu_rss_kib();
  uint64_t total[3] = {0};
  printf("\n  chaos: %.0f s, %" PRIu64 " rounds (%" PRIu64 " shut down mid-flight)"
         "\n", tu_now() - t0, rounds, shutdowns);
  for (int k = 0; k < NKIND; k++) {
    printf("    %-14s %8" PRIu64 " fitting, %6" PRIu64 " collateral (broken or "
           "shut down), %" PRIu64 " wrong\n", kind_name[k], counts[k][0],
           counts[k][1], counts[k][2]);
    for (int v = 0; v < 3; v++)
      total[v] += counts[k][v];
  }
  printf("    follow-ups from callbacks: %" PRIu64 " ran, %" PRIu64
         " refused by a broken or shut down executor\n", follow_ok,
         follow_refused);
  printf("    master RSS: %zu KiB after a fifth, %zu KiB at the end: %+ld "
         "KiB over rounds that lost ranks (replacements), %+ld KiB over the "
         "others\n", rss_start, rss_end, rank_growth, task_growth);
  CU_ASSERT_EQUAL(total[2], 0);
  CU_ASSERT(counts[NANNY_KILL][0] + counts[NANNY_STOP][0] > 0 ||
            seconds < 20); /* the rank faults happened */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  /* flat over the rounds that lose no rank (tests/scripts/chaos makes
   * big blocks mmapped, so RSS follows live memory): allocator noise */
  CU_ASSERT(task_growth <= 4096);
#endif
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {TU_TEST(test_chaos)};
  const char *s = getenv("KEEL_CHAOS_SECONDS");
  const char *seed = getenv("KEEL_CHAOS_SEED");
  if (s && atof(s) > 0)
    seconds = atof(s);
  if (seed && strtoull(seed, NULL, 0))
    rng = strtoull(seed, NULL, 0);
  /* A stopped nanny is found by silence: do not wait 10 s for each.  But
   * a replacement's spawn holds the manager thread (heartbeats) while it
   * runs: seconds in a sanitizer build, so there the default 10 s. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  setenv("KEEL_HEARTBEAT_TIMEOUT", "10", 1);
#else
  setenv("KEEL_HEARTBEAT_TIMEOUT", "5", 1);
#endif
  return tu_keel_main(&argc, &argv, "chaos", tests,
                      sizeof tests / sizeof *tests);
}
