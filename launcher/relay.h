/* relay.h: keelrun's child mpirun and the master's exit status (relay.c). */
#ifndef KEELRUN_RELAY_H
#define KEELRUN_RELAY_H

#include <stdbool.h>
#include <stddef.h>

/* A fresh token for KEEL_STATUS_TOKEN. */
void keelrun_token(char *buf, size_t n);
/* Run argv (mpirun ...), relaying its stderr without the status line, and
 * return the job's exit status: the master's as it reported it (then
 * *reported is true), else mpirun's when non-zero, else 1 (the master
 * never said); 127 when argv cannot be run, -1 when the relay cannot be
 * set up. */
int keelrun_run(const char *const *argv, const char *token, bool *reported);

#endif
