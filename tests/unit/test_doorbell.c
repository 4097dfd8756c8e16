/* test_doorbell: the master's way to wake a dozing nanny on its node
 * (doorbell.c): a ring makes the bell readable at once, draining quiets
 * it, and a ring for a pid without a bell harms nobody. */
#include "../testutil.h"
#include "sys/sys.h"

#include <fcntl.h>
#include <poll.h>

static bool readable(int fd, int ms)
{
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void test_ring_wakes_and_drain_quiets(void)
{
  WATCHDOG(10);
  int fd = keel__doorbell_open();
  CU_ASSERT_TRUE_FATAL(fd >= 0);
  CU_ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC); /* not in task processes */
  CU_ASSERT_TRUE(fcntl(fd, F_GETFL) & O_NONBLOCK);
  CU_ASSERT_FALSE(readable(fd, 0));
  keel__doorbell_ring((int)getpid());
  keel__doorbell_ring((int)getpid());
  CU_ASSERT_TRUE(readable(fd, 1000));
  keel__doorbell_drain(fd);
  CU_ASSERT_FALSE(readable(fd, 0));
  /* a pid with no bell: nothing happens, here or there */
  keel__doorbell_ring((int)getpid() + 1000000);
  CU_ASSERT_FALSE(readable(fd, 50));
  close(fd);
}

static void test_one_bell_per_pid(void)
{
  WATCHDOG(10);
  int fd = keel__doorbell_open();
  CU_ASSERT_TRUE_FATAL(fd >= 0);
  CU_ASSERT_EQUAL(keel__doorbell_open(), -1); /* logged, not fatal */
  close(fd);
  fd = keel__doorbell_open(); /* the name went with the socket */
  CU_ASSERT_TRUE(fd >= 0);
  close(fd);
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_ring_wakes_and_drain_quiets),
      TU_TEST(test_one_bell_per_pid),
  };
  return tu_run("doorbell", tests, sizeof tests / sizeof *tests);
}
