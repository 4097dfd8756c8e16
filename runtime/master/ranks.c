/* ranks.c: the master's worker ranks and the communicators that reach them.
 *
 * Started by keelrun or mpirun, the workers are ranks 1..N of the job, one
 * group.  A program started on its own (MPI world of size 1) has none: it
 * spawns them with MPI_Comm_spawn when an executor wants workers, a group
 * per spawn, each merged with the master into one intracommunicator where
 * the master is rank 0 -- so a nanny sees the same thing either way.  The
 * rest of the master names a worker by its global rank (1, 2, ...); this
 * file maps it to a communicator and a rank in it.
 *
 * Runs on the manager thread alone; user threads read the counts it
 * publishes in the hub (keel__ranks_publish). */
#include "master/master.h"
#include "proto/comm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Lost ranks replaced before giving up: this many (a program started
 * alone), or under keelrun KEEL_MAX_REPLACEMENTS, by default this many or
 * as many as the job started with if more.  A rank that keeps dying
 * cannot make the master spawn for ever. */
#define MAX_RESPAWNS 16

typedef struct keel__group {
  MPI_Comm comm; /* master is rank 0, workers 1..n */
  int base;      /* global rank of the group's rank 1 */
  int n;
} group;

static keel__rank *new_rank(double now)
{
  keel__rank *k = calloc(1, sizeof *k);
  if (!k)
    return NULL;
  *k = (keel__rank){.core = -1, .pidfd = -1, .sock = -1, .index = -1,
                    .last_heard = now};
  keel__recvq_init(&k->recvs);
  return k;
}

/* Add n ranks reached through comm (ranks 1..n of it). */
static int add_group(keel__ranks *rs, MPI_Comm comm, int n)
{
  int old = rs->n, total = old + n;
  group *g = realloc(rs->groups, (size_t)(rs->ngroups + 1) * sizeof *g);
  if (!g)
    return KEEL_ENOMEM;
  rs->groups = g;
  keel__rank **v = realloc(rs->v, (size_t)total * sizeof *v);
  if (!v)
    return KEEL_ENOMEM;
  rs->v = v;
  double now = keel__clock_now();
  for (; rs->n < total; rs->n++, rs->live++)
    if (!(v[rs->n] = new_rank(now)))
      return KEEL_ENOMEM; /* the ranks added so far stay, unreached */
  rs->groups[rs->ngroups++] = (group){comm, old, n};
  keel__ranks_publish(rs);
  return KEEL_OK;
}

int keel__ranks_start(keel__ranks *rs, MPI_Comm world)
{
  int size;
  memset(rs, 0, sizeof *rs);
  keel__guard_init(&rs->guard,
                   keel__env_seconds("KEEL_SPAWN_TIMEOUT", KEEL__SPAWN_TIMEOUT,
                                     1.0, 86400.0));
  if (keel__comm_check(MPI_Comm_size(world, &size), "MPI_Comm_size"))
    return KEEL_EMPI;
  rs->v = calloc(1, sizeof *rs->v); /* 0: the master */
  if (!rs->v || !(rs->v[0] = new_rank(0)))
    return KEEL_ENOMEM;
  rs->n = 1;
  rs->max_replaced = (int)keel__env_long(
      "KEEL_MAX_REPLACEMENTS", size - 1 > MAX_RESPAWNS ? size - 1 : MAX_RESPAWNS,
      0, 1000000);
  if (size > 1)
    return add_group(rs, world, size - 1);
  rs->spawn_mode = true;
  keel__ranks_publish(rs);
  return KEEL_OK;
}

MPI_Comm keel__ranks_comm(const keel__ranks *rs, int rank, int *crank)
{
  for (int g = rs->ngroups - 1; g >= 0; g--)
    if (rank >= rs->groups[g].base &&
        rank < rs->groups[g].base + rs->groups[g].n) {
      *crank = rank - rs->groups[g].base + 1;
      return rs->groups[g].comm;
    }
  *crank = -1;
  return MPI_COMM_NULL;
}

MPI_Comm keel__ranks_group(const keel__ranks *rs, int g, int *base, int *n)
{
  *base = rs->groups[g].base;
  *n = rs->groups[g].n;
  return rs->groups[g].comm;
}

/* The ranks themselves stay: their hosts are in futures' errors, and
 * receives still posted to a lost rank may write into their buffers. */
