/* launcher.h: keelrun's parts, private to launcher/.
 *  - alloc.c: what the job may use: this machine's cores, a hostfile's
 *    slots, or a Slurm allocation read from its variables;
 *  - cmd.c: the launcher's command line, in the dialect of the MPI that
 *    owns it (Open MPI's mpirun or MPICH's Hydra mpiexec);
 *  - relay.c (relay.h): running it and bringing back the master's status. */
#ifndef KEEL_LAUNCHER_H
#define KEEL_LAUNCHER_H

#include <stdbool.h>
#include <stddef.h>

/* ---- alloc.c ---- */
typedef struct keelrun_alloc {
  int cores;      /* cores for workers, every node together */
  int slots;      /* ranks the launcher places without oversubscribing */
  int per_worker; /* cores each worker gets */
  bool slurm;     /* inside a Slurm job: Slurm names the hosts */
  char where[96]; /* "this machine", "hostfile F", "Slurm job J" */
} keelrun_alloc;

/* Read the allocation: Slurm's variables inside a job, else the hostfile
 * (when not NULL), else the cores this process may run on.  per_worker
 * is --cores-per-worker, or 0 for KEEL_CORES_PER_WORKER, Slurm's -c, or
 * 1.  0, or -1 with a message in err naming the bad value. */
int keelrun_alloc_read(keelrun_alloc *a, const char *hostfile, int per_worker,
                       char *err, size_t n);
/* Slurm's "2(x3),1" list (SLURM_JOB_CPUS_PER_NODE, SLURM_TASKS_PER_NODE):
 * the sum in *total, the node count in *nodes; -1 if malformed. */
int keelrun_slurm_counts(const char *s, long *total, long *nodes);
/* The number of hosts in a Slurm hostlist ("n[01-04,7],gpu1"), -1 if
 * malformed. */
long keelrun_slurm_hostcount(const char *s);
/* A hostfile, Open MPI's ("host slots=K") or Hydra's ("host:K") lines, as
 * Hydra's -hosts list "host:K,..." in buf; its slot count, or -1 with a
 * message in err. */
int keelrun_hostfile(const char *path, char *buf, size_t nbuf, char *err,
                     size_t n);

/* ---- cmd.c ---- */
typedef enum keelrun_family {
  KEELRUN_OPENMPI, /* Open MPI's mpirun (orterun) */
  KEELRUN_HYDRA,   /* MPICH's mpiexec (Hydra), Intel MPI's too */
} keelrun_family;

#define KEELRUN_MAX_ARGS 512

typedef struct keelrun_cmd {
  keelrun_family family;
  const char *v[KEELRUN_MAX_ARGS];
  int n;
} keelrun_cmd;

/* Which MPI the launcher belongs to, from what `launcher --version` says.
 * 0; or with a message in err, -1 when it cannot be started, -2 when it
 * is no launcher keel knows. */
int keelrun_family_of(const char *launcher, keelrun_family *f, char *err,
                      size_t n);
const char *keelrun_family_name(keelrun_family f);
/* Append one argument; -1 when the command is full. */
int keelrun_cmd_add(keelrun_cmd *c, const char *s);
/* The launcher and its fixed flags: `ranks` processes, a lost rank not
 * ending the job, no binding of its own (keel binds), oversubscribed
 * when asked. */
int keelrun_cmd_start(keelrun_cmd *c, const char *launcher, int ranks,
                      bool oversubscribe);
/* Export NAME=VALUE to every rank (both copied: they may be the caller's
 * stack). */
int keelrun_cmd_env(keelrun_cmd *c, const char *name, const char *value);
/* The user's -x VAR[=VALUE]: VALUE, or VAR's value here. */
int keelrun_cmd_export(keelrun_cmd *c, const char *spec);
/* Run on these hosts (Open MPI's --host syntax, which Hydra shares). */
int keelrun_cmd_hosts(keelrun_cmd *c, const char *hosts);
/* Spread the ranks over a hostfile's hosts (Hydra gets them as -hosts).
 * 0, or -1 with a message in err. */
int keelrun_cmd_hostfile(keelrun_cmd *c, const char *path, char *err,
                         size_t n);
/* Print the command so that a shell runs it as it is. */
void keelrun_cmd_print(const keelrun_cmd *c);

#endif /* KEEL_LAUNCHER_H */
