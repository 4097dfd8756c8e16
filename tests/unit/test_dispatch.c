/* test_dispatch: the master's scheduling decisions (master/dispatch.c)
 * without MPI: a fake master with two worker ranks whose send() decodes
 * what would go on the wire.  The window by estimated work, long and
 * untimed tasks one per worker, a returned result making room, and the
 * RECALL of queued tasks for an idle worker: decisions the integration
 * tests reach only with the right timing. */
#include "../testutil.h"
#include "fake.h"
#include "master/master.h"

#define NW 2 /* worker ranks 1 and 2 */

static keel__master m;
static keel_executor *execs[4];
static int nexecs;
static keel_future *made[256];
static int nmade;
static int tasks_to[NW + 1], opens_to[NW + 1], recalls_to[NW + 1];
static uint64_t last_task_to[NW + 1];
static uint32_t recall_count;

static const void *last_arg_to[NW + 1];
static size_t last_arg_len_to[NW + 1];
static int in_place_to[NW + 1];

/* What a worker rank would make of msg. */
static void fake_receive(int rank, const char *msg, size_t len)
{
  keel__wire_hdr h;
  const char *why;
  CU_ASSERT_EQUAL_FATAL(keel__wire_check(msg, len, &h, &why), KEEL_OK);
  keel__wire_rd rd;
  keel__wire_reader(&rd, msg + KEEL__WIRE_HDR, h.len);
  if (h.type == KEEL__M_OPEN)
    opens_to[rank]++;
  if (h.type == KEEL__M_RECALL) {
    recalls_to[rank]++;
    recall_count = h.count;
  }
  for (uint32_t i = 0; h.type == KEEL__M_TASKS && i < h.count; i++) {
    keel__task t;
    CU_ASSERT_EQUAL_FATAL(keel__wire_get_task(&rd, &t), KEEL_OK);
    tasks_to[rank]++;
    last_task_to[rank] = t.id;
    last_arg_to[rank] = t.arg;
    last_arg_len_to[rank] = t.arg_len;
  }
  CU_ASSERT_EQUAL(rd.err, 0);
}

static void fake_send(keel__master *mm, int rank, keel_buf *b)
{
  (void)mm;
  fake_receive(rank, b->data, b->len);
  keel__buf_free(b);
}

/* As MPI would: the argument block's reference is dropped once sent. */
static void fake_send_ref(keel__master *mm, int rank, const void *msg,
                          size_t len, void *arg)
{
  (void)mm;
  in_place_to[rank]++;
  fake_receive(rank, msg, len);
  keel__arg_drop(arg);
}

static void master_up(void)
{
  memset(&m, 0, sizeof m);
  memset(tasks_to, 0, sizeof tasks_to);
  memset(opens_to, 0, sizeof opens_to);
  memset(recalls_to, 0, sizeof recalls_to);
  memset(in_place_to, 0, sizeof in_place_to);
  m.send = fake_send;
  m.send_ref = fake_send_ref;
  keel__queue_init(&m.execs);
  m.ranks.n = NW + 1;
  m.ranks.live = NW;
  m.ranks.v = calloc(NW + 1, sizeof *m.ranks.v);
  for (int r = 0; r <= NW; r++) {
    m.ranks.v[r] = calloc(1, sizeof **m.ranks.v);
    m.ranks.v[r]->hostid = r;
    m.ranks.v[r]->host = r == 1 ? "h1" : "h2";
    m.ranks.v[r]->pidfd = m.ranks.v[r]->sock = -1;
  }
}

/* Every executor killed, closed and freed, every future released: the
 * sanitizer builds would see a leak. */
static void master_down(void)
{
  for (int i = 0; i < nexecs; i++) {
    keel_executor *ex = execs[i];
    keel__dispatch_kill(ex->sched);
    ex->sched->shutdown = true;
    keel__dispatch_step(&m, ex->sched); /* CLOSE to each worker */
    for (int r = 1; r <= NW; r++)
      keel__dispatch_closed(&m, ex->sched, r);
    CU_ASSERT_TRUE(keel__dispatch_finished(ex->sched));
    keel__dispatch_free(ex);
    keel__executor_free(ex);
  }
  nexecs = 0;
  for (int i = 0; i < nmade; i++)
    keel_future_release(made[i]);
  nmade = 0;
  for (int r = 0; r <= NW; r++)
    free(m.ranks.v[r]);
  free(m.ranks.v);
  keel__estimate_free(&m.est);
}

static keel_executor *executor(int max_inflight)
{
  keel_executor *ex = fake_executor();
  ex->opt.max_inflight = max_inflight;
  CU_ASSERT_EQUAL_FATAL(keel__dispatch_adopt(ex), KEEL_OK);
  execs[nexecs++] = ex;
  return ex;
}

