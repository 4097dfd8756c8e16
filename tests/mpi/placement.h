/* placement.h: where task processes run, seen from inside them, and what
 * becomes of a worker rank whose nanny dies.  Shared by mpi_placement,
 * mpi_rankloss and spawn_workers. */
#ifndef KEEL_TEST_PLACEMENT_H
#define KEEL_TEST_PLACEMENT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <hwloc.h>
#include <sched.h>

#include "../testutil.h"
#include "tasks.h"

/* The CPUs a process may run on, as a bit mask of the first 64. */
static inline uint64_t cpu_mask(void)
{
  cpu_set_t s;
  uint64_t m = 0;
  if (sched_getaffinity(0, sizeof s, &s))
    return 0;
  for (int i = 0; i < 64; i++)
    if (CPU_ISSET(i, &s))
      m |= 1ull << i;
  return m;
}

typedef struct where {
  int pid;
  uint64_t mask;
} where;

/* Sleeps arg ms (so that every worker gets some), says where it ran. */
static int t_where(const void *arg, size_t len, keel_buf *out)
{
  sleep_s(arg_int(arg, len) / 1000.0);
  where w = {(int)getpid(), cpu_mask()};
  return keel_buf_append(out, &w, sizeof w);
}
KEEL_REGISTER(t_where);

/* Kills its own nanny, standing in for a lost node; first writes its own
 * pid to the file named by arg, if any. */
static int t_kill_nanny(const void *arg, size_t len, keel_buf *out)
{
  char path[128];
  snprintf(path, sizeof path, "%.*s", (int)len, (const char *)arg);
  FILE *f = len > sizeof(int) ? fopen(path, "w") : NULL;
  if (f) {
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
  }
  kill(getppid(), SIGKILL);
  sleep_s(10); /* PDEATHSIG ends the task process meanwhile */
  return 0;
}
KEEL_REGISTER(t_kill_nanny);

/* Stops its nanny: a rank that hangs, alive but silent. */
static int t_stop_nanny(const void *arg, size_t len, keel_buf *out)
{
  kill(getppid(), SIGSTOP);
  sleep_s(30);
  return 0;
}
KEEL_REGISTER(t_stop_nanny);

/* f fails with code within `within` seconds, naming the lost rank and its
 * host; prints how long it took. */
static inline void check_lost(keel_future *f, int code, double within,
                              const char *host)
{
  double t0 = tu_now();
  CU_ASSERT_EQUAL(keel_future_result(f, 60, NULL, NULL), code);
  double took = tu_now() - t0;
  CU_ASSERT(took < within);
  const keel_error *ep = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(ep);
  keel_error e = *ep;
  CU_ASSERT_EQUAL(e.code, code);
  CU_ASSERT(e.rank >= 1);
  CU_ASSERT_STRING_EQUAL(e.host ? e.host : "", host);
  CU_ASSERT_PTR_NOT_NULL(e.message);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.message ? e.message : "", "rank"));
  CU_ASSERT_PTR_NOT_NULL(strstr(e.message ? e.message : "", host));
  printf("\n  %s after %.1f ms: %s\n", keel_err_name(code), took * 1e3,
         e.message ? e.message : "");
}

/* Run 3n tasks of 150 ms on ex and collect the distinct task processes
 * they ran in (at most max); returns how many. */
static inline int gather_where(keel_executor *ex, int n, where *out, int max)
{
  int found = 0, ms = 150;
  keel_future *fs[3 * 64];
  n = n > 64 ? 64 : n;
  for (int i = 0; i < 3 * n; i++)
    CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_where, &ms, sizeof ms, &fs[i]),
                          KEEL_OK);
  for (int i = 0; i < 3 * n; i++) {
    const void *d;
    size_t len;
    CU_ASSERT_EQUAL(keel_future_result(fs[i], 30, &d, &len), KEEL_OK);
    where w = {0, 0};
    if (len == sizeof w)
      memcpy(&w, d, sizeof w);
    int seen = 0;
    for (int k = 0; k < found; k++)
      seen |= out[k].pid == w.pid;
    if (!seen && found < max)
      out[found++] = w;
    keel_future_release(fs[i]);
  }
  return found;
}

/* Workers' task processes each on CPUs of their own, and the master off
 * them when it has a spare core (cores > workers), else on all of them. */
static inline void check_pinned(const where *w, int n, int cores)
{
  uint64_t all = 0;
  for (int i = 0; i < n; i++) {
    CU_ASSERT(w[i].mask != 0);
    if (n <= cores) {
      CU_ASSERT_EQUAL(w[i].mask & all, 0);
    }
    all |= w[i].mask;
  }
  /* More workers than cores: they wrap around, one core each, every core
   * used, and no core holds two more than another. */
  for (int i = 0; n > cores && i < n; i++) {
    int same = 0, fewest = n;
    for (int j = 0; j < n; j++) {
      same += w[j].mask == w[i].mask;
      CU_ASSERT(w[j].mask == w[i].mask || !(w[j].mask & w[i].mask));
    }
    for (int j = 0; j < n; j++) {
      int k = 0;
      for (int l = 0; l < n; l++)
        k += w[l].mask == w[j].mask;
      fewest = k < fewest ? k : fewest;
    }
    CU_ASSERT(same - fewest <= 1);
  }
  int distinct = 0;
  for (int i = 0; n > cores && i < n; i++) {
    bool first = true;
    for (int j = 0; j < i; j++)
      first = first && w[j].mask != w[i].mask;
    distinct += first;
  }
  if (n > cores)
    CU_ASSERT_EQUAL(distinct, cores);
  uint64_t master = cpu_mask();
  if (n < cores) {
    CU_ASSERT_EQUAL(master & all, 0);
  } else {
    CU_ASSERT_EQUAL(master & all, all);
  }
}

/* Cores this process may run on; call it before keel_init(), which may
 * bind the master. */
static inline int cores_here(void)
{
  hwloc_topology_t topo;
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  int n = 0;
  hwloc_topology_init(&topo);
  hwloc_topology_load(topo);
  hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS);
  hwloc_obj_t o = NULL;
  while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, o)))
    n += hwloc_bitmap_intersects(o->cpuset, set);
  hwloc_bitmap_free(set);
  hwloc_topology_destroy(topo);
  return n;
}

#endif
