/* test_env: keel's environment variables (common/env.c) with garbage in
 * them.  Each bad value is logged once, naming the variable, the value and
 * what is used instead; nothing is ignored in silence, and no value sizes
 * anything past its bound. */
#include "../testutil.h"
#include "keel_int.h"

#include <fcntl.h>

/* stderr of one call, captured through a file. */
static char captured[4096];

static void capture_begin(int *saved, FILE **tmp)
{
  fflush(stderr);
  *tmp = tmpfile();
  *saved = dup(2);
  dup2(fileno(*tmp), 2);
}

static void capture_end(int saved, FILE *tmp)
{
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(tmp);
  size_t n = fread(captured, 1, sizeof captured - 1, tmp);
  captured[n] = 0;
  fclose(tmp);
}

static int lines(const char *s)
{
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

static long env_long(const char *v)
{
  int saved;
  FILE *tmp;
  setenv("KEEL_TEST_N", v, 1);
  capture_begin(&saved, &tmp);
  long x = keel__env_long("KEEL_TEST_N", 7, 1, 32);
  capture_end(saved, tmp);
  return x;
}

static void test_whole_numbers(void)
{
  WATCHDOG(10);
  unsetenv("KEEL_TEST_N");
  CU_ASSERT_EQUAL(keel__env_long("KEEL_TEST_N", 7, 1, 32), 7);
  CU_ASSERT_EQUAL(env_long(""), 7); /* empty is unset */
  CU_ASSERT_EQUAL(captured[0], 0);
  CU_ASSERT_EQUAL(env_long("12"), 12);
  CU_ASSERT_EQUAL(captured[0], 0);
  static const struct {
    const char *v;
    long used;
    const char *says;
  } bad[] = {
      {"abc", 7, "KEEL_TEST_N=abc is not a whole number from 1 to 32; using 7"},
      {"2.5", 7, "KEEL_TEST_N=2.5 is not a whole number from 1 to 32; using 7"},
      {"12x", 7, "KEEL_TEST_N=12x is not a whole number"},
      {"0", 1, "KEEL_TEST_N=0 is out of range (1 to 32); using 1"},
      {"-3", 1, "KEEL_TEST_N=-3 is out of range (1 to 32); using 1"},
      {"99999999999", 32, "KEEL_TEST_N=99999999999 is out of range (1 to 32); using 32"},
      {"99999999999999999999999", 7, "is not a whole number"}, /* overflow */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CU_ASSERT_EQUAL(env_long(bad[i].v), bad[i].used);
    CU_ASSERT_PTR_NOT_NULL(strstr(captured, bad[i].says));
    CU_ASSERT_EQUAL(lines(captured), 1);
  }
  unsetenv("KEEL_TEST_N");
}

static void test_seconds(void)
{
  WATCHDOG(10);
  int saved;
  FILE *tmp;
  static const struct {
    const char *v;
    double used;
    const char *says;
  } cases[] = {
      {"4.5", 4.5, ""},
      {"0.5", 2, "KEEL_TEST_S=0.5 is out of range (2 to 86400 s); using 2"},
      {"1e9", 86400, "is out of range (2 to 86400 s); using 86400"},
      {"soon", 10, "KEEL_TEST_S=soon is not a number of seconds from 2 to 86400; using 10"},
      {"nan", 10, "is not a number of seconds"},
      {"inf", 10, "is not a number of seconds"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    setenv("KEEL_TEST_S", cases[i].v, 1);
    capture_begin(&saved, &tmp);
    double x = keel__env_seconds("KEEL_TEST_S", 10, 2, 86400);
    capture_end(saved, tmp);
    CU_ASSERT_DOUBLE_EQUAL(x, cases[i].used, 1e-9);
    CU_ASSERT_PTR_NOT_NULL(strstr(captured, cases[i].says));
    CU_ASSERT_EQUAL(lines(captured), *cases[i].says ? 1 : 0);
  }
  unsetenv("KEEL_TEST_S");
}

static void test_switches_and_words(void)
{
  WATCHDOG(10);
  int saved;
  FILE *tmp;
  static const char *const on[] = {"1", "yes", "TRUE", "On"};
  static const char *const off[] = {"0", "no", "false", "OFF", ""};
  for (size_t i = 0; i < 4; i++) {
    setenv("KEEL_TEST_B", on[i], 1);
    CU_ASSERT_TRUE(keel__env_switch("KEEL_TEST_B"));
  }
  for (size_t i = 0; i < 5; i++) {
    setenv("KEEL_TEST_B", off[i], 1);
    CU_ASSERT_FALSE(keel__env_switch("KEEL_TEST_B"));
  }
  setenv("KEEL_TEST_B", "maybe", 1);
  capture_begin(&saved, &tmp);
  CU_ASSERT_FALSE(keel__env_switch("KEEL_TEST_B"));
  capture_end(saved, tmp);
  CU_ASSERT_PTR_NOT_NULL(strstr(captured, "KEEL_TEST_B=maybe is not 1 or 0"));
  CU_ASSERT_PTR_NOT_NULL(strstr(captured, "; using 0"));
  static const char *const modes[] = {"core", "none"};
  setenv("KEEL_TEST_W", "none", 1);
  CU_ASSERT_EQUAL(keel__env_choice("KEEL_TEST_W", modes, 2, 0), 1);
  setenv("KEEL_TEST_W", "cores", 1);
  capture_begin(&saved, &tmp);
  CU_ASSERT_EQUAL(keel__env_choice("KEEL_TEST_W", modes, 2, 0), 0);
  capture_end(saved, tmp);
  CU_ASSERT_PTR_NOT_NULL(
      strstr(captured, "KEEL_TEST_W=cores is not one of core, none; using core"));
}

/* Worker ranks and task processes read quietly: one line per job. */
static void test_quiet_off_the_master(void)
{
  WATCHDOG(10);
  int saved;
  FILE *tmp;
  keel__self.role = KEEL__ROLE_NANNY;
  setenv("KEEL_TEST_N", "abc", 1);
  capture_begin(&saved, &tmp);
  CU_ASSERT_EQUAL(keel__env_long("KEEL_TEST_N", 7, 1, 32), 7);
  capture_end(saved, tmp);
  CU_ASSERT_EQUAL(captured[0], 0);
  keel__self.role = KEEL__ROLE_NONE;
  unsetenv("KEEL_TEST_N");
}

int main(void)
{
  static const tu_test tests[] = {TU_TEST(test_whole_numbers),
                                  TU_TEST(test_seconds),
                                  TU_TEST(test_switches_and_words),
                                  TU_TEST(test_quiet_off_the_master)};
  return tu_run("env", tests, sizeof tests / sizeof *tests);
}
