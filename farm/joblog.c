/* joblog.c: GNU parallel's joblog (Seq, Host, Starttime, JobRuntime, Send,
 * Receive, Exitval, Signal, Command; tab-separated, one row per finished
 * line), so that existing tools read it and a killed batch job can
 * --resume without running a finished line twice. */
#include "joblog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char header[] =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\t"
    "Command\n";

/* Cut a row torn by a kill mid-write: everything after the last newline.
 * On the fd, before stdio buffers any of it. */
static int cut_torn_row(FILE *f)
{
  struct stat st;
  char c = '\n';
  int fd = fileno(f);
  if (fstat(fd, &st))
    return -1;
  off_t keep = st.st_size;
  while (keep > 0 && pread(fd, &c, 1, keep - 1) == 1 && c != '\n')
    keep--;
  return keep == st.st_size ? 0 : ftruncate(fd, keep);
}

/* The Command field of a row (the 9th on: a command may hold tabs),
 * without its newline; NULL if the row has fewer fields. */
static const char *command_of(char *row)
{
  char *p = row;
  for (int tabs = 0; tabs < 8; tabs++) {
    if (!(p = strchr(p, '\t')))
      return NULL;
    p++;
  }
  p[strcspn(p, "\n")] = '\0';
  return p;
}

/* Is row a row of this task file?  It names it when not. */
static bool row_ok(char *row, const char *path, size_t no, char *const *line,
                   size_t n, size_t *seq)
{
  char *end;
  errno = 0;
  unsigned long long s = strtoull(row, &end, 10);
  const char *cmd = command_of(row);
  if (errno || end == row || *end != '\t' || s == 0 || s > n || !cmd) {
    fprintf(stderr, "keelrun: joblog %s line %zu: not a row of this task "
            "file (Seq must be a line number from 1 to %zu)\n", path, no, n);
    return false;
  }
  if (!line[s] || strcmp(cmd, line[s])) {
    fprintf(stderr, "keelrun: joblog %s line %zu: Seq %llu ran '%s', but "
            "line %llu of the task file is '%s': not its joblog\n", path, no,
            s, cmd, s, line[s] ? line[s] : "");
    return false;
  }
  *seq = (size_t)s;
  return true;
}

/* Did the row's line fail: an Exitval other than 0 (-1: it did not
 * exit), or a Signal?  The row has its nine fields (row_ok). */
static bool row_failed(const char *row)
{
  const char *p = row;
  for (int tabs = 0; tabs < 6; tabs++)
    p = strchr(p, '\t') + 1;
  char *end;
  long exitval = strtol(p, &end, 10);
  return exitval != 0 || strtol(end + 1, NULL, 10) != 0;
}

/* Mark the Seq of every row in done[] (with FARM_LOG_RESUME_FAILED, of
 * every row that succeeded: a line that failed and then succeeded has
 * both); -1 after naming a bad row. */
static int read_rows(FILE *f, const char *path, farm_log_mode mode,
                     bool *done, char *const *line, size_t n)
{
  char *row = NULL;
  size_t cap = 0, no = 0, seq;
  int rc = 0;
  ssize_t len;
  rewind(f);
  while ((len = getline(&row, &cap, f)) > 0) {
    if (row[len - 1] != '\n')
      break; /* a torn last row: cut (open) or not counted (check) */
    if (++no == 1 && !strncmp(row, "Seq\t", 4))
      continue; /* the header */
    if (!row_ok(row, path, no, line, n, &seq)) {
      rc = -1;
      break;
    }
    if (mode != FARM_LOG_RESUME_FAILED || !row_failed(row))
      done[seq] = true;
  }
  if (!rc && ferror(f)) {
    fprintf(stderr, "keelrun: cannot read joblog %s: %s\n", path,
            strerror(errno));
    rc = -1;
  }
  free(row);
  return rc;
}

/* Another farm holds it: say so. */
static bool in_use(FILE *f, const char *path, int how)
{
  if (flock(fileno(f), how | LOCK_NB) == 0)
    return false;
  fprintf(stderr, "keelrun: joblog %s is in use by another farm%s\n", path,
          errno == EWOULDBLOCK ? "" : " (cannot lock it)");
  return true;
}

FILE *farm_joblog_open(const char *path, farm_log_mode mode, bool *done,
                       char *const *line, size_t n)
{
  bool resume = mode != FARM_LOG_AFRESH;
  FILE *f = fopen(path, resume ? "a+" : "r+");
  if (!f && !resume && errno == ENOENT)
    f = fopen(path, "w+");
  if (!f) {
    fprintf(stderr, "keelrun: cannot open joblog %s: %s\n", path,
            strerror(errno));
    return NULL;
  }
  /* One farm per joblog: a batch job resubmitted while the first still
   * runs must not run the same lines and interleave rows. */
  if (in_use(f, path, LOCK_EX)) {
    fclose(f);
    return NULL;
  }
  if (!resume && ftruncate(fileno(f), 0)) { /* afresh, once it is ours */
    fprintf(stderr, "keelrun: cannot empty joblog %s: %s\n", path,
            strerror(errno));
    fclose(f);
    return NULL;
  }
  if (resume &&
      (cut_torn_row(f) || read_rows(f, path, mode, done, line, n))) {
    fclose(f);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  if (ftell(f) == 0)
    fputs(header, f);
  fflush(f);
  return f;
}

int farm_joblog_check(const char *path, bool resume, char *const *line,
                      size_t n)
{
  FILE *f = fopen(path, "r");
  if (!f)
    return errno == ENOENT ? 0 : (fprintf(stderr, "keelrun: cannot read "
                                          "joblog %s: %s\n", path,
                                          strerror(errno)), -1);
  bool *done = resume ? calloc(n + 1, sizeof *done) : NULL;
  int rc = in_use(f, path, LOCK_SH) ||
                   (resume && (!done || read_rows(f, path, FARM_LOG_RESUME,
                                                  done, line, n)))
               ? -1
               : 0;
  free(done);
  fclose(f);
  return rc;
}

int farm_joblog_row(FILE *f, const farm_row *r)
{
  fprintf(f, "%zu\t%s\t%.3f\t%.3f\t0\t%zu\t%d\t%d\t%s\n", r->seq, r->host,
          r->start, r->runtime, r->receive, r->exitval, r->signal,
          r->command);
  return fflush(f) || ferror(f) ? -1 : 0;
}
