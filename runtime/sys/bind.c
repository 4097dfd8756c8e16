/* bind.c: pinning a worker rank (and so its task processes, which inherit
 * the binding) to its cores with hwloc.  Each worker gets M cores
 * (keel__bind_per_worker: KEEL_CORES_PER_WORKER, or Slurm's -c), chosen
 * by the rank's index among the workers of its node, inside the node's
 * usable cores: those of the cpuset the launcher gave it, and inside a
 * Slurm job no more than the allocation's SLURM_CPUS_ON_NODE (Slurm's
 * task/none plugin applies no cpuset, and the node's other cores belong
 * to other jobs).  A binding the launcher or Slurm applied is respected:
 * keel never binds outside the allowed set.  Workers past the usable
 * cores wrap around.  KEEL_BIND=none turns it off. */
#include "sys/sys.h"

#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CORES_PER_WORKER 4096

int keel__bind_per_worker(void)
{
  static int m;
  if (!m) {
    long slurm = 1;
    if (getenv("SLURM_JOB_ID") && getenv("SLURM_CPUS_PER_TASK"))
      slurm = keel__env_long("SLURM_CPUS_PER_TASK", 1, 1,
                             MAX_CORES_PER_WORKER);
    m = (int)keel__env_long("KEEL_CORES_PER_WORKER", slurm, 1,
                            MAX_CORES_PER_WORKER);
  }
  return m;
}

bool keel__bind_off(void)
{
  static const char *const modes[] = {"core", "none"};
  return keel__env_choice("KEEL_BIND", modes, 2, 0) == 1;
}

static int load(hwloc_topology_t *topo)
{
  if (hwloc_topology_init(topo))
    return -1;
  if (hwloc_topology_load(*topo)) {
    hwloc_topology_destroy(*topo);
    return -1;
  }
  return 0;
}

/* The set this process may run on: its binding, inside what the
 * topology allows. */
static void own_set(hwloc_topology_t topo, hwloc_bitmap_t set)
{
  if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS))
    hwloc_bitmap_copy(set, hwloc_topology_get_allowed_cpuset(topo));
  hwloc_bitmap_and(set, set, hwloc_topology_get_allowed_cpuset(topo));
}

/* How many of the cores that meet `allowed` the node's workers may use:
 * all of them, or inside a Slurm job the cores of SLURM_CPUS_ON_NODE
 * CPUs (hardware threads), rounded up. */
static int usable(hwloc_topology_t topo, hwloc_const_cpuset_t allowed)
{
  int cores = 0, pus = hwloc_bitmap_weight(allowed);
  hwloc_obj_t o = NULL;
  while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, o)))
    cores += hwloc_bitmap_intersects(o->cpuset, allowed);
  if (cores == 0 || pus <= 0 || !getenv("SLURM_JOB_ID") ||
      !getenv("SLURM_CPUS_ON_NODE"))
    return cores;
  long cpus = keel__env_long("SLURM_CPUS_ON_NODE", pus, 1, 1 << 20);
  int per_core = (pus + cores - 1) / cores;
  long slurm = (cpus + per_core - 1) / per_core;
  return slurm < cores ? (int)slurm : cores;
}

/* The k-th usable core (k < usable()). */
static hwloc_obj_t nth_core(hwloc_topology_t topo, hwloc_const_cpuset_t allowed,
                            int k)
{
  hwloc_obj_t o = NULL;
  while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, o)))
    if (hwloc_bitmap_intersects(o->cpuset, allowed) && k-- == 0)
      return o;
  return NULL;
}

/* The cores of worker `index`: M in a row, wrapping around the n usable
 * ones; the first one's logical index goes in *first. */
static void worker_set(hwloc_topology_t topo, hwloc_const_cpuset_t allowed,
                       int n, int index, hwloc_bitmap_t set, int *first)
{
  int m = keel__bind_per_worker();
  hwloc_bitmap_zero(set);
  *first = -1;
  for (int j = 0; j < (m < n ? m : n); j++) {
    hwloc_obj_t core = nth_core(topo, allowed, (int)(((long)index * m + j) % n));
    if (!core)
      continue;
    if (*first < 0)
      *first = (int)core->logical_index;
    hwloc_bitmap_or(set, set, core->cpuset);
  }
  hwloc_bitmap_and(set, set, allowed); /* never outside allowed */
}

