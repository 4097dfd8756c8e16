/* test_bind: where workers run and how many threads their tasks get
 * (bind.c, threads.c).  Each case runs in a child of its own, since the
 * cores per worker are read once per process: M cores per worker from
 * KEEL_CORES_PER_WORKER or Slurm's -c, workers wrapping around the usable
 * cores, never outside the cpuset the launcher gave, no more than
 * SLURM_CPUS_ON_NODE inside a job, and KEEL_BIND=none binding nobody. */
#include "../testutil.h"
#include "sys/sys.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* fn's value in a fresh child with the environment vars ("A=1", ...). */
static long in_child(long (*fn)(long), long arg, const char *const *vars)
{
  int p[2];
  if (pipe(p))
    return -999;
  pid_t c = fork();
  if (c == 0) {
    for (const char *const *v = vars; v && *v; v++)
      putenv((char *)*v);
    long r = fn(arg);
    (void)!write(p[1], &r, sizeof r);
    _exit(0);
  }
  long r = -999;
  close(p[1]);
  if (read(p[0], &r, sizeof r) != (ssize_t)sizeof r)
    r = -999;
  close(p[0]);
  waitpid(c, NULL, 0);
  return r;
}

static long per_worker(long unused)
{
  (void)unused;
  return keel__bind_per_worker();
}

static void test_cores_per_worker_from_env_and_slurm(void)
{
  WATCHDOG(20);
  unsetenv("KEEL_CORES_PER_WORKER");
  unsetenv("SLURM_JOB_ID");
  unsetenv("SLURM_CPUS_PER_TASK");
  CU_ASSERT_EQUAL(in_child(per_worker, 0, NULL), 1);
  const char *two[] = {"KEEL_CORES_PER_WORKER=2", NULL};
  CU_ASSERT_EQUAL(in_child(per_worker, 0, two), 2);
  const char *slurm[] = {"SLURM_JOB_ID=7", "SLURM_CPUS_PER_TASK=3", NULL};
  CU_ASSERT_EQUAL(in_child(per_worker, 0, slurm), 3);
  const char *both[] = {"SLURM_JOB_ID=7", "SLURM_CPUS_PER_TASK=3",
                        "KEEL_CORES_PER_WORKER=2", NULL};
  CU_ASSERT_EQUAL(in_child(per_worker, 0, both), 2); /* ours wins */
  const char *stale[] = {"SLURM_CPUS_PER_TASK=3", NULL}; /* not in a job */
  CU_ASSERT_EQUAL(in_child(per_worker, 0, stale), 1);
  const char *bad[] = {"KEEL_CORES_PER_WORKER=0", NULL}; /* warned, 1 */
  CU_ASSERT_EQUAL(in_child(per_worker, 0, bad), 1);
}

/* The CPUs this process may run on, as a bit mask (CPUs < 64). */
static long affinity(void)
{
  cpu_set_t s;
  long mask = 0;
  if (sched_getaffinity(0, sizeof s, &s))
    return -1;
  for (int i = 0; i < 64; i++)
    if (CPU_ISSET(i, &s))
      mask |= 1L << i;
  return mask;
}

/* Bind as worker `index` of 2 on the node; the resulting mask, or -1
 * when unbound. */
static long bind_as(long index)
{
  char desc[256];
  return keel__bind_self((int)index, 2, desc, sizeof desc) < 0 ? -1
                                                                : affinity();
}

static int cpus(void)
{
  return __builtin_popcountl((unsigned long)affinity());
}

static void test_workers_get_cores_and_wrap(void)
{
  WATCHDOG(20);
  TU_SKIP_IF(cpus() < 2 ? "fewer than 2 CPUs to bind to" : NULL);
  TU_SKIP_IF(affinity() < 0 || affinity() >= (1L << 62) ? "CPUs past 62"
                                                        : NULL);
  unsetenv("SLURM_JOB_ID");
  const char *env[] = {"KEEL_CORES_PER_WORKER=1", "KEEL_BIND=core", NULL};
  long w0 = in_child(bind_as, 0, env), w1 = in_child(bind_as, 1, env);
  long w2 = in_child(bind_as, 2, env);
  CU_ASSERT_TRUE(w0 > 0 && w1 > 0);
  CU_ASSERT_EQUAL(w0 & w1, 0); /* two workers, two cores */
  CU_ASSERT_EQUAL((w0 | w1) & ~affinity(), 0);
  if (cpus() == 2)
    CU_ASSERT_EQUAL(w2, w0); /* the third wraps around to the first core */
  /* Two cores per worker on a node of two: each gets both. */
  const char *wide[] = {"KEEL_CORES_PER_WORKER=2", "KEEL_BIND=core", NULL};
  if (cpus() == 2)
    CU_ASSERT_EQUAL(in_child(bind_as, 1, wide), affinity());
  const char *off[] = {"KEEL_BIND=none", NULL};
  CU_ASSERT_EQUAL(in_child(bind_as, 0, off), -1);
}

