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
 * Runs on the manager thread; keel__rt.ranks grows under keel__rt.lock
 * because user threads read it there. */
#include "keel_int.h"
#include "mpiq.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RESPAWNS 16 /* lost spawned ranks replaced before giving up */

typedef struct group {
  MPI_Comm comm; /* master is rank 0, workers 1..n */
  int base;      /* global rank of the group's rank 1 */
  int n;
} group;

static group *groups;
static int ngroups;
static keel__recvq *recvs; /* per global rank */
static int spawned; /* ranks spawned so far */

/* Add n ranks reached through comm (ranks 1..n of it). */
static int add_group(MPI_Comm comm, int n)
{
  int old = keel__rt.nranks, total = old + n;
  group *g = realloc(groups, (size_t)(ngroups + 1) * sizeof *g);
  if (!g)
    return KEEL_ENOMEM;
  groups = g;
  keel__recvq *q = realloc(recvs, (size_t)total * sizeof *q);
  if (!q)
    return KEEL_ENOMEM;
  recvs = q;
  memset(recvs + old, 0, (size_t)n * sizeof *q);
  pthread_mutex_lock(&keel__rt.lock);
  keel__rank *k = realloc(keel__rt.ranks, (size_t)total * sizeof *k);
  if (k) {
    double now = keel__now();
    for (int r = old; r < total; r++)
      k[r] = (keel__rank){.core = -1, .pidfd = -1, .index = -1,
                          .last_heard = now};
    keel__rt.ranks = k;
    keel__rt.nranks = total;
  }
  pthread_mutex_unlock(&keel__rt.lock);
  if (!k)
    return KEEL_ENOMEM;
  groups[ngroups++] = (group){comm, old, n};
  return KEEL_OK;
}

int keel__ranks_start(MPI_Comm world)
{
  int size;
  MPI_Comm_size(world, &size);
  keel__rt.ranks = calloc(1, sizeof *keel__rt.ranks); /* 0: the master */
  recvs = calloc(1, sizeof *recvs);
  if (!keel__rt.ranks || !recvs)
    return KEEL_ENOMEM;
  keel__rt.ranks[0] = (keel__rank){.core = -1, .pidfd = -1, .index = -1};
  keel__rt.nranks = 1;
  if (size > 1)
    return add_group(world, size - 1);
  keel__rt.spawn_mode = true;
  return KEEL_OK;
}

MPI_Comm keel__rank_comm(int rank, int *crank)
{
  for (int g = ngroups - 1; g >= 0; g--)
    if (rank >= groups[g].base && rank < groups[g].base + groups[g].n) {
      *crank = rank - groups[g].base + 1;
      return groups[g].comm;
    }
  *crank = -1;
  return MPI_COMM_NULL;
}

keel__recvq *keel__rank_recvq(int rank)
{
  return &recvs[rank];
}

int keel__ranks_groups(void)
{
  return ngroups;
}

MPI_Comm keel__ranks_group(int g, int *base, int *n)
{
  *base = groups[g].base;
  *n = groups[g].n;
  return groups[g].comm;
}

void keel__ranks_free(void)
{
  for (int r = 1; r < keel__rt.nranks; r++)
    if (keel__rt.ranks[r].pidfd >= 0)
      close(keel__rt.ranks[r].pidfd);
  for (int g = 0; g < ngroups; g++)
    if (keel__rt.spawn_mode) /* the world one belongs to init.c */
      MPI_Comm_free(&groups[g].comm);
  free(groups);
  groups = NULL;
  ngroups = 0;
  free(recvs);
  recvs = NULL;
}

int keel__live_ranks(void)
{
  int n = 0;
  for (int r = 1; r < keel__rt.nranks; r++)
    n += !keel__rt.ranks[r].lost;
  return n;
}

/* ---- spawning ---- */

static void spawn_failed(const char *fmt, const char *detail)
{
  char *msg = keel__strdup_printf(fmt, detail);
  keel__log("%s", msg ? msg : fmt);
  pthread_mutex_lock(&keel__rt.lock);
  free(keel__rt.spawn_error);
  keel__rt.spawn_error = msg;
  pthread_mutex_unlock(&keel__rt.lock);
}

static MPI_Info spawn_info(void)
{
  MPI_Info info;
  MPI_Info_create(&info);
  /* keel binds with hwloc (bind.c); and workers may outnumber the cores
   * when the user asks for more, as with keelrun. */
  MPI_Info_set(info, "bind_to", "none");
  MPI_Info_set(info, "map_by", ":OVERSUBSCRIBE");
  return info;
}

