/* report.c: crash reports on by default.  A task that crashes its task
 * process, or is killed past its time or memory limit, must not fail in
 * silence in a program that never prints keel_future_error(): the master
 * prints one block on stderr for each such crash (not for each future
 * that fails as a result: a broken executor's other futures get one line
 * saying so), as a warning of KEEL_LOG's.  The block has what
 * keel_future_error() has: the task, its rank and host, the task
 * process's pid, the signal or status or limit, what becomes of the
 * future, and the backtrace.  A
 * program that reports crashes itself sets keel_options.quiet_crashes. */
#include "master/master.h"

#include <stdio.h>
#include <string.h>

static const char *policy(int on_crash)
{
  return on_crash == KEEL_ON_CRASH_BREAK       ? "BREAK"
         : on_crash == KEEL_ON_CRASH_FAIL_TASK ? "FAIL_TASK"
         : on_crash == KEEL_ON_CRASH_RETRY     ? "RETRY"
                                               : "?";
}

/* The backtrace, each line indented, into b. */
static void indent(keel_buf *b, const char *text)
{
  for (const char *p = text; p && *p;) {
    size_t n = strcspn(p, "\n");
    keel_buf_printf(b, "    %.*s\n", (int)n, p);
    p += n + (p[n] == '\n');
  }
}

void keel__report_crash(const keel_executor *ex, const keel_error *e,
                        keel__fate fate)
{
  if (ex->opt.quiet_crashes || keel__log_level < KEEL__LOG_WARN)
    return;
  keel_buf b = {0};
  if (e->pid > 0)
    keel_buf_printf(&b, "  task process: pid %d on %s\n", e->pid,
                    e->host ? e->host : "?");
  keel_buf_printf(&b, "  executor %u, on_crash %s: ", ex->id,
                  policy(ex->opt.on_crash));
  if (fate.what == KEEL__FATE_RETRY)
    keel_buf_printf(&b, "run again (retry %d of %d)\n", fate.tries,
                    fate.max_retries);
  else if (fate.what == KEEL__FATE_BREAK)
    keel_buf_printf(&b, "its future fails with KEEL_EWORKER; the executor "
                    "is broken: every other unfinished future fails with "
                    "KEEL_EBROKEN\n");
  else
    keel_buf_printf(&b, "its future fails with %s\n",
                    e->code == KEEL_EDEADLINE ? "KEEL_EDEADLINE"
                                              : "KEEL_EWORKER");
  if (e->backtrace && *e->backtrace) {
    keel_buf_printf(&b, "  backtrace:\n");
    indent(&b, e->backtrace);
  }
  /* The headline through the log (time, who), the rest right after. */
  keel__log("task crashed: %s\n%.*s", e->message,
            b.len && b.data[b.len - 1] == '\n' ? (int)b.len - 1 : (int)b.len,
            b.data ? b.data : "");
  keel__buf_free(&b);
}

void keel__report_broken(const keel_executor *ex, size_t n)
{
  if (n == 0 || ex->opt.quiet_crashes || keel__log_level < KEEL__LOG_WARN)
    return; /* nothing else failed: the crash's block said it all */
  keel__log("%s: %zu other unfinished future%s failed with KEEL_EBROKEN",
            ex->broken_msg ? ex->broken_msg : "executor broken", n,
            n == 1 ? "" : "s");
}