/* The launcher bound us to one CPU: every worker stays on it. */
static long bind_inside_one(long index)
{
  long all = affinity();
  int last = 63 - __builtin_clzl((unsigned long)all);
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(last, &s);
  if (sched_setaffinity(0, sizeof s, &s))
    return -2;
  long m = bind_as(index);
  return m == (1L << last) ? 1 : m;
}

static void test_never_outside_the_given_cpuset(void)
{
  WATCHDOG(20);
  TU_SKIP_IF(cpus() < 2 ? "fewer than 2 CPUs to restrict" : NULL);
  const char *env[] = {"KEEL_CORES_PER_WORKER=1", "KEEL_BIND=core", NULL};
  CU_ASSERT_EQUAL(in_child(bind_inside_one, 0, env), 1);
  CU_ASSERT_EQUAL(in_child(bind_inside_one, 1, env), 1);
}

/* Slurm's task/none applies no cpuset: SLURM_CPUS_ON_NODE=1 is the
 * limit, and both workers share the first core. */
static void test_slurm_cpus_on_node_limits(void)
{
  WATCHDOG(20);
  TU_SKIP_IF(cpus() < 2 ? "fewer than 2 CPUs" : NULL);
  const char *env[] = {"SLURM_JOB_ID=9", "SLURM_CPUS_ON_NODE=1",
                       "KEEL_CORES_PER_WORKER=1", "KEEL_BIND=core", NULL};
  long w0 = in_child(bind_as, 0, env), w1 = in_child(bind_as, 1, env);
  CU_ASSERT_TRUE(w0 > 0);
  CU_ASSERT_EQUAL(w0, w1);
  CU_ASSERT_EQUAL(__builtin_popcountl((unsigned long)w0) <= 2, 1);
}

/* The variables a task process starts with: the cores its worker has,
 * unless the user set them. */
static long thread_vars(long limit)
{
  char *env[KEEL__THREAD_VARS + 1] = {0};
  if (limit >= 0)
    keel__threads_limit((int)limit);
  size_t k = keel__threads_env(env, 0);
  long code = (long)k * 100;
  for (size_t i = 0; i < k; i++) {
    if (strcmp(env[i], "OPENBLAS_NUM_THREADS=3") == 0)
      code += 1;
    if (strncmp(env[i], "OMP_NUM_THREADS=", 16) == 0)
      code += 10;
    if (strcmp(env[i], "OPENBLAS_NUM_THREADS=1") == 0)
      code += 1000;
    free(env[i]);
  }
  return code;
}

static void test_thread_vars_follow_the_binding(void)
{
  WATCHDOG(20);
  unsetenv("OMP_NUM_THREADS");
  unsetenv("OPENBLAS_NUM_THREADS");
  unsetenv("MKL_NUM_THREADS");
  unsetenv("BLIS_NUM_THREADS");
  unsetenv("VECLIB_MAXIMUM_THREADS");
  CU_ASSERT_EQUAL(in_child(thread_vars, -1, NULL), 0); /* never bound */
  CU_ASSERT_EQUAL(in_child(thread_vars, 3, NULL), 5 * 100 + 1 + 10);
  const char *mine[] = {"OMP_NUM_THREADS=8", NULL};
  CU_ASSERT_EQUAL(in_child(thread_vars, 3, mine), 4 * 100 + 1);
  CU_ASSERT_EQUAL(in_child(thread_vars, 0, NULL), 5 * 100 + 10 + 1000);
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_cores_per_worker_from_env_and_slurm),
      TU_TEST(test_workers_get_cores_and_wrap),
      TU_TEST(test_never_outside_the_given_cpuset),
      TU_TEST(test_slurm_cpus_on_node_limits),
      TU_TEST(test_thread_vars_follow_the_binding),
  };
  return tu_run("bind", tests, sizeof tests / sizeof *tests);
}
