/* test_error: error names, strings and keel_error records (error.c),
 * without MPI. */
#include "../testutil.h"
#include "keel_int.h"

#include <fcntl.h>
#include <limits.h>

typedef struct code_row {
  int code;
  const char *name; /* "KEEL_" #name */
  const char *str;
} code_row;

/* Only # and ## touch the name, so EINVAL etc. are not macro-expanded. */
#define ROW(name, val, str) {KEEL_##name, "KEEL_" #name, str},
static const code_row rows[] = {KEEL_ERRNO_MAP(ROW)};
#undef ROW
#define NROWS (sizeof rows / sizeof *rows)

static void test_every_code_named(void)
{
  WATCHDOG(10);
  for (size_t i = 0; i < NROWS; i++) {
    const char *s = keel_strerror(rows[i].code);
    const char *n = keel_err_name(rows[i].code);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_TRUE(s[0] != 0);
    CU_ASSERT_TRUE(n[0] != 0);
    CU_ASSERT_STRING_EQUAL(s, rows[i].str);
    CU_ASSERT_STRING_EQUAL(n, rows[i].name);
    CU_ASSERT_TRUE(rows[i].code < 0);
    CU_ASSERT_STRING_NOT_EQUAL(s, keel_strerror(12345));
    CU_ASSERT_STRING_NOT_EQUAL(n, keel_err_name(12345));
  }
  CU_ASSERT_STRING_EQUAL(keel_err_name(KEEL_EINVAL), "KEEL_EINVAL");
  CU_ASSERT_STRING_EQUAL(keel_err_name(KEEL_EOF), "KEEL_EOF");
  CU_ASSERT_STRING_EQUAL(keel_err_name(KEEL_ESTATE), "KEEL_ESTATE");
  CU_ASSERT_STRING_EQUAL(keel_strerror(KEEL_ETIMEDOUT), "timed out");
  CU_ASSERT_STRING_EQUAL(keel_err_name(KEEL_OK), "KEEL_OK");
  CU_ASSERT_PTR_NOT_NULL_FATAL(keel_strerror(KEEL_OK));
  CU_ASSERT_TRUE(keel_strerror(KEEL_OK)[0] != 0);
  CU_ASSERT_STRING_NOT_EQUAL(keel_strerror(KEEL_OK), keel_strerror(12345));
}

static void test_codes_distinct(void)
{
  WATCHDOG(10);
  int dup_code = 0, dup_str = 0, dup_name = 0;
  for (size_t i = 0; i < NROWS; i++) {
    dup_code += rows[i].code == KEEL_OK;
    dup_str += !strcmp(keel_strerror(rows[i].code), keel_strerror(KEEL_OK));
    dup_name += !strcmp(keel_err_name(rows[i].code), keel_err_name(KEEL_OK));
    for (size_t j = i + 1; j < NROWS; j++) {
      dup_code += rows[i].code == rows[j].code;
      dup_str += !strcmp(keel_strerror(rows[i].code),
                         keel_strerror(rows[j].code));
      dup_name += !strcmp(keel_err_name(rows[i].code),
                          keel_err_name(rows[j].code));
    }
  }
  CU_ASSERT_EQUAL(dup_code, 0);
  CU_ASSERT_EQUAL(dup_str, 0);
  CU_ASSERT_EQUAL(dup_name, 0);
}

static void test_code_values(void)
{
  WATCHDOG(10);
  CU_ASSERT_EQUAL(KEEL_OK, 0);
  CU_ASSERT_EQUAL(KEEL_EINVAL, -EINVAL);
  CU_ASSERT_EQUAL(KEEL_ENOMEM, -ENOMEM);
  CU_ASSERT_EQUAL(KEEL_ETIMEDOUT, -ETIMEDOUT);
  CU_ASSERT_EQUAL(KEEL_ECANCELED, -ECANCELED);
  CU_ASSERT_EQUAL(KEEL_EDEADLK, -EDEADLK);
  CU_ASSERT_EQUAL(KEEL_EAGAIN, -EAGAIN);
  /* keel's own codes: -4001 .. -4011, in map order, clear of errno */
  static const int own[] = {KEEL_ETASK,     KEEL_EWORKER,  KEEL_EBROKEN,
                            KEEL_EDEADLINE, KEEL_ESHUTDOWN, KEEL_ENOTASK,
                            KEEL_EMPI,      KEEL_EOF,      KEEL_EPROTO,
                            KEEL_ESYS,      KEEL_ESTATE};
  for (size_t i = 0; i < sizeof own / sizeof *own; i++)
    CU_ASSERT_EQUAL(own[i], -4001 - (int)i);
  /* the map has them in that order too */
  CU_ASSERT_EQUAL(rows[6].code, KEEL_ETASK);
  CU_ASSERT_EQUAL(rows[NROWS - 1].code, KEEL_ESTATE);
  /* EOF in the map is keel's, not stdio's */
  CU_ASSERT_NOT_EQUAL(KEEL_EOF, EOF);
}

