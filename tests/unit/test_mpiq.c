/* test_mpiq: the master's and the nanny's nonblocking MPI traffic
 * (proto/sendq.c, proto/recvq.c), in one process talking to itself over
 * MPI_COMM_SELF (a singleton MPI_Init, no launcher): a send owns or
 * borrows its bytes until MPI is done with them and then lets go exactly
 * once; receives come out whole and in the order they arrived, into the
 * caller's buffer when it gives one; pending sends are told apart by
 * destination. */
#include "../testutil.h"
#include "proto/mpiq.h"

static int released;
static void count_release(void *ctx)
{
  released++;
  free(ctx);
}

/* Match and post every message that has arrived for us. */
static int post_all(keel__recvq *q, char **into)
{
  int k = 0;
  for (;;) {
    int flag = 0, len;
    MPI_Message m;
    MPI_Status st;
    MPI_Improbe(0, KEEL__MPI_TAG, MPI_COMM_SELF, &flag, &m, &st);
    if (!flag)
      return k;
    MPI_Get_count(&st, MPI_BYTE, &len);
    int rc = into && into[k] ? keel__recvq_post_into(q, &m, len, into[k])
                             : keel__recvq_post(q, &m, len);
    CU_ASSERT_EQUAL(rc, KEEL_OK);
    k++;
  }
}

/* Pop everything, waiting at most 5 s: how many came, their bytes in got. */
static int pop_all(keel__recvq *q, keel__sendq *s, char **got, int *len,
                   int max)
{
  int k = 0;
  double end = tu_now() + 5;
  while (k < max && tu_now() < end) {
    keel__sendq_test(s);
    char *b = keel__recvq_pop(q, &len[k]);
    if (b)
      got[k++] = b;
  }
  return k;
}

static void test_in_order_and_whole(void)
{
  WATCHDOG(20);
  keel__sendq s;
  keel__recvq q;
  keel__sendq_init(&s);
  keel__recvq_init(&q);
  static const int sizes[] = {1, 100, 70000, 3 << 20, 17};
  enum { N = sizeof sizes / sizeof *sizes };
  for (int i = 0; i < N; i++) {
    keel_buf b = {0};
    for (int j = 0; j < sizes[i]; j++) {
      char c = (char)(i * 31 + j);
      keel_buf_append(&b, &c, 1);
    }
    CU_ASSERT_EQUAL(keel__sendq_post(&s, MPI_COMM_SELF, 0, i, &b), KEEL_OK);
  }
  char *got[N];
  int len[N], n = 0;
  double end = tu_now() + 5;
  while (n < N && tu_now() < end) {
    post_all(&q, NULL);
    n += pop_all(&q, &s, got + n, len + n, N - n);
  }
  CU_ASSERT_EQUAL_FATAL(n, N);
  for (int i = 0; i < N; i++) { /* in the order sent, each whole */
    CU_ASSERT_EQUAL(len[i], sizes[i]);
    int bad = 0;
    for (int j = 0; j < len[i]; j++)
      bad += got[i][j] != (char)(i * 31 + j);
    CU_ASSERT_EQUAL(bad, 0);
    free(got[i]);
  }
  while (!keel__sendq_empty(&s))
    keel__sendq_test(&s);
  CU_ASSERT_TRUE(keel__recvq_empty(&q));
}

static bool gone_if_odd(const void *ctx, int who)
{
  (void)ctx;
  return who % 2;
}

/* A borrowed send lets go once, after MPI is done; only_to tells the
 * destinations of what is pending apart. */
static void test_borrowed_bytes_released_once(void)
{
  WATCHDOG(20);
  keel__sendq s;
  keel__recvq q;
  keel__sendq_init(&s);
  keel__recvq_init(&q);
  released = 0;
  size_t n = 5 << 20; /* large: MPI sends it in pieces, not eagerly */
  char *big = malloc(n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(big);
  memset(big, 'k', n);
  CU_ASSERT_EQUAL(keel__sendq_post_ref(&s, MPI_COMM_SELF, 0, 3, big, n,
                                       count_release, big), KEEL_OK);
  CU_ASSERT_FALSE(keel__sendq_empty(&s));
  CU_ASSERT_TRUE(keel__sendq_only_to(&s, gone_if_odd, NULL)); /* to 3 */
  /* into a buffer of ours */
  char *mine = malloc(n + 64);
  char *into[1] = {mine + 64};
  double end = tu_now() + 5;
  int k = 0;
  while (!k && tu_now() < end)
    k = post_all(&q, into);
  CU_ASSERT_EQUAL_FATAL(k, 1);
  char *got[1];
  int len[1];
  CU_ASSERT_EQUAL(pop_all(&q, &s, got, len, 1), 1);
  CU_ASSERT_PTR_EQUAL(got[0], mine + 64);
  CU_ASSERT_EQUAL(len[0], (int)n);
  CU_ASSERT_EQUAL(got[0][n - 1], 'k');
  while (!keel__sendq_empty(&s))
    keel__sendq_test(&s);
  CU_ASSERT_EQUAL(released, 1);
  keel__sendq_test(&s);
  CU_ASSERT_EQUAL(released, 1);
  free(mine);
  /* a failure to start releases at once: an invalid rank */
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  char *small = malloc(8);
  CU_ASSERT_EQUAL(keel__sendq_post_ref(&s, MPI_COMM_SELF, 5, 2, small, 8,
                                       count_release, small), KEEL_EMPI);
  CU_ASSERT_EQUAL(released, 2);
  CU_ASSERT_TRUE(keel__sendq_empty(&s));
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {
      TU_TEST(test_in_order_and_whole),
      TU_TEST(test_borrowed_bytes_released_once),
  };
  MPI_Init(&argc, &argv);
  int rc = tu_run("mpiq", tests, sizeof tests / sizeof *tests);
  MPI_Finalize();
  return rc;
}
