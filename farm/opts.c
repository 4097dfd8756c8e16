/* opts.c: the task farm's options, parsed and checked in one place for
 * keelrun (before mpirun starts) and keel-farm (which runs them). */
#include "farm_opts.h"
#include "joblog.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One line on stderr pointing at --help: -1. */
static int usage_error(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "keelrun: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see keelrun --help)\n");
  va_end(ap);
  return -1;
}

/* --halt never, or now,fail=N or soon,fail=N (N from 1): 0, or -1 after
 * naming what is wrong.  GNU parallel's percentages and success= are not
 * taken. */
static int take_halt(const char *arg, farm_opts *o)
{
  const char *p = arg;
  char *end;
  if (!strcmp(arg, "never")) {
    o->halt = FARM_HALT_NEVER;
    return 0;
  }
  if (!strncmp(p, "now,", 4))
    o->halt = FARM_HALT_NOW, p += 4;
  else if (!strncmp(p, "soon,", 5))
    o->halt = FARM_HALT_SOON, p += 5;
  else
    p = NULL;
  long k = p && !strncmp(p, "fail=", 5) ? strtol(p + 5, &end, 10) : 0;
  if (!p || strncmp(p, "fail=", 5) || !isdigit((unsigned char)p[5]) ||
      *end || k < 1 || k > 1000000000)
    return usage_error("--halt takes now,fail=N or soon,fail=N (N a count "
                       "of failed lines from 1), or never; not '%s'", arg);
  o->halt_fails = (int)k;
  return 0;
}

/* One option's value into *o: 0, or -1 after naming it. */
static int take(int c, const char *arg, char **argv, farm_opts *o)
{
  char *end;
  switch (c) {
  case 't': o->tasks = arg; return 0;
  case 'j': o->joblog = arg; return 0;
  case 'r': o->resume = true; return 0;
  case 'f': o->resume_failed = true; return 0;
  case 'p': o->progress = true; return 0;
  case 'S': o->shell = arg; return 0;
  case 'H': return take_halt(arg, o);
  case 'R': {
    long k = strtol(arg, &end, 10);
    if (!*arg || *end || k < 0 || k > 1000)
      return usage_error("--retries takes a count from 0 to 1000, not '%s'",
                         arg);
    o->retries = (int)k;
    return 0;
  }
  case 'T':
    o->timeout = strtod(arg, &end);
    if (!*arg || *end || !(o->timeout > 0) || o->timeout > 1e9)
      return usage_error("--timeout takes seconds above 0, not '%s'", arg);
    return 0;
  case 'g':
    o->drain_grace = strtod(arg, &end);
    if (!*arg || *end || !(o->drain_grace >= 0) || o->drain_grace > 1e9)
      return usage_error("--drain-grace takes seconds, 0 or more, not '%s'",
                         arg);
    return 0;
  case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
  default: return usage_error("unknown option '%s'", argv[optind - 1]);
  }
}

int farm_opts_parse(int argc, char **argv, farm_opts *o)
{
#define FARM_OPT(name, arg, code) {name, arg, 0, code},
  static const struct option opts[] = {FARM_OPTIONS(FARM_OPT){0, 0, 0, 0}};
#undef FARM_OPT
  int c;
  *o = (farm_opts){.drain_grace = FARM_DRAIN_GRACE, .shell = FARM_SHELL};
  optind = 0; /* glibc: a parse of its own, whatever ran before */
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1)
    if (take(c, optarg, argv, o))
      return -1;
  if (optind < argc)
    return usage_error("unexpected argument '%s'", argv[optind]);
  if (!o->tasks)
    return usage_error("--tasks FILE is required");
  if (o->resume && !o->joblog)
    return usage_error("--resume needs --joblog F");
  if (o->resume_failed && !o->joblog)
    return usage_error("--resume-failed needs --joblog F");
  return 0;
}

