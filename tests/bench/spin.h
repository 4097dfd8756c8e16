/* spin.h: busy work of a given CPU time, shared by keel's grain benchmark
 * and the hand-written MPI master-worker, so that both run the same
 * tasks.  It spins on the thread's CPU clock: time the task spends off the
 * CPU (3 ranks share 2 cores) is not counted as work done. */
#ifndef KEEL_BENCH_SPIN_H
#define KEEL_BENCH_SPIN_H

#include <time.h>

static inline double cpu_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* us microseconds of this thread's CPU; none for 0. */
static inline void spin_us(unsigned us)
{
  if (us == 0)
    return;
  double end = cpu_now() + us * 1e-6;
  while (cpu_now() < end)
    ;
}

/* The grains both programs run: an empty task, then 10 us, 100 us, 1 ms;
 * each with as many tasks as make a run last about a second on 2
 * workers (the empty one: 100,000). */
static const unsigned grain_us[] = {0, 10, 100, 1000};
static const unsigned grain_tasks[] = {100000, 100000, 20000, 2000};
#define NGRAINS 4
static const char *const grain_key[] = {"empty", "10us", "100us", "1ms"};

#endif
