/* hops: the floors under the hops of keel's round trip that MPI's
 * ping-pong does not have.  One task at a time goes user thread -> manager
 * thread (a wake-up), master -> nanny (MPI), nanny -> task process (a Unix
 * socket, the task process blocked in read), and back the same way.  This
 * measures, without keel, a round trip between two threads that wake each
 * other with a condition variable, and one between two processes that
 * block in read() on a socketpair, both on one core (as a nanny and its
 * task process are) and on two (as the master's threads may be: waking a
 * halted virtual CPU is what costs here).  Medians of RUNS batches. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_setaffinity */
#endif
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS 9
#define BATCH 5000

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* ---- two threads, a condition variable each way ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long turn; /* odd: the echo thread's turn */

/* Run the calling thread on cpu only: a figure taken elsewhere would be
 * the wrong one, so fail loudly. */
static void pin(int cpu)
{
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  if (sched_setaffinity(0, sizeof s, &s)) {
    perror("hops: sched_setaffinity");
    exit(1);
  }
}

static void *echo_thread(void *cpu)
{
  pin(*(int *)cpu);
  pthread_mutex_lock(&lock);
  for (long i = 0; i < (long)(RUNS + 1) * BATCH; i++) {
    while (turn % 2 == 0)
      pthread_cond_wait(&cond, &lock);
    turn++;
    pthread_cond_signal(&cond);
  }
  pthread_mutex_unlock(&lock);
  return NULL;
}

static double thread_trips(int n)
{
  double t0 = now();
  pthread_mutex_lock(&lock);
  for (int i = 0; i < n; i++) {
    turn++;
    pthread_cond_signal(&cond);
    while (turn % 2)
      pthread_cond_wait(&cond, &lock);
  }
  pthread_mutex_unlock(&lock);
  return (now() - t0) / n;
}

/* ---- two processes, a socketpair ---- */

static double process_trips(int fd, int n)
{
  char c = 0;
  double t0 = now();
  for (int i = 0; i < n; i++)
    if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
      return -1;
  return (now() - t0) / n;
}

static void echo_process(int fd)
{
  char c;
  while (read(fd, &c, 1) == 1)
    if (write(fd, &c, 1) != 1)
      break;
  _exit(0);
}

static void report(const char *key, double *v, const char *what)
{
  qsort(v, RUNS, sizeof *v, cmp);
  printf("%s: %.2f us (%s, one round trip; median of %d batches of %d)\n",
         key, v[RUNS / 2] * 1e6, what, RUNS, BATCH);
}

/* Threads on cpu 0 and `other`: seconds per round trip, RUNS of them. */
static int threads(int other, double *v)
{
  pthread_t t;
  turn = 0;
  pin(0);
  if (pthread_create(&t, NULL, echo_thread, &other))
    return -1;
  thread_trips(BATCH); /* warm */
  for (int r = 0; r < RUNS; r++)
    v[r] = thread_trips(BATCH);
  return pthread_join(t, NULL);
}

/* Processes on cpu 0 and `other`. */
static int processes(int other, double *v)
{
  int sv[2];
  pin(0);
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    pin(other);
    close(sv[0]);
    echo_process(sv[1]);
  }
  close(sv[1]);
  int rc = pid < 0 || process_trips(sv[0], BATCH) < 0 ? -1 : 0;
  for (int r = 0; r < RUNS && !rc; r++)
    rc = (v[r] = process_trips(sv[0], BATCH)) < 0 ? -1 : 0;
  close(sv[0]);
  if (pid > 0)
    waitpid(pid, NULL, 0);
  return rc;
}

int main(void)
{
  double v[RUNS];
  cpu_set_t allowed;
  /* cpus 0 and 1 must both be ours */
  int two = sched_getaffinity(0, sizeof allowed, &allowed) == 0 &&
            CPU_ISSET(0, &allowed) && CPU_ISSET(1, &allowed);
  if (threads(0, v))
    return 1;
  report("hop-threads-1core", v, "two threads waking each other with a "
         "condition variable, one core");
  if (processes(0, v))
    return 1;
  report("hop-processes-1core", v, "two processes blocked in read() on a "
         "socketpair, one core");
  if (two && threads(1, v))
    return 1;
  if (two)
    report("hop-threads-2cores", v, "the same threads on two cores");
  if (two && processes(1, v))
    return 1;
  if (two)
    report("hop-processes-2cores", v, "the same processes on two cores");
  return 0;
}
