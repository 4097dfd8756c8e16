/* test_map: keel_map_* without MPI (api/map.c).  The map's chunks are
 * taken off the executor's queue here and finished by hand with the
 * records a task process would pack, so that what is checked is the map's
 * own logic: items cut into chunks of the asked size (or a size picked
 * from the workers), every item of a chunk carried, results given back in
 * item order whatever order chunks finish in, an item's own failure
 * reported for that item alone, a failed chunk reported for each of its
 * items, and the rest of the map going on after either. */
#include "../testutil.h"
#include "fake.h"
#include "api/api.h"
#include "proto/wire.h"

static int square(const void *arg, size_t len, keel_buf *out)
{
  return 0; /* never run here: its registered id is what travels */
}
KEEL_REGISTER(square);

static keel_executor *executor(int workers)
{
  keel_executor *ex = fake_executor();
  atomic_init(&ex->nworkers, workers);
  return ex;
}

/* The chunks submitted, in order, off the executor's queue; the caller
 * holds the executor's reference of each (keel_future_release them). */
static int take_chunks(keel_executor *ex, keel_future **out, int max)
{
  int n = 0;
  keel__queue *q;
  keel__hub_lock();
  while (n < max && (q = keel__queue_pop(&ex->submitted)))
    out[n++] = keel__queue_data(q, keel_future, node);
  keel__hub_unlock();
  return n;
}

/* Finish chunk c as its task process would: each item's square, except
 * items equal to `bad`, which fail with KEEL_ETASK and a message. */
static void finish_chunk(keel_future *c, int bad)
{
  keel_buf b = {0};
  const int *items = c->arg;
  for (size_t i = 0; i < c->arg_len / sizeof(int); i++) {
    int v = items[i] * items[i];
    if (items[i] == bad)
      keel__wire_put_item(&b, KEEL_ETASK, "unlucky", 7);
    else
      keel__wire_put_item(&b, 0, &v, sizeof v);
  }
  size_t len;
  char *data = keel__buf_steal(&b, &len);
  keel__future_lock();
  CU_ASSERT_TRUE(keel__future_finish_locked(c, 0, data, len, NULL));
  keel__future_unlock();
  keel__future_broadcast();
}

static void fail_chunk(keel_future *c)
{
  keel_error e = {KEEL_EWORKER, "the task process was killed by signal 9",
                  1, "h1", 9, -1, c->task_id, NULL, 777};
  keel__future_lock();
  CU_ASSERT_TRUE(keel__future_finish_locked(c, KEEL_EWORKER, NULL, 0, &e));
  keel__future_unlock();
  keel__future_broadcast();
}

