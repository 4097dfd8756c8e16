/* fake.h: what the unit tests of the API's and the master's logic share:
 * an executor made by hand, open, with no manager behind it. */
#ifndef KEEL_TESTS_FAKE_H
#define KEEL_TESTS_FAKE_H

#include "api/api.h"

#include <stdlib.h>

static inline keel_executor *fake_executor(void)
{
  keel_executor *ex = calloc(1, sizeof *ex);
  if (!ex)
    abort();
  keel_options_init(&ex->opt);
  keel__queue_init(&ex->submitted);
  keel__queue_init(&ex->hub_node);
  atomic_init(&ex->state, KEEL__X_OPEN);
  return ex;
}

#endif
