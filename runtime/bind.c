/* bind.c: pinning a worker rank (and so its task processes, which inherit
 * the binding) to one core with hwloc.  The core is chosen by the rank's
 * index among the workers of its node, inside the cpuset the launcher gave
 * it: a binding the launcher or Slurm applied is respected, and keel never
 * binds outside the allowed set.  KEEL_BIND=none turns it off. */
#include "keel_int.h"

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

int keel__bind_self(int index, int local_size, char *desc, size_t n)
{
  (void)local_size;
  const char *mode = getenv("KEEL_BIND");
  hwloc_topology_t topo;
  snprintf(desc, n, "unbound");
  if (mode && !strcmp(mode, "none"))
    return -1;
  if (hwloc_topology_init(&topo) || hwloc_topology_load(topo))
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