static void test_unknown_code(void)
{
  WATCHDOG(10);
  static const int unknown[] = {1,     -1,    -4000,   -4012, -5000,
                                -EPERM, 4001, INT_MIN, INT_MAX};
  const char *us = keel_strerror(-4000), *un = keel_err_name(-4000);
  CU_ASSERT_PTR_NOT_NULL_FATAL(us);
  CU_ASSERT_PTR_NOT_NULL_FATAL(un);
  CU_ASSERT_TRUE(us[0] != 0);
  CU_ASSERT_TRUE(un[0] != 0);
  for (size_t k = 0; k < sizeof unknown / sizeof *unknown; k++) {
    const char *s = keel_strerror(unknown[k]);
    const char *n = keel_err_name(unknown[k]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_STRING_EQUAL(s, us);
    CU_ASSERT_STRING_EQUAL(n, un);
    int clash = 0;
    for (size_t i = 0; i < NROWS; i++)
      clash += !strcmp(s, rows[i].str) || !strcmp(n, rows[i].name);
    clash += !strcmp(s, keel_strerror(KEEL_OK));
    clash += !strcmp(n, "KEEL_OK");
    CU_ASSERT_EQUAL(clash, 0);
  }
}

static keel_error fresh(void)
{
  keel_error e;
  memset(&e, 0x5a, sizeof e); /* garbage first: clear must set all */
  e.message = e.host = e.backtrace = NULL;
  keel__error_clear(&e);
  return e;
}

static void test_error_clear(void)
{
  WATCHDOG(10);
  keel_error e = fresh();
  CU_ASSERT_EQUAL(e.code, 0);
  CU_ASSERT_PTR_NULL(e.message);
  CU_ASSERT_EQUAL(e.rank, -1);
  CU_ASSERT_PTR_NULL(e.host);
  CU_ASSERT_EQUAL(e.signal, 0);
  CU_ASSERT_EQUAL(e.exit_status, -1);
  CU_ASSERT_EQUAL(e.task_id, 0);
  CU_ASSERT_PTR_NULL(e.backtrace);
  /* clearing twice is harmless */
  keel__error_clear(&e);
  CU_ASSERT_EQUAL(e.rank, -1);
  CU_ASSERT_PTR_NULL(e.message);
}

static void test_error_set(void)
{
  WATCHDOG(10);
  keel_error e = fresh();
  char msg[] = "it broke", host[] = "node17", bt[] = "#0 f()\n#1 main()\n";
  CU_ASSERT_EQUAL(keel__error_set(&e, KEEL_EWORKER, msg, 3, host, 11, -1,
                                  42ull, bt),
                  KEEL_OK);
  CU_ASSERT_EQUAL(e.code, KEEL_EWORKER);
  CU_ASSERT_EQUAL(e.rank, 3);
  CU_ASSERT_EQUAL(e.signal, 11);
  CU_ASSERT_EQUAL(e.exit_status, -1);
  CU_ASSERT_EQUAL(e.task_id, 42ull);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e.message);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e.host);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e.backtrace);
  /* copies, not the caller's memory */
  CU_ASSERT_PTR_NOT_EQUAL(e.message, msg);
  CU_ASSERT_PTR_NOT_EQUAL(e.host, host);
  CU_ASSERT_PTR_NOT_EQUAL(e.backtrace, bt);
  memset(msg, 'x', sizeof msg - 1);
  memset(host, 'y', sizeof host - 1);
  memset(bt, 'z', sizeof bt - 1);
  CU_ASSERT_STRING_EQUAL(e.message, "it broke");
  CU_ASSERT_STRING_EQUAL(e.host, "node17");
  CU_ASSERT_STRING_EQUAL(e.backtrace, "#0 f()\n#1 main()\n");

  /* setting again replaces every field (and frees the old strings) */
  CU_ASSERT_EQUAL(keel__error_set(&e, KEEL_ETASK, "second", -1, NULL, 0, 2,
                                  0, NULL),
                  KEEL_OK);
  CU_ASSERT_EQUAL(e.code, KEEL_ETASK);
  CU_ASSERT_STRING_EQUAL(e.message, "second");
  CU_ASSERT_PTR_NULL(e.host);
  CU_ASSERT_PTR_NULL(e.backtrace);
  CU_ASSERT_EQUAL(e.rank, -1);
  CU_ASSERT_EQUAL(e.signal, 0);
  CU_ASSERT_EQUAL(e.exit_status, 2);
  CU_ASSERT_EQUAL(e.task_id, 0);

  /* no message: the code's string; an empty backtrace counts as none */
  CU_ASSERT_EQUAL(keel__error_set(&e, KEEL_EDEADLINE, NULL, 1, "h", 9, -1, 7,
                                  ""),
                  KEEL_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e.message);
  CU_ASSERT_STRING_EQUAL(e.message, keel_strerror(KEEL_EDEADLINE));
  CU_ASSERT_PTR_NULL(e.backtrace);
  CU_ASSERT_STRING_EQUAL(e.host, "h");

  keel__error_clear(&e);
  CU_ASSERT_PTR_NULL(e.message);
  CU_ASSERT_PTR_NULL(e.host);
  CU_ASSERT_EQUAL(e.code, 0);
  CU_ASSERT_EQUAL(e.rank, -1);
}

