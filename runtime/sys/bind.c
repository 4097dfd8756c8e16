/* bind.c: pinning a worker rank (and so its task processes, which inherit
 * the binding) to one core with hwloc.  The core is chosen by the rank's
 * index among the workers of its node, inside the cpuset the launcher gave
 * it: a binding the launcher or Slurm applied is respected, and keel never
 * binds outside the allowed set.  KEEL_BIND=none turns it off. */
#include "sys/sys.h"

#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pick_core(hwloc_topology_t topo, hwloc_const_cpuset_t allowed,
                     int index, hwloc_obj_t *core)
{
  int n = 0;
  hwloc_obj_t o = NULL;
  while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, o)))
    n += hwloc_bitmap_intersects(o->cpuset, allowed);
  if (n == 0)
    return -1;
  int want = index % n, k = 0;
  while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, o)))
    if (hwloc_bitmap_intersects(o->cpuset, allowed) && k++ == want) {
      *core = o;
      return n;
    }
  return -1;
}

static bool bind_off(void)
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

void keel__bind_report(int rank, const char *desc)
{
  if (keel__env_switch("KEEL_REPORT_BINDINGS"))
    fprintf(stderr, "keel: rank %d host %s: %s\n", rank, keel__self.host, desc);
}

int keel__bind_self(int index, char *desc, size_t n)
{
  hwloc_topology_t topo;
  snprintf(desc, n, "unbound");
  if (bind_off() || load(&topo))
    return -1;
  int core_index = -1;
  hwloc_bitmap_t cur = hwloc_bitmap_alloc(), set = hwloc_bitmap_alloc();
  hwloc_obj_t core = NULL;
  if (hwloc_get_cpubind(topo, cur, HWLOC_CPUBIND_PROCESS))
    hwloc_bitmap_copy(cur, hwloc_topology_get_allowed_cpuset(topo));
  hwloc_bitmap_and(cur, cur, hwloc_topology_get_allowed_cpuset(topo));
  if (pick_core(topo, cur, index, &core) > 0) {
    hwloc_bitmap_and(set, core->cpuset, cur); /* never outside allowed */
    if (hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) == 0) {
      char pus[128];
      hwloc_bitmap_list_snprintf(pus, sizeof pus, set);
      core_index = (int)core->logical_index;
      snprintf(desc, n, "core %d (PU %s)", core_index, pus);
    }
  }
  hwloc_bitmap_free(cur);
  hwloc_bitmap_free(set);
  hwloc_topology_destroy(topo);
  return core_index;
}

/* ---- the master ---- */

static hwloc_bitmap_t master_set; /* the master's cpuset as it started */

static void save_master_set(hwloc_topology_t topo)
{
  if (master_set)
    return;
  master_set = hwloc_bitmap_alloc();
  if (hwloc_get_cpubind(topo, master_set, HWLOC_CPUBIND_PROCESS))
    hwloc_bitmap_copy(master_set, hwloc_topology_get_allowed_cpuset(topo));
  hwloc_bitmap_and(master_set, master_set,
                   hwloc_topology_get_allowed_cpuset(topo));
}

int keel__bind_cores(void)
{
  hwloc_topology_t topo;
  if (load(&topo))
    return 1;
  save_master_set(topo);
  int n = 0;
  hwloc_obj_t o = NULL;
  while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, o)))
    n += hwloc_bitmap_intersects(o->cpuset, master_set);
  hwloc_topology_destroy(topo);
  return n > 0 ? n : 1;
}

/* The cores of the master's set past the first `workers` ones, which
 * keel__bind_self gives to the workers of this node. */
static void spare_cores(hwloc_topology_t topo, int workers, hwloc_bitmap_t set)
{
  int k = 0;
  hwloc_obj_t o = NULL;
  hwloc_bitmap_zero(set);
  while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, o)))
    if (hwloc_bitmap_intersects(o->cpuset, master_set) && k++ >= workers)
      hwloc_bitmap_or(set, set, o->cpuset);
  hwloc_bitmap_and(set, set, master_set);
}

void keel__bind_master(int workers)
{
  hwloc_topology_t topo;
  char desc[200] = "master, not bound", pus[128];
  if (bind_off() || load(&topo)) {
    keel__bind_report(0, desc);
    return;
  }
  save_master_set(topo);
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  spare_cores(topo, workers, set);
  if (hwloc_bitmap_iszero(set)) { /* no spare core: share them all */
    hwloc_set_cpubind(topo, master_set, HWLOC_CPUBIND_PROCESS);
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