static void test_chunks_in_order_with_failures(void)
{
  WATCHDOG(10);
  keel_executor *ex = executor(2);
  int items[10];
  for (int i = 0; i < 10; i++)
    items[i] = i + 1;
  keel_map *m;
  CU_ASSERT_EQUAL_FATAL(keel_map_start(ex, square, items, sizeof *items, 10,
                                       3, &m), KEEL_OK);
  keel_future *c[8];
  int n = take_chunks(ex, c, 8);
  CU_ASSERT_EQUAL_FATAL(n, 4); /* 3 + 3 + 3 + 1 */
  for (int i = 0; i < n; i++) {
    CU_ASSERT_EQUAL(c[i]->item_size, sizeof(int));
    CU_ASSERT_EQUAL(c[i]->arg_len, (i < 3 ? 3 : 1) * sizeof(int));
    CU_ASSERT_EQUAL(((const int *)c[i]->arg)[0], 3 * i + 1);
  }
  /* finished out of order: the last first; chunk 1 lost with its rank */
  finish_chunk(c[3], -1);
  finish_chunk(c[2], 8);
  fail_chunk(c[1]);
  finish_chunk(c[0], -1);
  for (int i = 1; i <= 10; i++) {
    const void *d = NULL;
    size_t len = 0;
    int rc = keel_map_next(m, 1, &d, &len);
    if (i >= 4 && i <= 6) { /* chunk 1: each of its items says why */
      CU_ASSERT_EQUAL(rc, KEEL_EWORKER);
      CU_ASSERT_PTR_NOT_NULL(keel_map_error(m));
      if (keel_map_error(m)) {
        CU_ASSERT_EQUAL(keel_map_error(m)->signal, 9);
        CU_ASSERT_EQUAL(keel_map_error(m)->pid, 777);
      }
    } else if (i == 8) { /* its own failure, its own message */
      CU_ASSERT_EQUAL(rc, KEEL_ETASK);
      CU_ASSERT_STRING_EQUAL(keel_map_error(m)->message, "unlucky");
    } else {
      CU_ASSERT_EQUAL(rc, KEEL_OK);
      CU_ASSERT_EQUAL(len, sizeof(int));
      if (d && len == sizeof(int))
        CU_ASSERT_EQUAL(*(const int *)d, i * i);
    }
  }
  CU_ASSERT_EQUAL(keel_map_next(m, 1, NULL, NULL), KEEL_EOF);
  keel_map_free(m);
  for (int i = 0; i < n; i++)
    keel_future_release(c[i]);
  free(ex);
}

/* Chunk size 0: picked from the workers, 8 chunks per worker at most. */
static void test_auto_chunk_size(void)
{
  WATCHDOG(10);
  keel_executor *ex = executor(4);
  int items[1000] = {0};
  keel_map *m;
  CU_ASSERT_EQUAL_FATAL(keel_map_start(ex, square, items, sizeof *items,
                                       1000, 0, &m), KEEL_OK);
  keel_future *c[64];
  int n = take_chunks(ex, c, 64);
  CU_ASSERT_EQUAL(n, 33); /* 1000 / (4 * 8) = 31 items a chunk: 32 + 1 */
  CU_ASSERT_EQUAL(c[0]->arg_len, 31 * sizeof(int));
  size_t total = 0;
  for (int i = 0; i < n; i++)
    total += c[i]->arg_len;
  CU_ASSERT_EQUAL(total, sizeof items); /* every item, once */
  keel_map_free(m); /* cancels the chunks */
  for (int i = 0; i < n; i++) {
    CU_ASSERT_TRUE(keel_future_cancelled(c[i]));
    keel_future_release(c[i]);
  }
  free(ex);
}

static void test_bad_arguments(void)
{
  WATCHDOG(10);
  keel_executor *ex = executor(1);
  int items[4] = {0};
  keel_map *m = NULL;
  CU_ASSERT_EQUAL(keel_map_start(NULL, square, items, 4, 4, 0, &m),
                  KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_map_start(ex, square, NULL, 4, 4, 0, &m), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_map_start(ex, square, items, 0, 4, 0, &m), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_map_start(ex, square, items, 4, SIZE_MAX, 0, &m),
                  KEEL_EINVAL); /* item_size * n overflows */
  CU_ASSERT_EQUAL(keel_map_start(ex, square, items, 4, 4, KEEL_ARG_MAX, &m),
                  KEEL_EINVAL); /* a chunk over the argument limit */
  CU_ASSERT_PTR_NULL(m);
  CU_ASSERT_EQUAL(keel_map_start(ex, square, items, 4, 0, 0, &m), KEEL_OK);
  CU_ASSERT_EQUAL(keel_map_next(m, 0, NULL, NULL), KEEL_EOF); /* empty */
  keel_map_free(m);
  CU_ASSERT_EQUAL(keel_map_next(NULL, 0, NULL, NULL), KEEL_EINVAL);
  free(ex);
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_chunks_in_order_with_failures),
      TU_TEST(test_auto_chunk_size),
      TU_TEST(test_bad_arguments),
  };
  return tu_run("map", tests, sizeof tests / sizeof *tests);
}