static void test_error_set_from_itself(void)
{
  WATCHDOG(10);
  /* e's own strings as the new values: copied before the old are freed */
  keel_error e = fresh();
  CU_ASSERT_EQUAL(keel__error_set(&e, KEEL_EWORKER, "self", 2, "hostA", 6,
                                  134, 9, "trace"),
                  KEEL_OK);
  CU_ASSERT_EQUAL(keel__error_set(&e, KEEL_EBROKEN, e.message, e.rank, e.host,
                                  e.signal, e.exit_status, e.task_id,
                                  e.backtrace),
                  KEEL_OK);
  CU_ASSERT_EQUAL(e.code, KEEL_EBROKEN);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e.message);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e.host);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e.backtrace);
  CU_ASSERT_STRING_EQUAL(e.message, "self");
  CU_ASSERT_STRING_EQUAL(e.host, "hostA");
  CU_ASSERT_STRING_EQUAL(e.backtrace, "trace");
  CU_ASSERT_EQUAL(e.exit_status, 134);
  keel__error_clear(&e);
}

static void test_strdup_printf(void)
{
  WATCHDOG(10);
  char *s = keel__error_printf("a%db%s", 5, "c");
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_STRING_EQUAL(s, "a5bc");
  free(s);
  char big[5000];
  memset(big, 'w', sizeof big - 1);
  big[sizeof big - 1] = 0;
  s = keel__error_printf("[%s]", big);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_EQUAL(strlen(s), 5001);
  CU_ASSERT_EQUAL(s[5000], ']');
  free(s);
}

/* Run keel__log with stderr captured; returns what it wrote. */
static size_t capture_log(char *out, size_t n, const char *msg)
{
  int p[2];
  if (pipe(p))
    return 0;
  fflush(stderr);
  int saved = dup(2);
  dup2(p[1], 2);
  close(p[1]);
  keel__log("%s", msg);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  size_t got = 0;
  ssize_t r;
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  while (got < n - 1 && (r = read(p[0], out + got, n - 1 - got)) > 0)
    got += (size_t)r;
  out[got] = 0;
  close(p[0]);
  return got;
}

static void test_log(void)
{
  WATCHDOG(10);
  char out[8192];
  size_t n = capture_log(out, sizeof out, "hello 123");
  CU_ASSERT_TRUE_FATAL(n > 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "hello 123"));
  /* 2026-12-02T08:01:02.345Z keel[ ... ] warn: hello 123 */
  CU_ASSERT_TRUE(n > 25 && out[4] == '-' && out[10] == 'T' &&
                 out[19] == '.' && out[23] == 'Z');
  CU_ASSERT_EQUAL(strncmp(out + 24, " keel[", 6), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "] warn: hello 123\n"));
  CU_ASSERT_EQUAL(out[n - 1], '\n');
  /* one line, in one write, the whole message however long (a crash
   * report's backtrace) */
  char big[4000];
  memset(big, 'L', sizeof big - 1);
  big[sizeof big - 1] = 0;
  n = capture_log(out, sizeof out, big);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, big));
  CU_ASSERT_EQUAL(out[n - 1], '\n');
  CU_ASSERT_PTR_NULL(memchr(out, '\n', n - 1));
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_every_code_named),
      TU_TEST(test_codes_distinct),
      TU_TEST(test_code_values),
      TU_TEST(test_unknown_code),
      TU_TEST(test_error_clear),
      TU_TEST(test_error_set),
      TU_TEST(test_error_set_from_itself),
      TU_TEST(test_strdup_printf),
      TU_TEST(test_log),
  };
  return tu_run("error", tests, sizeof tests / sizeof *tests);
}
