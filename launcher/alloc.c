/* alloc.c: what a job may use, so that keelrun sizes it (one worker per M
 * cores by default) and knows when it oversubscribes.
 *  - Inside a Slurm job, the allocation: SLURM_JOB_CPUS_PER_NODE gives the
 *    CPUs of every node ("36(x2),18"), SLURM_TASKS_PER_NODE the slots the
 *    launcher will fill before it needs to oversubscribe,
 *    SLURM_NNODES and SLURM_JOB_NODELIST the nodes, SLURM_CPUS_PER_TASK
 *    (-c) the cores per worker.  CPUs are hardware threads: they count as
 *    cores by this node's threads per core.  A value that does not parse
 *    is an error naming it, never a silent guess.
 *  - Else a hostfile's slots, else the cores this process may run on. */
#include "launcher.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hwloc.h>

#define MAX_COUNT 10000000L /* far past any machine, short of overflow */

static int fail(char *err, size_t n, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
  return -1;
}

/* A whole number in [1, MAX_COUNT] at *p, which moves past it. */
static long number(const char **p)
{
  char *end;
  if (!isdigit((unsigned char)**p))
    return -1;
  errno = 0;
  long v = strtol(*p, &end, 10);
  if (errno || v < 0 || v > MAX_COUNT)
    return -1;
  *p = end;
  return v;
}

int keelrun_slurm_counts(const char *s, long *total, long *nodes)
{
  *total = *nodes = 0;
  for (const char *p = s;;) {
    long v = number(&p), times = 1;
    if (v < 0)
      return -1;
    if (*p == '(') {
      p++;
      if (*p++ != 'x' || (times = number(&p)) < 1 || *p++ != ')')
        return -1;
    }
    *total += v * times;
    *nodes += times;
    if (*total > MAX_COUNT || *nodes > MAX_COUNT)
      return -1;
    if (*p == '\0')
      return 0;
    if (*p++ != ',')
      return -1;
  }
}

/* Hosts in one "[a-b,c]" group at *p (past '['), which moves past ']'. */
static long range_count(const char **p)
{
  long count = 0;
  for (;;) {
    long lo = number(p), hi = lo;
    if (lo < 0)
      return -1;
    if (**p == '-') {
      (*p)++;
      if ((hi = number(p)) < lo)
        return -1;
    }
    count += hi - lo + 1;
    if (count > MAX_COUNT)
      return -1;
    if (**p == ']') {
      (*p)++;
      return count;
    }
    if (*(*p)++ != ',')
      return -1;
  }
}

long keelrun_slurm_hostcount(const char *s)
{
  long total = 0, entry = 1;
  bool named = false;
  for (const char *p = s;; ) {
    if (*p == '[') {
      p++;
      long k = range_count(&p);
      if (k < 0 || (entry *= k) > MAX_COUNT)
        return -1;
      named = true;
    } else if (*p == ',' || *p == '\0') {
      if (!named)
        return -1; /* an empty entry */
      total += entry;
      if (total > MAX_COUNT)
        return -1;
      if (*p == '\0')
        return total;
      p++;
      entry = 1;
      named = false;
    } else if (*p == ']' || isspace((unsigned char)*p)) {
      return -1;
    } else {
      named = true;
      p++;
    }
  }
}

/* This node's hardware threads per core, to count Slurm's CPUs as cores. */
static int threads_per_core(void)
{
  hwloc_topology_t topo;
  int per = 1;
  if (hwloc_topology_init(&topo) == 0 && hwloc_topology_load(topo) == 0) {
    int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    int pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    if (cores > 0 && pus >= cores)
      per = pus / cores;
    hwloc_topology_destroy(topo);
  }
  return per;
}

/* Cores (not hardware threads, like Open MPI's slots) this process may
 * run on. */
static int cores_here(void)
{
  hwloc_topology_t topo;
  int n = 0;
  if (hwloc_topology_init(&topo) == 0 && hwloc_topology_load(topo) == 0) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS))
      hwloc_bitmap_copy(set, hwloc_topology_get_allowed_cpuset(topo));
    hwloc_obj_t o = NULL;
    while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, o)))
      n += hwloc_bitmap_intersects(o->cpuset, set);
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(topo);
  }
  return n > 0 ? n : 1;
}

/* A whole number from variable name, or def when unset; -1 if bad. */
static long var_count(const char *name, long def)
{
  const char *v = getenv(name), *p = v;
  if (!v || !*v)
    return def;
  long x = number(&p);
  return x >= 1 && *p == '\0' ? x : -1;
}