void keel__ranks_free(keel__ranks *rs)
{
  for (int r = 1; r < rs->n; r++)
    if (rs->v[r]->pidfd >= 0)
      close(rs->v[r]->pidfd);
  for (int g = 0; g < rs->ngroups; g++)
    if (rs->spawn_mode || g > 0) /* the world one belongs to init.c */
      MPI_Comm_free(&rs->groups[g].comm);
  free(rs->groups);
  rs->groups = NULL;
  rs->ngroups = 0;
  free(rs->todo);
  rs->todo = NULL;
  rs->ntodo = rs->todocap = 0;
  keel__guard_destroy(&rs->guard);
}

void keel__ranks_set_host(keel__ranks *rs, int rank, char *host)
{
  keel__rank *k = rs->v[rank];
  k->host = host;
  k->hostid = rank;
  for (int r = 1; r < rank; r++)
    if (rs->v[r]->host && !strcmp(rs->v[r]->host, host)) {
      k->hostid = rs->v[r]->hostid;
      break;
    }
}

int keel__ranks_live(const keel__ranks *rs)
{
  keel__assert(rs->live >= 0 && rs->live < rs->n + (rs->n == 0));
  return rs->live;
}

bool keel__ranks_lose(keel__ranks *rs, int rank)
{
  keel__assert(rank > 0 && rank < rs->n);
  keel__rank *k = rs->v[rank];
  if (k->lost)
    return false;
  if (k->pidfd >= 0)
    close(k->pidfd);
  k->pidfd = -1;
  k->lost = true;
  rs->live--;
  keel__ranks_publish(rs);
  return true;
}

void keel__ranks_publish(const keel__ranks *rs)
{
  keel__hub_lock();
  keel__hub.nranks = rs->n - 1;
  keel__hub.live_ranks = keel__ranks_live(rs);
  keel__hub.spawn_mode = rs->spawn_mode;
  keel__hub_unlock();
}

/* ---- spawning ---- */

static void spawn_failed(keel__ranks *rs, const char *fmt, const char *detail)
{
  char *msg = keel__error_printf(fmt, detail);
  keel__log("%s", msg ? msg : fmt);
  free(rs->spawn_error);
  rs->spawn_error = msg;
}

static MPI_Info spawn_info(const char *host)
{
  MPI_Info info;
  MPI_Info_create(&info);
  /* keel binds with hwloc (bind.c); and workers may outnumber the cores
   * when the user asks for more, as with keelrun. */
  MPI_Info_set(info, "bind_to", "none");
  MPI_Info_set(info, "map_by", ":OVERSUBSCRIBE");
  if (host) /* a replacement goes where its predecessor was */
    MPI_Info_set(info, "host", host);
  return info;
}

static bool index_used(const keel__ranks *rs, int idx)
{
  for (int r = 1; r < rs->n; r++)
    if (!rs->v[r]->lost && rs->v[r]->index == idx)
      return true;
  return false;
}

/* The n lowest worker indexes that no live spawned rank holds: a
 * replacement takes the core its lost predecessor left. */
static void free_indexes(const keel__ranks *rs, int *out, int n)
{
  for (int idx = 0, found = 0; found < n; idx++)
    if (!index_used(rs, idx))
      out[found++] = idx;
}

/* One past the highest worker index in use: the master binds past it. */
static int indexes_top(const keel__ranks *rs)
{
  int top = 0;
  for (int r = 1; r < rs->n; r++)
    if (!rs->v[r]->lost && rs->v[r]->index >= top)
      top = rs->v[r]->index + 1;
  return top;
}

/* What a replacement needs of our environment that the launcher gives
 * only to the ranks it started: the library path (libtool, modules) and
 * keel's own settings. */
static bool passed_on(const char *var)
{
  static const char *const internal[] = {"KEEL_STATUS_TOKEN=", "KEEL_ROLE=",
                                         "KEEL_TASK_NANNY="};
  if (!strncmp(var, "LD_LIBRARY_PATH=", 16))
    return true;
  if (strncmp(var, "KEEL_", 5))
    return false;
  for (size_t i = 0; i < sizeof internal / sizeof *internal; i++)
    if (!strncmp(var, internal[i], strlen(internal[i])))
      return false;
  return true;
}

/* A replacement's command line: env(1) with those variables, then this
 * program and its arguments (env execs it: the same process, so MPI sees
 * the program).  NULL when out of memory. */