int farm_line_check(const char *path, size_t no, const char *s, size_t len)
{
  if (strlen(s) != len)
    return fprintf(stderr, "keelrun: %s line %zu: contains a NUL byte\n",
                   path, no), -1;
  if (len > FARM_MAX_LINE)
    return fprintf(stderr, "keelrun: %s line %zu: %zu bytes, over the %d a "
                   "command can have\n", path, no, len, FARM_MAX_LINE), -1;
  return 0;
}

/* A task file's lines as keel-farm numbers them: v[1..n], NULL for a
 * blank line; read false when the file was not read (not a regular
 * file: its bytes are keel-farm's). */
typedef struct lines {
  char **v;
  size_t n, cap;
  bool read;
} lines;

static void lines_free(lines *l)
{
  for (size_t i = 1; i <= l->n; i++)
    free(l->v[i]);
  free(l->v);
}

static int keep_line(lines *l, const char *s)
{
  if (l->n + 2 > l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 1024;
    char **v = realloc(l->v, cap * sizeof *v);
    if (!v)
      return -1;
    l->v = v;
    l->cap = cap;
  }
  char *copy = NULL;
  if (s[strspn(s, " \t")] && !(copy = strdup(s)))
    return -1;
  l->v[++l->n] = copy;
  return 0;
}

/* Each line of a regular file checked as keel-farm will check it, and
 * kept in *keep for the joblog's check. */
static int check_lines(const char *path, FILE *f, lines *keep)
{
  char *s = NULL;
  size_t cap = 0, no = 0;
  ssize_t len;
  int bad = 0;
  keep->read = true;
  while ((len = getline(&s, &cap, f)) >= 0 && bad < 10) {
    if (len > 0 && s[len - 1] == '\n')
      s[--len] = '\0';
    if (len > 0 && s[len - 1] == '\r')
      s[--len] = '\0';
    bad += farm_line_check(path, ++no, s, (size_t)len) != 0;
    if (!bad && keep_line(keep, s)) {
      fprintf(stderr, "keelrun: out of memory reading %s\n", path);
      bad++;
    }
  }
  free(s);
  return bad ? -1 : 0;
}

/* Can the task file be read?  Opening is not enough: a directory opens
 * too.  A regular file's lines are checked and kept; a pipe's bytes are
 * keel-farm's, not read here. */
static int check_tasks(const char *path, lines *keep)
{
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), err = errno;
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
    err = EISDIR;
  if (fd >= 0 && err != EISDIR) {
    FILE *f = S_ISREG(st.st_mode) ? fdopen(fd, "r") : NULL;
    int rc = f ? check_lines(path, f, keep) : 0;
    if (f)
      fclose(f);
    else
      close(fd);
    return rc;
  }
  if (fd >= 0)
    close(fd);
  fprintf(stderr, "keelrun: cannot read task file %s: %s\n", path,
          strerror(err));
  return -1;
}

/* The shell runs every line on the workers: a path (no PATH search, the
 * workers' PATH may differ) to a file this host can execute.  Workers on
 * other hosts are trusted to have it where this one does. */
static int check_shell(const char *path)
{
  struct stat st;
  if (path[0] != '/')
    return usage_error("--shell takes an absolute path, not '%s'", path);
  if (stat(path, &st))
    return usage_error("--shell %s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode) || access(path, X_OK))
    return usage_error("--shell %s: not an executable file", path);
  return 0;
}

int farm_opts_check(const farm_opts *o)
{
  lines l = {0};
  int rc = strcmp(o->tasks, "-") ? check_tasks(o->tasks, &l) : 0;
  /* the joblog: not another farm's; to resume, this task file's (what
   * only keel-farm sees, a task file on standard input, it checks) */
  if (!rc && o->joblog)
    rc = farm_joblog_check(o->joblog, l.read && (o->resume || o->resume_failed),
                           l.v, l.n);
  lines_free(&l);
  return rc ? -1 : check_shell(o->shell);
}
