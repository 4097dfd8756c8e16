/* drain.c: "the time limit is near".  Batch systems warn a job with a
 * signal before they kill it (sbatch --signal=B:USR1@120); keelrun passes
 * SIGUSR1 and SIGUSR2 on to every rank.  The master keeps the news for the
 * program (keel_draining()); nannies and task processes ignore the two
 * signals (worker/), so that the warning never kills a worker. */
#include "api/api.h"

#include <signal.h>

_Static_assert(ATOMIC_BOOL_LOCK_FREE == 2,
               "keel_drain() runs in signal handlers");

bool keel_draining(void)
{
  return atomic_load(&keel__hub.draining);
}

void keel_drain(void)
{
  atomic_store(&keel__hub.draining, true);
}

static void on_signal(int sig)
{
  (void)sig;
  keel_drain();
}

void keel__drain_install(void)
{
  static const int sigs[] = {SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
    struct sigaction old, sa = {.sa_handler = on_signal,
                                .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO))
      sigaction(sigs[i], &sa, NULL);
  }
}