static int slurm_read(keelrun_alloc *a, char *err, size_t n)
{
  const char *cpn = getenv("SLURM_JOB_CPUS_PER_NODE");
  const char *tpn = getenv("SLURM_TASKS_PER_NODE");
  const char *list = getenv("SLURM_JOB_NODELIST");
  long cpus, cpu_nodes, slots, slot_nodes, nn = var_count("SLURM_NNODES", 0);
  if (!cpn || keelrun_slurm_counts(cpn, &cpus, &cpu_nodes))
    return fail(err, n, "inside Slurm job %s, SLURM_JOB_CPUS_PER_NODE='%s' "
                "is not Slurm's CPUs-per-node list (like 36(x2),18)",
                getenv("SLURM_JOB_ID"), cpn ? cpn : "(unset)");
  if (tpn && keelrun_slurm_counts(tpn, &slots, &slot_nodes))
    return fail(err, n, "SLURM_TASKS_PER_NODE='%s' is not Slurm's "
                "tasks-per-node list (like 2(x3),1)", tpn);
  if (nn < 0)
    return fail(err, n, "SLURM_NNODES='%s' is not a whole number of nodes",
                getenv("SLURM_NNODES"));
  long listed = list ? keelrun_slurm_hostcount(list) : cpu_nodes;
  if (listed < 0)
    return fail(err, n, "SLURM_JOB_NODELIST='%s' is not a Slurm hostlist "
                "(like node[01-04,07],gpu1)", list);
  if ((nn && nn != cpu_nodes) || listed != cpu_nodes)
    return fail(err, n, "Slurm's variables disagree on the job's nodes: "
                "SLURM_NNODES=%s, SLURM_JOB_NODELIST=%s (%ld), "
                "SLURM_JOB_CPUS_PER_NODE=%s (%ld)",
                nn ? getenv("SLURM_NNODES") : "(unset)",
                list ? list : "(unset)", listed, cpn, cpu_nodes);
  int per = threads_per_core();
  a->slurm = true;
  a->cores = (int)((cpus + per - 1) / per);
  a->slots = tpn ? (int)slots : (int)cpus;
  snprintf(a->where, sizeof a->where, "Slurm job %.40s", getenv("SLURM_JOB_ID"));
  return 0;
}

/* Cores per worker: the option, KEEL_CORES_PER_WORKER, Slurm's -c. */
static int per_worker(const keelrun_alloc *a, int opt, char *err, size_t n)
{
  if (opt > 0)
    return opt;
  long k = var_count("KEEL_CORES_PER_WORKER", 0);
  if (k < 0 || k > 4096)
    return fail(err, n, "KEEL_CORES_PER_WORKER='%s' is not a whole number "
                "of cores from 1 to 4096", getenv("KEEL_CORES_PER_WORKER"));
  if (k > 0)
    return (int)k;
  if (a->slurm) {
    k = var_count("SLURM_CPUS_PER_TASK", 1);
    if (k < 0)
      return fail(err, n, "SLURM_CPUS_PER_TASK='%s' is not a whole number "
                  "of CPUs", getenv("SLURM_CPUS_PER_TASK"));
    return (int)(k > 4096 ? 4096 : k);
  }
  return 1;
}

int keelrun_alloc_read(keelrun_alloc *a, const char *hostfile, int opt,
                       char *err, size_t n)
{
  *a = (keelrun_alloc){0};
  if (getenv("SLURM_JOB_ID")) {
    if (slurm_read(a, err, n))
      return -1;
  } else if (hostfile) {
    int slots = keelrun_hostfile(hostfile, NULL, 0, err, n);
    if (slots < 0)
      return -1;
    a->cores = a->slots = slots;
    snprintf(a->where, sizeof a->where, "hostfile %.70s", hostfile);
  } else {
    a->cores = a->slots = cores_here();
    snprintf(a->where, sizeof a->where, "this machine");
  }
  if ((a->per_worker = per_worker(a, opt, err, n)) < 0)
    return -1;
  return 0;
}

/* One hostfile line's host and slots (1 when it says none); 0 for a
 * blank or comment line, -1 if malformed. */
static int host_line(char *line, char **host, long *slots)
{
  char *p = line + strspn(line, " \t");
  p[strcspn(p, "#\r\n")] = '\0';
  if (!*p)
    return 0;
  *host = p;
  p += strcspn(p, " \t:");
  *slots = 1;
  if (*p == ':') { /* Hydra: host:K */
    *p++ = '\0';
    const char *q = p;
    if ((*slots = number(&q)) < 1 || q[strspn(q, " \t")])
      return -1;
    return 1;
  }
  if (*p)
    *p++ = '\0';
  for (char *tok = strtok(p, " \t"); tok; tok = strtok(NULL, " \t")) {
    if (!strncmp(tok, "slots=", 6)) {
      const char *q = tok + 6;
      if ((*slots = number(&q)) < 1 || *q)
        return -1;
    } /* max_slots=, and the rest, are Open MPI's to read */
  }
  return 1;
}

int keelrun_hostfile(const char *path, char *buf, size_t nbuf, char *err,
                     size_t n)
{
  FILE *f = fopen(path, "r");
  char line[1024];
  long slots = 0;
  int lineno = 0;
  size_t used = 0;
  if (!f)
    return fail(err, n, "cannot read hostfile %s: %s", path, strerror(errno));
  if (nbuf)
    buf[0] = '\0';
  while (fgets(line, sizeof line, f)) {
    char *host;
    long k;
    int got = host_line(line, &host, &k);
    lineno++;
    if (got < 0) {
      fclose(f);
      return fail(err, n, "hostfile %s, line %d: not 'host', 'host slots=K' "
                  "or 'host:K'", path, lineno);
    }
    if (!got)
      continue;
    slots += k;
    if (slots > MAX_COUNT) {
      fclose(f);
      return fail(err, n, "hostfile %s: more than %ld slots", path, MAX_COUNT);
    }
    if (used < nbuf)
      used += (size_t)snprintf(buf + used, nbuf - used, "%s%s:%ld",
                               used ? "," : "", host, k);
  }
  fclose(f);
  if (slots == 0)
    return fail(err, n, "hostfile %s names no host", path);
  if (nbuf && used >= nbuf)
    return fail(err, n, "hostfile %s: too many hosts for one command line",
                path);
  return (int)slots;
}
