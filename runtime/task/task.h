/*
 * task/task.h: the task process.  Started by its nanny (worker/spawn.c)
 * with KEEL_ROLE=task, it never touches MPI and includes nothing of the
 * master's or the nanny's: only the wire format, the channel it shares
 * with its nanny, and the clock.
 */
#ifndef KEEL_TASK_H
#define KEEL_TASK_H

#include "keel_int.h"

/* Serve tasks from the channel until EOF.  Never returns. */
void keel__taskproc_main(void) __attribute__((noreturn));

#endif /* KEEL_TASK_H */