static char **replacement_argv(const char *exe)
{
  extern char **environ;
  size_t nenv = 0, narg = 0;
  for (char **e = environ; *e; e++)
    nenv += passed_on(*e);
  while (keel__self.argv[1 + narg])
    narg++;
  char **v = calloc(nenv + narg + 2, sizeof *v), **p = v;
  if (!v)
    return NULL;
  for (char **e = environ; *e; e++)
    if (passed_on(*e))
      *p++ = *e;
  *p++ = (char *)exe;
  for (size_t i = 0; i < narg; i++)
    *p++ = keel__self.argv[1 + i];
  return v;
}

/* /proc/self/exe's target exe says that the file is gone: drop the
 * kernel's suffix. */
static bool gone(char *exe, size_t len)
{
  static const char suffix[] = " (deleted)";
  size_t n = sizeof suffix - 1;
  if (len < n || strcmp(exe + len - n, suffix))
    return false;
  exe[len - n] = '\0';
  return true;
}

/* MPI_Comm_spawn n copies of this very program, with its arguments, on
 * host (NULL: where the launcher likes; a program started alone, whose
 * environment its spawned workers inherit). */
static int spawn_procs(keel__ranks *rs, int n, const char *host,
                       MPI_Comm *inter)
{
  char exe[PATH_MAX], err[MPI_MAX_ERROR_STRING];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  int *codes = calloc((size_t)n, sizeof *codes), elen = 0, rc;
  if (len > 0)
    exe[len] = '\0';
  /* A program deleted or replaced (rebuilt) while it runs reads "PATH
   * (deleted)": the spawned process could not start, or would be another
   * program, and Open MPI's spawn would wait for it for ever. */
  if (len > 0 && (gone(exe, (size_t)len) || access(exe, X_OK))) {
    free(codes);
    spawn_failed(rs, "cannot spawn workers: the program %s was deleted or "
                 "replaced while it runs", exe);
    return KEEL_ESYS;
  }
  char **argv = len > 0 && host ? replacement_argv(exe) : keel__self.argv + 1;
  if (len <= 0 || !codes || !argv) {
    free(codes);
    spawn_failed(rs, "cannot spawn workers: %s",
                 len <= 0 ? "/proc/self/exe is unreadable" : "out of memory");
    return KEEL_ESYS;
  }
  MPI_Info info = spawn_info(host);
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  rc = MPI_Comm_spawn(host ? "env" : exe, argv, n, info, 0, MPI_COMM_SELF,
                      inter, codes);
  MPI_Info_free(&info);
  free(codes);
  if (host)
    free(argv);
  if (rc == MPI_SUCCESS)
    return KEEL_OK;
  MPI_Error_string(rc, err, &elen);
  spawn_failed(rs, "MPI_Comm_spawn of the workers failed: %s", err);
  return KEEL_EMPI;
}

/* Merge the n spawned workers in, master as rank 0, and tell them their
 * plan: the group's first global rank (for --report-bindings), then each
 * one's worker index, so core, among those no live worker holds.  The
 * nanny's half is keel__nanny_spawned() in worker/nanny.c. */
static int adopt(keel__ranks *rs, MPI_Comm inter, int n, int *plan,
                 int core_index)
{
  MPI_Comm merged;
  int index, local_size;
  int rc = keel__comm_check(MPI_Intercomm_merge(inter, 0, &merged),
                            "MPI_Intercomm_merge (the spawned workers)");
  MPI_Comm_free(&inter);
  if (rc) {
    spawn_failed(rs, "cannot adopt the spawned workers: %s", "MPI failed");
    return rc;
  }
  MPI_Comm_set_errhandler(merged, MPI_ERRORS_RETURN);
  plan[0] = rs->n;
  if (core_index >= 0)
    plan[1] = core_index; /* a replacement: its predecessor's core */
  else
    free_indexes(rs, plan + 1, n);
  if (keel__comm_node_index(merged, 0, &index, &local_size) ||
      keel__comm_check(MPI_Bcast(plan, n + 1, MPI_INT, 0, merged),
                       "MPI_Bcast (the spawned workers' plan)")) {
    spawn_failed(rs, "cannot adopt the spawned workers: %s", "MPI failed");
    return KEEL_EMPI;
  }
  if (add_group(rs, merged, n)) {
    spawn_failed(rs, "cannot spawn workers: %s", "out of memory");
    return KEEL_ENOMEM;
  }
  for (int i = 0; i < n; i++)
    rs->v[plan[0] + i]->index = plan[1 + i];
  return KEEL_OK;
}

