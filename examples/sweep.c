/* sweep: a parameter sweep.  For each growth rate r of the logistic map
 * x -> r x (1 - x), estimate its Lyapunov exponent (negative: stable cycle,
 * positive: chaos).  Tasks are collected with keel_as_completed as they
 * finish, then printed as a table in parameter order.
 *
 *   keelrun -n 2 examples/sweep [POINTS]     or   mpirun -n 3 examples/sweep
 */
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct point {
  double r;
  int index;
} point;

typedef struct outcome {
  int index;
  double lyapunov;
  double x_final;
} outcome;

static int lyapunov(const void *arg, size_t len, keel_buf *out)
{
  point p;
  if (len != sizeof p)
    return keel_fail(out, "expected a point, got %zu bytes", len);
  p = *(const point *)arg;
  double x = 0.2345, sum = 0; /* not 0.5: at r = 4 that lands on 0 */
  const int warmup = 1000, steps = 200000;
  for (int i = 0; i < warmup; i++)
    x = p.r * x * (1 - x);
  for (int i = 0; i < steps; i++) {
    x = p.r * x * (1 - x);
    sum += log(fabs(p.r * (1 - 2 * x)) + 1e-300);
  }
  outcome o = {p.index, sum / steps, x};
  return keel_buf_append(out, &o, sizeof o);
}
KEEL_REGISTER(lyapunov);

static int collect(keel_future **fs, int n, outcome *table)
{
  keel_completion *it;
  keel_future *f;
  const void *data;
  size_t len;
  int rc, got = 0;
  if ((rc = keel_as_completed(fs, (size_t)n, &it)))
    return rc;
  while ((rc = keel_completion_next(it, KEEL_FOREVER, &f)) == KEEL_OK) {
    if ((rc = keel_future_result(f, 0, &data, &len)) || len != sizeof *table) {
      const keel_error *e = keel_future_error(f);
      fprintf(stderr, "sweep: task failed: %s\n",
              e ? e->message : "wrong result size");
      break;
    }
    const outcome *o = data;
    table[o->index] = *o;
    got++;
  }
  keel_completion_free(it);
  return rc == KEEL_EOF && got == n ? KEEL_OK : (rc ? rc : KEEL_ETASK);
}

int main(int argc, char **argv)
{
  keel_executor *ex;
  int rc = keel_init(&argc, &argv);
  if (rc) {
    fprintf(stderr, "sweep: keel_init: %s\n", keel_strerror(rc));
    return 1;
  }
  int n = argc > 1 ? atoi(argv[1]) : 24;
  if (n < 1 || n > 100000) {
    fprintf(stderr, "sweep: POINTS must be 1..100000, got '%s'\n", argv[1]);
    keel_finalize();
    return 2;
  }
  keel_future **fs = calloc((size_t)n, sizeof *fs);
  outcome *table = calloc((size_t)n, sizeof *table);
  if ((rc = keel_get_reusable_executor(NULL, &ex)))
    goto out;
  printf("sweep: %d points on %d workers\n", n, keel_executor_workers(ex));
  for (int i = 0; i < n && !rc; i++) {
    point p = {2.5 + 1.5 * i / (n > 1 ? n - 1 : 1), i};
    rc = keel_submit(ex, lyapunov, &p, sizeof p, &fs[i]);
  }
  if (rc || (rc = collect(fs, n, table)))
    goto out;
  printf("%10s %12s %10s  %s\n", "r", "lyapunov", "x_final", "regime");
  for (int i = 0; i < n; i++)
    printf("%10.4f %12.5f %10.5f  %s\n", 2.5 + 1.5 * i / (n > 1 ? n - 1 : 1),
           table[i].lyapunov, table[i].x_final,
           table[i].lyapunov > 0 ? "chaotic" : "periodic");
out:
  if (rc)
    fprintf(stderr, "sweep: %s\n", keel_strerror(rc));
  for (int i = 0; i < n; i++)
    keel_future_release(fs[i]);
  free(fs);
  free(table);
  return keel_finalize() || rc ? 1 : 0;
}