/* n tasks of function fn, queued. */
static void queue_tasks(keel_executor *ex, uint64_t fn, int n,
                        keel_future **fs)
{
  static unsigned long long next_id = 1;
  for (int i = 0; i < n; i++) {
    keel_future *f = keel__future_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    f->fn = fn;
    f->ex = ex;
    f->rank = -1;
    f->task_id = next_id++;
    ex->unfinished++;
    keel__future_ref(f); /* the executor's, as keel_submit takes it */
    keel__dispatch_accept(ex->sched, f);
    made[nmade++] = f;
    if (fs)
      fs[i] = f;
  }
}

/* The result of task id from rank, as its nanny would send it. */
static void result_from(keel_executor *ex, int rank, uint64_t id)
{
  keel_buf b = {0};
  uint64_t v = 1;
  keel__result r = {id, 0, 1000, &v, sizeof v};
  keel__wire_put_hdr(&b, KEEL__M_RESULTS, ex->id, 0);
  keel__wire_put_result(&b, &r);
  keel__wire_finish(&b, 0, 1);
  keel__wire_hdr h;
  const char *why;
  keel__wire_rd rd;
  CU_ASSERT_EQUAL_FATAL(keel__wire_check(b.data, b.len, &h, &why), KEEL_OK);
  keel__wire_reader(&rd, b.data + KEEL__WIRE_HDR, h.len);
  char *msg = b.data;
  CU_ASSERT_EQUAL(keel__dispatch_results(&m, ex->sched, rank, &h, &rd, &msg),
                  KEEL_OK);
  free(msg);
}

static void test_window_by_estimated_work(void)
{
  WATCHDOG(10);
  master_up();
  keel__estimate_note(&m.est, 1, 0.001); /* 1 ms tasks */
  keel_executor *ex = executor(0);
  queue_tasks(ex, 1, 100, NULL);
  keel__dispatch_step(&m, ex->sched);
  CU_ASSERT_EQUAL(opens_to[1], 1);
  CU_ASSERT_EQUAL(opens_to[2], 1);
  /* about 10 ms of work each (WINDOW_WORK), the same on both */
  CU_ASSERT(tasks_to[1] >= 9 && tasks_to[1] <= 10);
  CU_ASSERT_EQUAL(tasks_to[1], tasks_to[2]);
  /* nothing changed: a second turn sends nothing */
  int before = tasks_to[1] + tasks_to[2];
  keel__dispatch_step(&m, ex->sched);
  CU_ASSERT_EQUAL(tasks_to[1] + tasks_to[2], before);
  master_down();
}

static void test_long_and_untimed_tasks_go_alone(void)
{
  WATCHDOG(10);
  master_up();
  keel__estimate_note(&m.est, 2, 1.0); /* 1 s tasks */
  keel_executor *ex = executor(0);
  queue_tasks(ex, 2, 10, NULL);
  keel__dispatch_step(&m, ex->sched);
  CU_ASSERT_EQUAL(tasks_to[1], 1);
  CU_ASSERT_EQUAL(tasks_to[2], 1);
  master_down();
  master_up();
  ex = executor(0);
  queue_tasks(ex, 3, 10, NULL); /* function 3 was never timed */
  keel__dispatch_step(&m, ex->sched);
  CU_ASSERT_EQUAL(tasks_to[1], 1);
  CU_ASSERT_EQUAL(tasks_to[2], 1);
  master_down();
}

static void test_result_makes_room(void)
{
  WATCHDOG(10);
  master_up();
  keel__estimate_note(&m.est, 2, 1.0);
  keel_executor *ex = executor(0);
  queue_tasks(ex, 2, 10, NULL);
  keel__dispatch_step(&m, ex->sched);
  CU_ASSERT_EQUAL(tasks_to[1], 1);
  result_from(ex, 1, last_task_to[1]);
  keel__dispatch_step(&m, ex->sched);
  /* more at once; the result also timed the function (1 ms on this
   * executor), so it now gets a window of them */
  CU_ASSERT(tasks_to[1] > 1);
  CU_ASSERT(tasks_to[1] + tasks_to[2] <= 10);
  master_down();
}

static void test_max_inflight_caps_the_window(void)
{
  WATCHDOG(10);
  master_up();
  keel__estimate_note(&m.est, 1, 0.0001); /* 0.1 ms: 100 would fit */
  keel_executor *ex = executor(3);
  queue_tasks(ex, 1, 100, NULL);
  keel__dispatch_step(&m, ex->sched);
  CU_ASSERT_EQUAL(tasks_to[1], 3);
  CU_ASSERT_EQUAL(tasks_to[2], 3);
  master_down();
}

