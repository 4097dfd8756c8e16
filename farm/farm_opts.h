/* farm_opts.h: the task farm's options, listed once.  keelrun accepts them
 * and hands them to keel-farm as they are; keel-farm parses them. */
#ifndef KEEL_FARM_OPTS_H
#define KEEL_FARM_OPTS_H

#include <getopt.h>

/* X(name, has_arg, keel-farm's getopt code) */
#define FARM_OPTIONS(X)                                                      \
  X("tasks", required_argument, 't')                                         \
  X("joblog", required_argument, 'j')                                        \
  X("resume", no_argument, 'r')                                              \
  X("retries", required_argument, 'R')                                       \
  X("timeout", required_argument, 'T')                                       \
  X("progress", no_argument, 'p')                                           \
  X("drain-grace", required_argument, 'g')

#endif
