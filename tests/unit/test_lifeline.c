/* test_lifeline: how the master and its nannies watch each other
 * (lifeline.c).  On one node a pidfd tells a death at once and kills
 * exactly; across nodes a TCP connection greeted with the master's token
 * does, and a wrong token or a closed end is told apart from silence. */
#include "../testutil.h"
#include "sys/sys.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#define TOKEN 0x1234abcd5678ef00ull

static void test_node_names_this_kernel_and_namespace(void)
{
  WATCHDOG(10);
  char a[128], b[128];
  keel__lifeline_node(a, sizeof a);
  keel__lifeline_node(b, sizeof b);
  CU_ASSERT_STRING_EQUAL(a, b);
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " pid:[")); /* "boot-id pid:[N]" */
  CU_ASSERT_TRUE(strlen(a) > 36 + 6);
}

static void test_pidfd_sees_death_and_kills(void)
{
  WATCHDOG(10);
  char node[128];
  keel__lifeline_node(node, sizeof node);
  pid_t pid = fork();
  if (pid == 0) {
    pause();
    _exit(0);
  }
  CU_ASSERT_EQUAL(keel__lifeline_open(pid, "another-boot pid:[1]"), -1);
  CU_ASSERT_EQUAL(keel__lifeline_open(0, node), -1);
  CU_ASSERT_EQUAL(keel__lifeline_open(pid, NULL), -1);
  int fd = keel__lifeline_open(pid, node);
  CU_ASSERT_TRUE_FATAL(fd >= 0);
  CU_ASSERT_FALSE(keel__lifeline_dead(fd));
  CU_ASSERT_FALSE(keel__lifeline_dead(-1));
  CU_ASSERT_TRUE(keel__lifeline_kill(fd));
  int status;
  CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
  CU_ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  CU_ASSERT_TRUE(keel__lifeline_dead(fd));
  CU_ASSERT_FALSE(keel__lifeline_kill(-1));
  close(fd);
}

/* The master's side: accept one nanny and greet it. */
typedef struct master {
  int lfd, fd, greeted;
  uint64_t token;
  uint32_t rank;
} master;

static void *master_main(void *arg)
{
  master *m = arg;
  double end = tu_now() + 5;
  while ((m->fd = keel__lifeline_accept(m->lfd)) < 0 && tu_now() < end)
    usleep(1000);
  while (m->fd >= 0 &&
         (m->greeted = keel__lifeline_greet(m->fd, m->token, &m->rank)) == 0 &&
         tu_now() < end)
    usleep(1000);
  if (m->greeted < 0) { /* as the master does: a stranger is let go */
    close(m->fd);
    m->fd = -1;
  }
  return NULL;
}

static int connect_to(master *m, uint64_t token, const char *addrs)
{
  int port;
  m->lfd = keel__lifeline_listen(&port);
  CU_ASSERT_TRUE_FATAL(m->lfd >= 0);
  CU_ASSERT_TRUE(port > 0);
  m->fd = -1;
  pthread_t t;
  pthread_create(&t, NULL, master_main, m);
  int fd = keel__lifeline_connect(addrs, port, token, 7, 2.0);
  pthread_join(t, NULL);
  return fd;
}

static void test_greeted_connection_tells_a_close(void)
{
  WATCHDOG(20);
  master m = {.token = TOKEN};
  /* an address nobody listens on first: the next one is tried */
  int fd = connect_to(&m, TOKEN, "192.0.2.1,127.0.0.1");
  CU_ASSERT_TRUE_FATAL(fd >= 0);
  CU_ASSERT_EQUAL(m.greeted, 1);
  CU_ASSERT_EQUAL(m.rank, 7);
  CU_ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  /* a ring is not a close, on either side */
  keel__lifeline_ring(m.fd);
  usleep(20000);
  CU_ASSERT_FALSE(keel__lifeline_closed(fd));
  keel__lifeline_ring(fd);
  usleep(20000);
  CU_ASSERT_FALSE(keel__lifeline_closed(m.fd));
  close(m.fd); /* the master died */
  usleep(20000);
  CU_ASSERT_TRUE(keel__lifeline_closed(fd));
  close(fd);
  close(m.lfd);
}

static void test_wrong_token_is_refused(void)
{
  WATCHDOG(20);
  master m = {.token = TOKEN};
  int fd = connect_to(&m, TOKEN + 1, "127.0.0.1");
  CU_ASSERT_EQUAL(m.greeted, -1); /* the master closes it */
  if (m.fd >= 0)
    close(m.fd);
  CU_ASSERT_EQUAL(fd, -1); /* no answer: the nanny tries no further */
  if (fd >= 0)
    close(fd);
  close(m.lfd);
}

static void test_addrs_leave_out_loopback(void)
{
  WATCHDOG(10);
  char buf[1024];
  int rc = keel__lifeline_addrs(buf, sizeof buf);
  CU_ASSERT_TRUE(rc == 0 ? buf[0] != '\0' : buf[0] == '\0');
  CU_ASSERT_PTR_NULL(strstr(buf, "127.0.0.1"));
  CU_ASSERT_PTR_NULL(strstr(buf, "::1"));
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_node_names_this_kernel_and_namespace),
      TU_TEST(test_pidfd_sees_death_and_kills),
      TU_TEST(test_greeted_connection_tells_a_close),
      TU_TEST(test_wrong_token_is_refused),
      TU_TEST(test_addrs_leave_out_loopback),
  };
  return tu_run("lifeline", tests, sizeof tests / sizeof *tests);
}
