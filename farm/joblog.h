/* joblog.h: the joblog of keelrun's task-farm mode, in GNU parallel's
 * format, and what --resume reads back from it. */
#ifndef KEEL_JOBLOG_H
#define KEEL_JOBLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* One finished line of the task file. */
typedef struct farm_row {
  size_t seq;       /* its line number in the task file, from 1 */
  const char *host;
  double start;     /* seconds since the epoch */
  double runtime;   /* seconds */
  size_t receive;   /* bytes of standard output */
  int exitval;      /* -1: it did not exit (signal, timeout, worker lost) */
  int signal;
  const char *command;
} farm_row;

/* What an existing joblog means to a new run. */
typedef enum farm_log_mode {
  FARM_LOG_AFRESH,        /* emptied: every line runs */
  FARM_LOG_RESUME,        /* a line it lists does not run again */
  FARM_LOG_RESUME_FAILED, /* only a line it lists as succeeded does not */
} farm_log_mode;

/* Open path for appending rows, writing the header if it is empty.  To
 * resume, mark in done[1..n] the lines it holds (as the mode says; cutting
 * a torn last row), after checking that each row's command is line[seq]
 * (NULL for a blank line).  NULL and a message on stderr naming the file
 * and row when it cannot be used. */
FILE *farm_joblog_open(const char *path, farm_log_mode mode, bool *done,
                       char *const *line, size_t n);
/* The same checks, reading only, before anything starts (keelrun): the
 * joblog is not held by another farm, and to resume, each row is a row
 * of these lines.  0 (also when there is no joblog yet), or -1 after a
 * message on stderr. */
int farm_joblog_check(const char *path, bool resume, char *const *line,
                      size_t n);
/* Append one row and flush it, so that a killed job loses no finished
 * line: 0, or -1 with errno when it could not be written. */
int farm_joblog_row(FILE *f, const farm_row *r);

#endif