void keel__bind_report(int rank, const char *desc)
{
  if (keel__env_switch("KEEL_REPORT_BINDINGS"))
    fprintf(stderr, "keel: rank %d host %s: %s\n", rank, keel__self.host, desc);
}

static void describe(hwloc_topology_t topo, hwloc_const_cpuset_t set,
                     int first, char *desc, size_t n)
{
  char pus[128];
  int cores = hwloc_get_nbobjs_inside_cpuset_by_type(topo, set,
                                                     HWLOC_OBJ_CORE);
  hwloc_bitmap_list_snprintf(pus, sizeof pus, set);
  if (cores > 1)
    snprintf(desc, n, "cores %d+%d (PU %s)", first, cores - 1, pus);
  else
    snprintf(desc, n, "core %d (PU %s)", first, pus);
}

int keel__bind_self(int index, int node_workers, char *desc, size_t n)
{
  hwloc_topology_t topo;
  snprintf(desc, n, "unbound");
  if (load(&topo)) {
    keel__threads_limit(1);
    return -1;
  }
  int first = -1;
  hwloc_bitmap_t cur = hwloc_bitmap_alloc(), set = hwloc_bitmap_alloc();
  own_set(topo, cur);
  int cores = usable(topo, cur);
  if (keel__bind_off()) {
    /* unbound workers share the node's cores */
    int w = node_workers > 0 ? node_workers : 1;
    keel__threads_limit(cores / w > 0 ? cores / w : 1);
  } else if (cores > 0) {
    worker_set(topo, cur, cores, index, set, &first);
    if (!hwloc_bitmap_iszero(set) &&
        hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) == 0)
      describe(topo, set, first, desc, n);
    else
      first = -1;
    keel__threads_limit(keel__bind_per_worker());
  }
  hwloc_bitmap_free(cur);
  hwloc_bitmap_free(set);
  hwloc_topology_destroy(topo);
  return first;
}

/* ---- the master ---- */

static hwloc_bitmap_t master_set; /* the master's cpuset as it started */

static void save_master_set(hwloc_topology_t topo)
{
  if (master_set)
    return;
  master_set = hwloc_bitmap_alloc();
  own_set(topo, master_set);
}

int keel__bind_cores(void)
{
  hwloc_topology_t topo;
  if (load(&topo))
    return 1;
  save_master_set(topo);
  int n = usable(topo, master_set);
  hwloc_topology_destroy(topo);
  return n > 0 ? n : 1;
}

/* The usable cores of the master's set past those of the first `workers`
 * workers, which keel__bind_self gives them. */
static void spare_cores(hwloc_topology_t topo, int workers, hwloc_bitmap_t set)
{
  int n = usable(topo, master_set);
  long taken = (long)workers * keel__bind_per_worker();
  hwloc_bitmap_zero(set);
  for (long k = taken; k < n; k++)
    hwloc_bitmap_or(set, set, nth_core(topo, master_set, (int)k)->cpuset);
  hwloc_bitmap_and(set, set, master_set);
}

void keel__bind_master(int workers)
{
  hwloc_topology_t topo;
  char desc[200] = "master, not bound", pus[128];
  if (keel__bind_off() || load(&topo)) {
    keel__bind_report(0, desc);
    return;
  }
  save_master_set(topo);
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  spare_cores(topo, workers, set);
  if (hwloc_bitmap_iszero(set)) { /* no spare core: share them all */
    spare_cores(topo, 0, set);
    hwloc_set_cpubind(topo, hwloc_bitmap_iszero(set) ? master_set : set,
                      HWLOC_CPUBIND_PROCESS);
    snprintf(desc, sizeof desc, "master, not bound (no spare core for it: "
             "%d worker(s) on this node)", workers);
  } else if (hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) == 0) {
    hwloc_bitmap_list_snprintf(pus, sizeof pus, set);
    snprintf(desc, sizeof desc, "master, on the spare cores (PU %s)", pus);
  }
  keel__bind_report(0, desc);
  hwloc_bitmap_free(set);
  hwloc_topology_destroy(topo);
}
