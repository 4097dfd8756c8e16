/* test_registry: task functions by name and their wire ids (registry.c),
 * without MPI.  The registry is process-wide, so every test uses its own
 * names. */
#include "../testutil.h"
#include "keel_int.h"

#include <stdint.h>

static int fn_a(const void *a, size_t l, keel_buf *o) { return 0; }
static int fn_b(const void *a, size_t l, keel_buf *o) { return 1; }
static int fn_c(const void *a, size_t l, keel_buf *o) { return 2; }
static int fn_never(const void *a, size_t l, keel_buf *o) { return 3; }
static int fn_many(const void *a, size_t l, keel_buf *o) { return 4; }
static int fn_zero(const void *a, size_t l, keel_buf *o) { return 5; }
static int file_scope_fn(const void *a, size_t l, keel_buf *o) { return 6; }

KEEL_REGISTER(file_scope_fn);

/* FNV-1a 64 written from the published parameters, independently of
 * registry.c: offset basis 0xcbf29ce484222325, prime 0x100000001b3. */
static uint64_t ref_fnv1a64(const unsigned char *s, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static uint64_t ref_str(const char *s)
{
  return ref_fnv1a64((const unsigned char *)s, strlen(s));
}

static void test_hash_known_values(void)
{
  WATCHDOG(10);
  /* published FNV-1a 64 test vectors */
  CU_ASSERT_EQUAL(ref_str(""), 0xcbf29ce484222325ull);
  CU_ASSERT_EQUAL(ref_str("a"), 0xaf63dc4c8601ec8cull);
  CU_ASSERT_EQUAL(ref_str("foobar"), 0x85944171f73967e8ull);
  /* keel's hash is that function */
  CU_ASSERT_EQUAL(keel__registry_hash("a"), 0xaf63dc4c8601ec8cull);
  CU_ASSERT_EQUAL(keel__registry_hash("foobar"), 0x85944171f73967e8ull);
  CU_ASSERT_EQUAL(keel__registry_hash(""), 0xcbf29ce484222325ull);
  static const char *names[] = {"t_square", "keel_task", "x", "file_scope_fn",
                                "\xff\xfe high bytes are unsigned"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    CU_ASSERT_EQUAL(keel__registry_hash(names[i]), ref_str(names[i]));
}

static void test_hash_stable(void)
{
  WATCHDOG(10);
  /* the same name, in different memory, at different times */
  char a[32], b[32];
  strcpy(a, "stable_name");
  strcpy(b, "stable_name");
  uint64_t h1 = keel__registry_hash(a);
  CU_ASSERT_EQUAL(keel__registry_hash(b), h1);
  CU_ASSERT_EQUAL(keel__registry_hash("stable_name"), h1);
  CU_ASSERT_EQUAL(keel__registry_hash(a), h1);
  /* and different names differ */
  CU_ASSERT_NOT_EQUAL(keel__registry_hash("stable_namf"), h1);
  CU_ASSERT_NOT_EQUAL(keel__registry_hash("stable_nam"), h1);
  CU_ASSERT_NOT_EQUAL(keel__registry_hash("tstable_name"), h1);
}

static void test_hash_never_zero(void)
{
  WATCHDOG(10);
  /* A name whose FNV-1a 64 hash is exactly 0 (found with a lattice
   * reduction, checked here with the reference implementation).  0 means
   * "no function" on the wire, so keel__registry_hash must map it to 1. */
  static const unsigned char z[] = {99, 105, 100, 112, 3,  12, 8,  60, 17, 6,
                                    4,  48,  122, 4,   2,  12, 7,  6,  0};
  CU_ASSERT_EQUAL_FATAL(ref_fnv1a64(z, sizeof z - 1), 0);
  CU_ASSERT_NOT_EQUAL(keel__registry_hash((const char *)z), 0);
  CU_ASSERT_EQUAL(keel__registry_hash((const char *)z), 1);

  /* such a name registers and resolves like any other */
  CU_ASSERT_EQUAL(keel_register((const char *)z, fn_zero), KEEL_OK);
  uint64_t id = 0;
  CU_ASSERT_EQUAL(keel__registry_id(fn_zero, &id), KEEL_OK);
  CU_ASSERT_NOT_EQUAL(id, 0);
  CU_ASSERT_EQUAL(id, keel__registry_hash((const char *)z));
  CU_ASSERT_PTR_EQUAL(keel__registry_fn(id, NULL), fn_zero);
  /* id 0 never names a function */
  CU_ASSERT_PTR_NULL(keel__registry_fn(0, NULL));
}

static void test_file_scope_register(void)
{
  WATCHDOG(10);
  uint64_t id = 0;
  CU_ASSERT_EQUAL_FATAL(keel__registry_id(file_scope_fn, &id), KEEL_OK);
  CU_ASSERT_EQUAL(id, keel__registry_hash("file_scope_fn"));
  const char *name = NULL;
  CU_ASSERT_PTR_EQUAL(keel__registry_fn(id, &name), file_scope_fn);
  CU_ASSERT_PTR_NOT_NULL_FATAL(name);
  CU_ASSERT_STRING_EQUAL(name, "file_scope_fn");
  /* registering it again by hand, as the macro did, is a no-op */
  CU_ASSERT_EQUAL(keel_register("file_scope_fn", file_scope_fn), KEEL_OK);
  CU_ASSERT_EQUAL(keel_register("file_scope_fn", fn_a), KEEL_EINVAL);
  CU_ASSERT_PTR_EQUAL(keel__registry_fn(id, NULL), file_scope_fn);
}

static void test_register_idempotent_and_conflict(void)
{
  WATCHDOG(10);
  CU_ASSERT_EQUAL(keel_register("reg_a", fn_a), KEEL_OK);
  CU_ASSERT_EQUAL(keel_register("reg_a", fn_a), KEEL_OK);
  CU_ASSERT_EQUAL(keel_register("reg_a", fn_a), KEEL_OK);
  CU_ASSERT_EQUAL(keel_register("reg_a", fn_b), KEEL_EINVAL);
  /* the first registration stands */
  const char *name = NULL;
  CU_ASSERT_PTR_EQUAL(keel__registry_fn(keel__registry_hash("reg_a"), &name), fn_a);
  CU_ASSERT_PTR_NOT_NULL_FATAL(name);
  CU_ASSERT_STRING_EQUAL(name, "reg_a");
  uint64_t id = 0;
  CU_ASSERT_EQUAL(keel__registry_id(fn_a, &id), KEEL_OK);
  CU_ASSERT_EQUAL(id, keel__registry_hash("reg_a"));
  /* fn_b was never registered */
  CU_ASSERT_EQUAL(keel__registry_id(fn_b, &id), KEEL_ENOTASK);

  /* another name for fn_b works, and each name resolves to its own fn */
  CU_ASSERT_EQUAL(keel_register("reg_b", fn_b), KEEL_OK);
  CU_ASSERT_PTR_EQUAL(keel__registry_fn(keel__registry_hash("reg_b"), NULL), fn_b);
  CU_ASSERT_PTR_EQUAL(keel__registry_fn(keel__registry_hash("reg_a"), NULL), fn_a);
  CU_ASSERT_EQUAL(keel__registry_id(fn_b, &id), KEEL_OK);
  CU_ASSERT_EQUAL(id, keel__registry_hash("reg_b"));

  /* one function under two names: both resolve to it */
  CU_ASSERT_EQUAL(keel_register("reg_c1", fn_c), KEEL_OK);
  CU_ASSERT_EQUAL(keel_register("reg_c2", fn_c), KEEL_OK);
  CU_ASSERT_PTR_EQUAL(keel__registry_fn(keel__registry_hash("reg_c1"), NULL), fn_c);
  CU_ASSERT_PTR_EQUAL(keel__registry_fn(keel__registry_hash("reg_c2"), NULL), fn_c);
  CU_ASSERT_EQUAL(keel__registry_id(fn_c, &id), KEEL_OK);
  CU_ASSERT_TRUE(id == keel__registry_hash("reg_c1") || id == keel__registry_hash("reg_c2"));
}

static void test_register_bad_arguments(void)
{
  WATCHDOG(10);
  CU_ASSERT_EQUAL(keel_register(NULL, fn_never), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_register("", fn_never), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_register("reg_null_fn", NULL), KEEL_EINVAL);
  /* none of them registered anything */
  uint64_t id = 777;
  CU_ASSERT_EQUAL(keel__registry_id(fn_never, &id), KEEL_ENOTASK);
  CU_ASSERT_PTR_NULL(keel__registry_fn(keel__registry_hash(""), NULL));
  CU_ASSERT_PTR_NULL(keel__registry_fn(keel__registry_hash("reg_null_fn"), NULL));
  CU_ASSERT_EQUAL(keel__registry_id(NULL, &id), KEEL_ENOTASK);
}

static void test_unknown_id(void)
{
  WATCHDOG(10);
  const char *name = "sentinel";
  CU_ASSERT_PTR_NULL(keel__registry_fn(keel__registry_hash("never_registered"), &name));
  CU_ASSERT_PTR_NULL(name);
  CU_ASSERT_PTR_NULL(keel__registry_fn(0x123456789abcdefull, NULL));
}

static void test_name_is_copied(void)
{
  WATCHDOG(10);
  char buf[32];
  strcpy(buf, "reg_copied");
  CU_ASSERT_EQUAL(keel_register(buf, fn_c), KEEL_OK);
  uint64_t id = keel__registry_hash("reg_copied");
  strcpy(buf, "XXXXXXXXXX");
  const char *name = NULL;
  CU_ASSERT_PTR_EQUAL(keel__registry_fn(id, &name), fn_c);
  CU_ASSERT_PTR_NOT_NULL_FATAL(name);
  CU_ASSERT_PTR_NOT_EQUAL(name, buf);
  CU_ASSERT_STRING_EQUAL(name, "reg_copied");
}

static void test_many_registrations(void)
{
  WATCHDOG(10);
  /* well past the table's first allocation, so it is reallocated */
  enum { N = 300 };
  char name[32];
  int bad = 0;
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "reg_many_%d", i);
    bad += keel_register(name, fn_many) != KEEL_OK;
  }
  CU_ASSERT_EQUAL(bad, 0);
  int found = 0, named = 0;
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "reg_many_%d", i);
    const char *got = NULL;
    found += keel__registry_fn(keel__registry_hash(name), &got) == fn_many;
    named += got && !strcmp(got, name);
  }
  CU_ASSERT_EQUAL(found, N);
  CU_ASSERT_EQUAL(named, N);
  /* earlier registrations survived the growth */
  CU_ASSERT_PTR_EQUAL(keel__registry_fn(keel__registry_hash("reg_a"), NULL), fn_a);
  CU_ASSERT_PTR_EQUAL(keel__registry_fn(keel__registry_hash("file_scope_fn"), NULL),
                      file_scope_fn);
  uint64_t id = 0;
  CU_ASSERT_EQUAL(keel__registry_id(fn_many, &id), KEEL_OK);
  CU_ASSERT_PTR_EQUAL(keel__registry_fn(id, NULL), fn_many);
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_hash_known_values),
      TU_TEST(test_hash_stable),
      TU_TEST(test_hash_never_zero),
      TU_TEST(test_file_scope_register),
      TU_TEST(test_register_idempotent_and_conflict),
      TU_TEST(test_register_bad_arguments),
      TU_TEST(test_unknown_id),
      TU_TEST(test_name_is_copied),
      TU_TEST(test_many_registrations),
  };
  return tu_run("registry", tests, sizeof tests / sizeof *tests);
}