const char *keel__ranks_host(const keel__ranks *rs, int rank)
{
  const keel__rank *k = rs->v[rank];
  return k->host ? k->host : k->spawned_on;
}

/* Spawn n workers; a replacement (n 1) names its host and core index. */
static int spawn(keel__ranks *rs, int n, const char *host, int index)
{
  MPI_Comm inter;
  int *plan = calloc((size_t)n + 1, sizeof *plan), rc;
  if (!plan) {
    spawn_failed(rs, "cannot spawn workers: %s", "out of memory");
    return KEEL_ENOMEM;
  }
  if (rs->before_spawn)
    rs->before_spawn(rs->before_arg);
  if (host)
    keel__guard_arm(&rs->guard, "MPI_Comm_spawn of a worker on host %s "
                    "(to replace a lost one)", host);
  else
    keel__guard_arm(&rs->guard, "MPI_Comm_spawn of %d worker(s)", n);
  if ((rc = spawn_procs(rs, n, host, &inter)) == KEEL_OK &&
      (rc = adopt(rs, inter, n, plan, index)) == KEEL_OK) {
    rs->spawned += n;
    if (rs->spawn_mode)
      keel__bind_master(indexes_top(rs));
  }
  keel__guard_disarm(&rs->guard);
  free(plan);
  return rc;
}

void keel__ranks_replace(keel__ranks *rs, int rank)
{
  if (rs->spawn_mode || !keel__ranks_host(rs, rank))
    return; /* spawned alone: grow() replaces; no host: nowhere to go */
  if (rs->ntodo == rs->todocap) {
    int cap = rs->todocap ? 2 * rs->todocap : 8;
    int *v = realloc(rs->todo, (size_t)cap * sizeof *v);
    if (!v) {
      keel__log("out of memory: worker rank %d is not replaced", rank);
      return;
    }
    rs->todo = v;
    rs->todocap = cap;
  }
  rs->todo[rs->ntodo++] = rank;
}

/* A world rank's index among the workers of its node, as it computed it
 * (keel__comm_node_index: by rank, the master not counted); a spawned
 * one's is in its plan. */
static int node_index(const keel__ranks *rs, int rank)
{
  const keel__rank *k = rs->v[rank];
  if (k->index >= 0)
    return k->index;
  int index = 0;
  for (int r = 1; r < rank; r++)
    index += rs->v[r]->host && k->host && !strcmp(rs->v[r]->host, k->host);
  return index;
}

/* Replace the lost ranks of a job started by keelrun or mpirun, one per
 * turn, each on its host and core. */
static int replace(keel__ranks *rs)
{
  if (!rs->ntodo || rs->spawn_error)
    return 0;
  int rank = rs->todo[0];
  memmove(rs->todo, rs->todo + 1, (size_t)--rs->ntodo * sizeof *rs->todo);
  if (rs->replaced >= rs->max_replaced) {
    keel__log("worker rank %d is not replaced: %d lost rank(s) were, the "
              "most this job replaces (KEEL_MAX_REPLACEMENTS=%d)",
              rank, rs->replaced, rs->max_replaced);
    return 1;
  }
  rs->replaced++;
  int first = rs->n;
  const char *host = keel__ranks_host(rs, rank);
  if (spawn(rs, 1, host, node_index(rs, rank)) == KEEL_OK) {
    rs->v[first]->spawned_on = host; /* the lost rank's: never freed */
    keel__log("worker rank %d (host %s) replaces lost worker rank %d", first,
              host, rank);
  }
  return 1;
}

/* Spawn what the executors want and is not there; replace lost spawned
 * ranks, up to a point, so that a rank that keeps dying cannot make the
 * master spawn for ever. */
int keel__ranks_grow(keel__ranks *rs)
{
  if (!rs->spawn_mode)
    return replace(rs);
  if (rs->spawn_error)
    return 0;
  keel__hub_lock();
  int want = keel__hub.spawn_want;
  keel__hub_unlock();
  int live = keel__ranks_live(rs), lost = rs->spawned - live;
  if (live >= want)
    return 0;
  if (lost > MAX_RESPAWNS) {
    spawn_failed(rs, "%s", "too many spawned worker ranks were lost; not "
                           "spawning more");
    return 1;
  }
  spawn(rs, want - live, NULL, -1);
  return 1;
}