static bool index_used(int idx)
{
  for (int r = 1; r < keel__rt.nranks; r++)
    if (!keel__rt.ranks[r].lost && keel__rt.ranks[r].index == idx)
      return true;
  return false;
}

/* The n lowest worker indexes that no live spawned rank holds: a
 * replacement takes the core its lost predecessor left. */
static void free_indexes(int *out, int n)
{
  for (int idx = 0, found = 0; found < n; idx++)
    if (!index_used(idx))
      out[found++] = idx;
}

/* One past the highest worker index in use: the master binds past it. */
static int indexes_top(void)
{
  int top = 0;
  for (int r = 1; r < keel__rt.nranks; r++)
    if (!keel__rt.ranks[r].lost && keel__rt.ranks[r].index >= top)
      top = keel__rt.ranks[r].index + 1;
  return top;
}

/* MPI_Comm_spawn n copies of this very program, with its arguments. */
static int spawn_procs(int n, MPI_Comm *inter)
{
  char exe[PATH_MAX], err[MPI_MAX_ERROR_STRING];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  int *codes = calloc((size_t)n, sizeof *codes), elen = 0, rc;
  if (len <= 0 || !codes) {
    free(codes);
    spawn_failed("cannot spawn workers: %s",
                 len <= 0 ? "/proc/self/exe is unreadable" : "out of memory");
    return KEEL_ESYS;
  }
  exe[len] = '\0';
  MPI_Info info = spawn_info();
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  rc = MPI_Comm_spawn(exe, keel__argv + 1, n, info, 0, MPI_COMM_SELF, inter,
                      codes);
  MPI_Info_free(&info);
  free(codes);
  if (rc == MPI_SUCCESS)
    return KEEL_OK;
  MPI_Error_string(rc, err, &elen);
  spawn_failed("MPI_Comm_spawn of the workers failed: %s", err);
  return KEEL_EMPI;
}

/* Merge the n spawned workers in, master as rank 0, and tell them their
 * plan: the group's first global rank (for --report-bindings), then each
 * one's worker index, so core, among those no live worker holds.  The
 * nanny's half is spawned_nanny() in init.c. */
static int adopt(MPI_Comm inter, int n, int *plan)
{
  MPI_Comm merged;
  int local_size;
  MPI_Intercomm_merge(inter, 0, &merged);
  MPI_Comm_free(&inter);
  MPI_Comm_set_errhandler(merged, MPI_ERRORS_RETURN);
  keel__node_index(&merged, 0, &local_size);
  plan[0] = keel__rt.nranks;
  free_indexes(plan + 1, n);
  MPI_Bcast(plan, n + 1, MPI_INT, 0, merged);
  if (add_group(merged, n)) {
    spawn_failed("cannot spawn workers: %s", "out of memory");
    return KEEL_ENOMEM;
  }
  for (int i = 0; i < n; i++)
    keel__rt.ranks[plan[0] + i].index = plan[1 + i];
  return KEEL_OK;
}

static int spawn(int n)
{
  MPI_Comm inter;
  int *plan = calloc((size_t)n + 1, sizeof *plan), rc = KEEL_ENOMEM;
  if (!plan)
    spawn_failed("cannot spawn workers: %s", "out of memory");
  else if ((rc = spawn_procs(n, &inter)) == KEEL_OK &&
           (rc = adopt(inter, n, plan)) == KEEL_OK) {
    spawned += n;
    keel__bind_master(indexes_top());
  }
  free(plan);
  return rc;
}

/* Spawn what the executors want and is not there; replace lost spawned
 * ranks, up to a point, so that a rank that keeps dying cannot make the
 * master spawn for ever. */
int keel__ranks_grow(void)
{
  if (!keel__rt.spawn_mode || keel__rt.spawn_error)
    return 0;
  pthread_mutex_lock(&keel__rt.lock);
  int want = keel__rt.spawn_want;
  pthread_mutex_unlock(&keel__rt.lock);
  int live = keel__live_ranks(), lost = spawned - live;
  if (live >= want)
    return 0;
  if (lost > MAX_RESPAWNS) {
    spawn_failed("%s", "too many spawned worker ranks were lost; not "
                       "spawning more");
    return 1;
  }
  spawn(want - live);
  return 1;
}
