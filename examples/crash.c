/* crash: a worker's task process segfaults; keel reports the exact cause
 * (signal, rank, host, task, backtrace), the executor is broken, and
 * keel_get_reusable_executor() hands back a fresh one that works.
 * Exits 0 when all of that happened as described. */
#include <keel.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

/* The NULL dereference is the point of this example: keep UBSan (in a
 * sanitizer build) from turning it into a report instead of a SIGSEGV. */
__attribute__((no_sanitize_undefined))
static int divide(const void *arg, size_t len, keel_buf *out)
{
  int d = *(const int *)arg;
  if (d == 0) { /* a bug in user code: dereference NULL */
    volatile int *p = (volatile int *)(uintptr_t)d;
    return *p;
  }
  int q = 1000 / d;
  return keel_buf_append(out, &q, sizeof q);
}
KEEL_REGISTER(divide);

static void show(const keel_error *e)
{
  printf("  code:        %s (%s)\n", keel_err_name(e->code),
         keel_strerror(e->code));
  printf("  message:     %s\n", e->message);
  printf("  rank, host:  %d, %s\n", e->rank, e->host ? e->host : "?");
  printf("  signal:      %d (%s)\n", e->signal,
         e->signal ? strsignal(e->signal) : "none");
  printf("  exit status: %d\n", e->exit_status);
  printf("  task id:     %llu\n", e->task_id);
  if (e->backtrace) {
    const char *end = e->backtrace;
    for (int i = 0; i < 4 && (end = strchr(end, '\n')); i++)
      end++;
    printf("  backtrace:\n%.*s", (int)(end ? end - e->backtrace
                                           : (long)strlen(e->backtrace)),
           e->backtrace);
  }
}

static int run(keel_executor *ex, int d, int *q)
{
  keel_future *f;
  const void *data;
  size_t len;
  int rc = keel_submit(ex, divide, &d, sizeof d, &f);
  if (rc)
    return rc;
  rc = keel_future_result(f, 30, &data, &len);
  if (rc == KEEL_OK && len == sizeof *q)
    memcpy(q, data, sizeof *q);
  else if (keel_future_error(f))
    show(keel_future_error(f));
  keel_future_release(f);
  return rc;
}

int main(int argc, char **argv)
{
  keel_executor *ex;
  int q = 0, ok = 1;
  if (keel_init(&argc, &argv))
    return 1;
  keel_get_reusable_executor(NULL, &ex);
  printf("executor %u: 1000/8 = ", keel_executor_id(ex));
  ok &= run(ex, 8, &q) == KEEL_OK && q == 125;
  printf("%d\n", q);
  printf("executor %u: 1000/0 crashes its task process:\n",
         keel_executor_id(ex));
  ok &= run(ex, 0, &q) == KEEL_EWORKER;
  printf("executor %u broken: %s\n", keel_executor_id(ex),
         keel_executor_broken(ex) ? "yes" : "no");
  ok &= keel_executor_broken(ex);
  keel_get_reusable_executor(NULL, &ex);
  printf("reusable executor is now %u, broken: %s, 1000/4 = ",
         keel_executor_id(ex), keel_executor_broken(ex) ? "yes" : "no");
  ok &= run(ex, 4, &q) == KEEL_OK && q == 250;
  printf("%d\n", q);
  printf("%s\n", ok ? "crash: reported and recovered" : "crash: FAILED");
  return keel_finalize() || !ok ? 1 : 0;
}
