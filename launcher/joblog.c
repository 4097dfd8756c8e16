/* joblog.c: GNU parallel's joblog (Seq, Host, Starttime, JobRuntime, Send,
 * Receive, Exitval, Signal, Command; tab-separated, one row per finished
 * line), so that existing tools read it and a killed batch job can
 * --resume without running a finished line twice. */
#include "joblog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

/* Mark the Seq of every row in done[]; -1 after naming a bad row. */
static int read_rows(FILE *f, const char *path, bool *done, size_t nlines)
{
  char *line = NULL;
  size_t cap = 0, no = 0;
  int rc = 0;
  rewind(f);
  while (getline(&line, &cap, f) > 0) {
    char *end;
    unsigned long long seq;
    if (++no == 1 && !strncmp(line, "Seq\t", 4))
      continue; /* the header */
    errno = 0;
    seq = strtoull(line, &end, 10);
    if (errno || end == line || *end != '\t' || seq == 0 || seq > nlines) {
      fprintf(stderr, "keelrun: joblog %s line %zu: not a row of this task "
              "file (Seq must be a line number from 1 to %zu)\n", path, no,
              nlines);
      rc = -1;
      break;
    }
    done[seq] = true;
  }
  free(line);
  return rc;
}

FILE *farm_joblog_open(const char *path, bool resume, bool *done,
                       size_t nlines)
{
  FILE *f = fopen(path, resume ? "a+" : "w+");
  if (!f) {
    fprintf(stderr, "keelrun: cannot open joblog %s: %s\n", path,
            strerror(errno));
    return NULL;
  }
  if (resume && (cut_torn_row(f) || read_rows(f, path, done, nlines))) {
    fclose(f);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  if (ftell(f) == 0)
    fputs(header, f);
  fflush(f);
  return f;
}

void farm_joblog_row(FILE *f, const farm_row *r)
{
  fprintf(f, "%zu\t%s\t%.3f\t%.3f\t0\t%zu\t%d\t%d\t%s\n", r->seq, r->host,
          r->start, r->runtime, r->receive, r->exitval, r->signal,
          r->command);
  fflush(f);
}
