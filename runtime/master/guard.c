/* guard.c: a spawn that never returns must not hang the job.
 *
 * MPI_Comm_spawn holds the manager thread while it runs (the MPI level is
 * SERIALIZED, so nothing else may call MPI meanwhile), and Open MPI's can
 * wedge: a spawned process that never finishes MPI_Init (seen after about
 * a hundred replacements under churn, stuck in PMIx_Init), or one that
 * cannot start at all.  The manager then sends no heartbeat, every nanny
 * gives the master up, and the master and the launcher would wait for
 * ever.  So a thread of its own watches each spawn: past its deadline it
 * says which spawn wedged and ends the master's process, which under
 * keelrun ends the job with that status.  Nothing of MPI can be called
 * from here, hence _exit(). */
#include "master/master.h"
#include "sys/sys.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void keel__guard_init(keel__guard *g, double timeout)
{
  memset(g, 0, sizeof *g);
  g->timeout = timeout;
  pthread_mutex_init(&g->mu, NULL);
  keel__clock_cond_init(&g->cv);
}

static void expire(keel__guard *g)
{
  keel__log("%s has not returned after %.0f s (KEEL_SPAWN_TIMEOUT): MPI's "
            "spawn is wedged and holds the master; ending the master with "
            "status %d", g->what, g->timeout, KEEL__WEDGED_STATUS);
  _exit(KEEL__WEDGED_STATUS);
}

static void *guard_main(void *arg)
{
  keel__guard *g = arg;
  pthread_mutex_lock(&g->mu);
  while (!g->stop) {
    struct timespec ts;
    if (!g->armed)
      pthread_cond_wait(&g->cv, &g->mu);
    else if (!keel__clock_abstime(g->deadline, &ts))
      expire(g); /* does not return */
    else
      pthread_cond_timedwait(&g->cv, &g->mu, &ts);
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

void keel__guard_arm(keel__guard *g, const char *fmt, ...)
{
  pthread_mutex_lock(&g->mu);
  if (!g->started) /* the first spawn: most jobs never spawn */
    g->started = !pthread_create(&g->thread, NULL, guard_main, g);
  if (!g->started)
    keel__log("cannot start the thread that watches spawns: a spawn that "
              "wedges will hang the job");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g->what, sizeof g->what, fmt, ap);
  va_end(ap);
  g->deadline = keel__clock_now() + g->timeout;
  g->armed = true;
  pthread_cond_signal(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

void keel__guard_disarm(keel__guard *g)
{
  pthread_mutex_lock(&g->mu);
  assert(g->armed);
  g->armed = false;
  pthread_cond_signal(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

void keel__guard_destroy(keel__guard *g)
{
  pthread_mutex_lock(&g->mu);
  g->stop = true;
  pthread_cond_signal(&g->cv);
  pthread_mutex_unlock(&g->mu);
  if (g->started)
    pthread_join(g->thread, NULL);
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
}
