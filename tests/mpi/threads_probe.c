/* threads_probe: what a task sees of its threads and cores, for
 * tests/scripts/hybrid.  Each of 8 × workers tasks reports
 *   "omp T env E blas B cpus C" where T is omp_get_max_threads() (libgomp
 * read OMP_NUM_THREADS as the task process started), E and B the
 * variables OMP_NUM_THREADS and OPENBLAS_NUM_THREADS, and C the PUs it may run on (sched_getaffinity), as a list.
 * The master prints each distinct line once, sorted by the shell. */
#include <keel.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../testutil.h"

static int probe(const void *arg, size_t len, keel_buf *out)
{
  cpu_set_t set;
  char cpus[256] = "";
  size_t n = 0;
  usleep(20000); /* let every worker take some */
  if (sched_getaffinity(0, sizeof set, &set))
    return keel_fail(out, "sched_getaffinity failed");
  for (int c = 0; c < CPU_SETSIZE && n + 8 < sizeof cpus; c++)
    if (CPU_ISSET(c, &set))
      n += (size_t)snprintf(cpus + n, sizeof cpus - n, "%s%d", n ? "," : "",
                            c);
  const char *env = getenv("OMP_NUM_THREADS");
  const char *blas = getenv("OPENBLAS_NUM_THREADS");
  return keel_buf_printf(out, "omp %d env %s blas %s cpus %s",
                         omp_get_max_threads(), env ? env : "-",
                         blas ? blas : "-", cpus);
}
KEEL_REGISTER(probe);

int main(int argc, char **argv)
{
  keel_executor *ex;
  keel_future *f[256];
  int rc = keel_init(&argc, &argv);
  if (rc) {
    fprintf(stderr, "keel_init: %s\n", keel_strerror(rc));
    return 1;
  }
  tu_watchdog("threads_probe", 60);
  if ((rc = keel_get_reusable_executor(NULL, &ex))) {
    fprintf(stderr, "threads_probe: %s\n", keel_strerror(rc));
    return 1;
  }
  int w = keel_executor_workers(ex), n = 8 * (w > 1 ? w : 1);
  n = n > 256 ? 256 : n;
  for (int i = 0; i < n; i++)
    if ((rc = keel_submit(ex, probe, NULL, 0, &f[i]))) {
      fprintf(stderr, "threads_probe: submit: %s\n", keel_strerror(rc));
      return 1;
    }
  for (int i = 0; i < n; i++) {
    const void *data;
    size_t len;
    if ((rc = keel_future_result(f[i], KEEL_FOREVER, &data, &len))) {
      fprintf(stderr, "threads_probe: %s\n", keel_future_error(f[i])->message);
      return 1;
    }
    printf("%.*s\n", (int)len, (const char *)data);
    keel_future_release(f[i]);
  }
  return keel_finalize() ? 1 : 0;
}