/* Worker 2 goes idle while worker 1 still holds queued tasks and nothing
 * is left here: the master asks worker 1 for half of them back. */
static void test_idle_worker_recalls_queued_tasks(void)
{
  WATCHDOG(10);
  master_up();
  keel__estimate_note(&m.est, 1, 0.001);
  keel_executor *ex = executor(0);
  queue_tasks(ex, 1, 16, NULL); /* 8 each: the whole queue goes out */
  keel__dispatch_step(&m, ex->sched);
  CU_ASSERT_EQUAL(tasks_to[1], 8);
  CU_ASSERT_EQUAL(tasks_to[2], 8);
  CU_ASSERT_EQUAL(recalls_to[1] + recalls_to[2], 0);
  /* worker 2 finishes all of its tasks, in order */
  keel__xworker *w2 = NULL;
  for (int i = 0; i < ex->sched->nw; i++)
    if (ex->sched->w[i]->rank == 2)
      w2 = ex->sched->w[i];
  CU_ASSERT_PTR_NOT_NULL_FATAL(w2);
  while (!keel__queue_empty(&w2->flight)) {
    keel_future *f =
        keel__queue_data(keel__queue_head(&w2->flight), keel_future, node);
    result_from(ex, 2, f->task_id);
  }
  keel__dispatch_step(&m, ex->sched);
  CU_ASSERT_EQUAL(recalls_to[1], 1);
  CU_ASSERT_EQUAL(recalls_to[2], 0);
  CU_ASSERT_EQUAL(recall_count, (uint32_t)(tasks_to[1] / 2));
  /* asked once: no second RECALL until it answers */
  keel__dispatch_step(&m, ex->sched);
  CU_ASSERT_EQUAL(recalls_to[1], 1);
  master_down();
}

/* A large argument goes out from where it lies, alone, as the message a
 * copy would have made; small ones are batched into a copy. */
static void test_large_argument_sent_in_place(void)
{
  WATCHDOG(10);
  master_up();
  keel__estimate_note(&m.est, 1, 0.001);
  keel_executor *ex = executor(0);
  keel_future *fs[3];
  queue_tasks(ex, 1, 3, fs);
  size_t big = KEEL__ARG_IN_PLACE;
  for (int i = 0; i < 3; i++) {
    size_t len = i == 1 ? big : 8;
    fs[i]->arg = keel__arg_new(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fs[i]->arg);
    memset(fs[i]->arg, 'a' + i, len);
    fs[i]->arg_len = len;
  }
  keel__dispatch_step(&m, ex->sched);
  CU_ASSERT_EQUAL(tasks_to[1] + tasks_to[2], 3);
  CU_ASSERT_EQUAL(in_place_to[1] + in_place_to[2], 1);
  int r = fs[1]->rank;
  CU_ASSERT_TRUE_FATAL(r == 1 || r == 2);
  CU_ASSERT_EQUAL(in_place_to[r], 1);
  /* the one sent in place: the message's argument is the block itself */
  CU_ASSERT_EQUAL(last_task_to[r], fs[1]->task_id);
  CU_ASSERT_PTR_EQUAL(last_arg_to[r], fs[1]->arg);
  CU_ASSERT_EQUAL(last_arg_len_to[r], big);
  /* the message a copy would have made, byte for byte */
  keel_buf b = {0};
  keel__task t = {fs[1]->task_id, 1, 0, fs[1]->arg, (uint32_t)big};
  keel__wire_put_hdr(&b, KEEL__M_TASKS, ex->id, 0);
  keel__wire_put_task(&b, &t);
  keel__wire_finish(&b, 0, 1);
  CU_ASSERT_EQUAL(b.len, KEEL__TASK_PREFIX + big);
  CU_ASSERT_EQUAL(memcmp(b.data, (char *)fs[1]->arg - KEEL__TASK_PREFIX,
                         b.len), 0);
  keel__buf_free(&b);
  /* the future still holds it (a retry may send it again) */
  CU_ASSERT_EQUAL(((char *)fs[1]->arg)[big - 1], 'b');
  master_down(); /* the futures free the blocks: the sanitizers check */
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_window_by_estimated_work),
      TU_TEST(test_long_and_untimed_tasks_go_alone),
      TU_TEST(test_result_makes_room),
      TU_TEST(test_max_inflight_caps_the_window),
      TU_TEST(test_idle_worker_recalls_queued_tasks),
      TU_TEST(test_large_argument_sent_in_place)};
  keel__hub_manager_here(); /* this thread plays the manager */
  return tu_run("dispatch", tests, sizeof tests / sizeof *tests);
}
