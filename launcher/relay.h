/* relay.h: keelrun's child mpirun, and how the job ended (relay.c). */
#ifndef KEELRUN_RELAY_H
#define KEELRUN_RELAY_H

#include <stdbool.h>
#include <stddef.h>

enum { KEELRUN_UNKNOWN, KEELRUN_EXIT, KEELRUN_SIGNAL };

/* How the job ended. */
typedef struct keelrun_end {
  int how;          /* the master's ending: KEELRUN_* */
  int value;        /* its exit status, or the signal that ended it */
  int stopped_by;   /* keelrun's own SIGINT, SIGTERM or SIGHUP, or 0 */
  bool ended_mpirun; /* keelrun had to stop mpirun itself */
  int crashed;      /* worker ranks that crashed (keel-rank said so) */
  int mpirun;       /* mpirun's status (128 + signal when killed) */
} keelrun_end;

/* A fresh token for KEEL_STATUS_TOKEN. */
void keelrun_token(char *buf, size_t n);
/* Run argv (mpirun ...), relaying its stderr without the status line,
 * until mpirun has ended (by itself, or stopped by keelrun once the master
 * had ended); *end says how it went.  passes_usr: the launcher passes
 * SIGUSR1 and SIGUSR2 on to the ranks (Open MPI's does; MPICH's Hydra
 * does not).  0, or -1 with errno when mpirun cannot be started. */
int keelrun_run(const char *const *argv, const char *token, bool passes_usr,
                keelrun_end *end);

#endif
