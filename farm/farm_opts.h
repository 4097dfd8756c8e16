/* farm_opts.h: the task farm's options, listed and parsed once (opts.c).
 * keelrun parses and checks them before mpirun starts, so that a usage
 * error is one line and exit status 2, and hands them to keel-farm as
 * they are; keel-farm parses the same words again to run. */
#ifndef KEEL_FARM_OPTS_H
#define KEEL_FARM_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

/* X(name, has_arg, keel-farm's getopt code) */
#define FARM_OPTIONS(X)                                                      \
  X("tasks", required_argument, 't')                                         \
  X("joblog", required_argument, 'j')                                        \
  X("resume", no_argument, 'r')                                              \
  X("retries", required_argument, 'R')                                       \
  X("timeout", required_argument, 'T')                                       \
  X("progress", no_argument, 'p')                                           \
  X("drain-grace", required_argument, 'g')                                   \
  X("shell", required_argument, 'S')                                         \
  X("resume-failed", no_argument, 'f')                                       \
  X("halt", required_argument, 'H')

#define FARM_DRAIN_GRACE 30.0 /* seconds, --drain-grace's default */
#define FARM_SHELL "/bin/sh"   /* --shell's default */
#define FARM_MAX_LINE 131071   /* Linux's limit on one argument
                                  (MAX_ARG_STRLEN) */

/* --halt WHEN,fail=N: after N failed lines, start no more; `now` also
 * kills those running, `soon` waits for them (GNU parallel's words). */
typedef enum farm_halt {
  FARM_HALT_NEVER,
  FARM_HALT_NOW,
  FARM_HALT_SOON,
} farm_halt;

typedef struct farm_opts {
  const char *tasks, *joblog, *shell;
  bool resume, resume_failed, progress;
  int retries;
  double timeout, drain_grace;
  farm_halt halt;
  int halt_fails; /* the N of --halt WHEN,fail=N */
} farm_opts;

/* Parse the farm's options from argv[1..argc) into *o (defaults first):
 * 0, or -1 after one line on stderr naming what is wrong. */
int farm_opts_parse(int argc, char **argv, farm_opts *o);
/* Check what the options name, before anything starts: the task file can
 * be read and each of its lines can be a command (standard input is not
 * looked at), the shell can be run.  0, or -1 after naming (up to ten)
 * faults on stderr. */
int farm_opts_check(const farm_opts *o);
/* Can line `no` of path, s[0..len) without its line end, be a command?
 * 0, or -1 after one line on stderr. */
int farm_line_check(const char *path, size_t no, const char *s, size_t len);

#endif
