/* fuzz_replay: make check's half of the fuzzing.  Feeds every file of the
 * corpus (tests/fuzz/corpus, found and minimised by `make fuzz`) through
 * the fuzz target once, under whatever sanitizers the build has, and checks
 * that the corpus still holds a valid message for each receiver and type,
 * so that it keeps reaching every decoder.  With --seed DIR it writes those
 * valid messages as the fuzzer's starting corpus. */
#include "proto/wire.h"
#include "../testutil.h"

#include <dirent.h>
#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef CORPUS_DIR
#error CORPUS_DIR must name tests/fuzz/corpus
#endif

/* One valid message of each kind a receiver decodes, with its receiver. */
static size_t seeds(keel_buf *out, int *who, size_t max)
{
  static const char arg[] = "0123456789abcdef";
  keel__task t = {7, 0x1234, 4, arg, 16};
  keel__result r = {7, 0, 42, arg, 16};
  keel__xopts o = {1.5, 2.5, 1 << 20, 3, KEEL_ON_CRASH_RETRY, 0x99, arg, 4};
  keel__death d = {7, KEEL__C_CRASH, 11, -1, "killed", "#0 f", 4321};
  keel__output lines = {7, 1, "line one\nline two\n", 18};
  keel__hello nh = {.pid = 1234, .host = "host", .node = "boot ns"};
  keel__hello mh = {.pid = 99, .core = -1, .timeout = 10.0, .port = 40000,
                    .token = 42, .node = "boot ns", .addrs = "10.0.0.1"};
  size_t n = 0;
#define SEED(w, code)                                                         \
  do {                                                                        \
    if (n < max) {                                                            \
      keel_buf *b = &out[n];                                                  \
      who[n++] = (w);                                                         \
      code;                                                                   \
    }                                                                         \
  } while (0)
  SEED(0, keel__wire_put_hello(b, &nh, false));
  SEED(1, keel__wire_put_hello(b, &mh, true));
  SEED(1, keel__wire_put_open(b, 3, &o));
  SEED(3, keel__wire_put_open(b, 3, &o));
  SEED(1, (keel__wire_put_hdr(b, KEEL__M_TASKS, 3, 0), keel__wire_put_task(b, &t),
           keel__wire_finish(b, 0, 1)));
  SEED(3, (keel__wire_put_hdr(b, KEEL__M_TASKS, 3, 0), keel__wire_put_task(b, &t),
           keel__wire_finish(b, 0, 1)));
  SEED(2, (keel__wire_put_hdr(b, KEEL__M_RESULTS, 3, 0), keel__wire_put_result(b, &r),
           keel__wire_finish(b, 0, 1)));
  SEED(0, (keel__wire_put_hdr(b, KEEL__M_RESULTS, 3, 0), keel__wire_put_result(b, &r),
           keel__wire_finish(b, 0, 1)));
  SEED(0, keel__wire_put_death(b, 3, &d));
  SEED(0, (keel__wire_put_hdr(b, KEEL__M_OUTPUT, 3, 0),
           keel__wire_put_output(b, &lines), keel__wire_finish(b, 0, 1)));
  SEED(2, (keel__wire_put_hdr(b, KEEL__M_INITFAIL, 3, 0), keel__wire_put_str(b, "no"),
           keel__wire_finish(b, 0, 0)));
  SEED(1, (keel__wire_put_hdr(b, KEEL__M_RECALL, 3, 2), keel__wire_finish(b, 0, 2)));
  SEED(0, (keel__wire_put_hdr(b, KEEL__M_RECALLED, 3, 0), keel__wire_put_u64(b, 8),
           keel__wire_put_u64(b, 9), keel__wire_finish(b, 0, 2)));
#undef SEED
  return n;
}

static int write_seeds(const char *dir)
{
  keel_buf b[16] = {{0}};
  int who[16];
  size_t n = seeds(b, who, 16);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-%02zu", dir, i);
    FILE *f = fopen(path, "wb");
    unsigned char w = (unsigned char)who[i];
    if (!f || fwrite(&w, 1, 1, f) != 1 ||
        fwrite(b[i].data, 1, b[i].len, f) != b[i].len) {
      fprintf(stderr, "fuzz_replay: cannot write %s: %s\n", path,
              strerror(errno));
      return 1;
    }
    fclose(f);
    keel__buf_free(&b[i]);
  }
  return 0;
}

static size_t files_replayed;

/* (receiver, type) pairs seen whole in the corpus: a receiver byte, then a
 * message that passes keel__wire_check. */
static bool valid_seen[4][64];

static void note_valid(const char *buf, size_t n)
{
  keel__wire_hdr h;
  const char *why;
  if (n >= 1 && (unsigned char)buf[0] < 4 &&
      keel__wire_check(buf + 1, n - 1, &h, &why) == KEEL_OK && h.type < 64)
    valid_seen[(unsigned char)buf[0]][h.type] = true;
}

static void test_replay_corpus(void)
{
  DIR *d = opendir(CORPUS_DIR);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  struct dirent *e;
  static char buf[1 << 20];
  while ((e = readdir(d))) {
    char path[4096];
    if (e->d_name[0] == '.')
      continue;
    snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, e->d_name);
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL(f);
    if (!f)
      continue;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput((const uint8_t *)buf, n);
    note_valid(buf, n);
    files_replayed++;
  }
  closedir(d);
  printf("\n  %zu corpus files replayed\n", files_replayed);
  CU_ASSERT(files_replayed >= 10);
  /* What the header claims: for each receiver and message type the seeds
   * cover, the corpus still holds a valid message, so every decoder is
   * reached. */
  keel_buf b[16] = {{0}};
  int who[16];
  size_t n = seeds(b, who, 16);
  for (size_t i = 0; i < n; i++) {
    keel__wire_hdr h;
    const char *why;
    if (keel__wire_check(b[i].data, b[i].len, &h, &why) == KEEL_OK &&
        !valid_seen[who[i]][h.type]) {
      fprintf(stderr, "fuzz_replay: no valid message of type %u for "
                      "receiver %d in the corpus\n", (unsigned)h.type, who[i]);
      CU_FAIL("a receiver's message type is missing from the corpus");
    }
    keel__buf_free(&b[i]);
  }
}

/* The seeds decode cleanly: the fuzz target reaches every decoder. */
static void test_seeds_are_valid(void)
{
  keel_buf b[16] = {{0}};
  int who[16];
  size_t n = seeds(b, who, 16);
  CU_ASSERT_EQUAL(n, 13);
  for (size_t i = 0; i < n; i++) {
    keel__wire_hdr h;
    const char *why;
    CU_ASSERT_EQUAL(keel__wire_check(b[i].data, b[i].len, &h, &why), KEEL_OK);
    keel__buf_free(&b[i]);
  }
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {TU_TEST(test_seeds_are_valid),
                                  TU_TEST(test_replay_corpus)};
  if (argc == 3 && !strcmp(argv[1], "--seed"))
    return write_seeds(argv[2]);
  return tu_run("fuzz_replay", tests, sizeof tests / sizeof *tests);
}
