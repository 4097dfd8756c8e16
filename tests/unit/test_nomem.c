/* test_nomem: KEEL_ENOMEM, where keel(3) documents it, with an allocation
 * hook: the runtime's objects are linked with malloc, calloc and realloc
 * (and strdup) wrapped (-Wl,--wrap), and the wrappers fail while
 * `failing` is set.
 * Each call must say KEEL_ENOMEM (or NULL), leave what it was given as it
 * was, and work again once memory is back. */
#include "../testutil.h"
#include "api/api.h"

#include <stdatomic.h>

static atomic_bool failing;

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n)
{
  return atomic_load(&failing) ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
  return atomic_load(&failing) ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
  return atomic_load(&failing) ? NULL : __real_realloc(p, n);
}

char *__real_strdup(const char *s);
char *__wrap_strdup(const char *s)
{
  return atomic_load(&failing) ? NULL : __real_strdup(s);
}

static void noop(keel_future *f, void *arg)
{
  (void)f;
  (*(int *)arg)++;
}

static void test_buffers(void)
{
  WATCHDOG(10);
  keel_buf b = {0};
  CU_ASSERT_EQUAL(keel_buf_append(&b, "abc", 3), KEEL_OK);
  atomic_store(&failing, true);
  static char big[1 << 20];
  CU_ASSERT_EQUAL(keel_buf_append(&b, big, sizeof big), KEEL_ENOMEM);
  CU_ASSERT_EQUAL(keel_buf_len(&b), 3); /* unchanged */
  char words[4096];
  memset(words, 'w', sizeof words - 1);
  words[sizeof words - 1] = 0;
  CU_ASSERT_EQUAL(keel_buf_printf(&b, "%s", words), KEEL_ENOMEM);
  CU_ASSERT_EQUAL(keel_buf_len(&b), 3);
  atomic_store(&failing, false);
  CU_ASSERT_EQUAL(keel_buf_append(&b, big, sizeof big), KEEL_OK);
  CU_ASSERT(memcmp(keel_buf_data(&b), "abc", 3) == 0);
  keel__buf_free(&b);
}

static void test_futures(void)
{
  WATCHDOG(10);
  keel_future *f = keel__future_new(), *g;
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  int calls = 0;
  keel_completion *it = NULL;
  atomic_store(&failing, true);
  CU_ASSERT_PTR_NULL(keel__future_new());
  CU_ASSERT_EQUAL(keel_future_on_done(f, noop, &calls), KEEL_ENOMEM);
  CU_ASSERT_EQUAL(keel_as_completed(&f, 1, &it), KEEL_ENOMEM);
  CU_ASSERT_PTR_NULL(it);
  atomic_store(&failing, false);
  /* nothing half-registered: one callback, run once */
  CU_ASSERT_EQUAL(keel_future_on_done(f, noop, &calls), KEEL_OK);
  keel__future_lock();
  keel__future_finish_locked(f, KEEL_ECANCELED, NULL, 0, NULL);
  keel__future_unlock();
  keel__future_run_cbs(f);
  CU_ASSERT_EQUAL(calls, 1);
  CU_ASSERT_EQUAL(keel_as_completed(&f, 1, &it), KEEL_OK);
  CU_ASSERT_EQUAL(keel_completion_next(it, 0, &g), KEEL_OK);
  CU_ASSERT_PTR_EQUAL(g, f);
  keel_completion_free(it);
  keel_future_release(f);
}

static void test_error_records(void)
{
  WATCHDOG(10);
  keel_error e;
  memset(&e, 0, sizeof e);
  atomic_store(&failing, true);
  int rc = keel__error_set(&e, KEEL_EWORKER, "a message", 1, "host", 11, -1,
                           7, "#0 f");
  atomic_store(&failing, false);
  CU_ASSERT_EQUAL(rc, KEEL_ENOMEM);
  keel__error_clear(&e);
}

int main(void)
{
  static const tu_test tests[] = {TU_TEST(test_buffers),
                                  TU_TEST(test_futures),
                                  TU_TEST(test_error_records)};
  return tu_run("nomem", tests, sizeof tests / sizeof *tests);
}
