/* arg.c: a task's argument as the master keeps it.  The master holds its
 * own copy until the task is done (KEEL_ON_CRASH_RETRY may send it again,
 * and a recalled task is sent elsewhere).  Each block has room before the
 * bytes for a message's prefix, so that a large argument goes out as
 * the TASKS message it lies in (master/dispatch.c), not copied into one:
 * one copy of a gigabyte argument on the master instead of two, and no
 * manager time spent copying it.  MPI may still be sending from the
 * block when the task is done, so the block counts its holders.  Small
 * arguments are plain allocations: they are batched, copied into one
 * message with others, and a block's 64 bytes would count per task. */
#include "api/api.h"

#include <stdatomic.h>
#include <stdlib.h>

typedef struct block {
  atomic_int refs;
  char room[KEEL__ARG_ROOM]; /* then the argument, 16-byte aligned */
} block;
_Static_assert(sizeof(block) == 64, "the argument stays aligned");

static block *block_of(const void *arg)
{
  return (block *)((char *)arg - sizeof(block));
}

bool keel__arg_in_place(size_t len)
{
  return len >= KEEL__ARG_IN_PLACE;
}

void *keel__arg_new(size_t len)
{
  if (!keel__arg_in_place(len))
    return malloc(len ? len : 1);
  block *b = malloc(sizeof *b + len);
  if (!b)
    return NULL;
  atomic_init(&b->refs, 1);
  return b + 1;
}

void keel__arg_ref(void *arg, size_t len)
{
  keel__assert(keel__arg_in_place(len));
  atomic_fetch_add_explicit(&block_of(arg)->refs, 1, memory_order_relaxed);
}

void keel__arg_drop(void *arg)
{
  block *b = block_of(arg);
  if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
    free(b);
}

void keel__arg_unref(void *arg, size_t len)
{
  if (!keel__arg_in_place(len))
    free(arg);
  else if (arg)
    keel__arg_drop(arg);
}
