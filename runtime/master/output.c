/* output.c: the lines task processes print, printed by the master.
 *
 * Nannies send what their task processes write on stdout and stderr in
 * OUTPUT messages (worker/lines.c), each record whole lines of one task.
 * The master alone prints them, each record whole lines in writes of
 * their own (write_lines), so that lines of different tasks never mix (a
 * line longer than KEEL__LINE_MAX is cut into lines of that size): the
 * job's output is one stream, which mpirun and keelrun pass on in order.  With KEEL_TAG_OUTPUT (keelrun
 * --tag-output) each line starts with "[rank R host H task T] ".
 *
 * The manager thread must not block on a slow reader of our stdout, so a
 * thread of this file does the writing; past OUTPUT_BACKLOG bytes queued
 * the manager waits for it: a job prints no faster than its output is
 * read.  A task's lines are written before the program sees its future
 * done (api/printed.c). */
#include "master/master.h"
#include "sys/sys.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUTPUT_BACKLOG (64u << 20) /* bytes queued before the manager waits */

typedef struct chunk {
  keel__queue node;
  int fd;
  size_t len;
  char data[];
} chunk;

/* Write whole lines, at most PIPE_BUF bytes per write() where the lines
 * allow it: a write that large is atomic on a pipe, so a line the program
 * writes itself lands between task lines, never inside one (unless a task
 * line is longer than PIPE_BUF: that one goes in one write(), which the
 * kernel may split). */
static void write_lines(int fd, const char *s, size_t len)
{
  while (len) {
    size_t n = len;
    if (n > PIPE_BUF) {
      const char *nl = memrchr(s, '\n', PIPE_BUF);
      if (!nl) /* a long line: to its end */
        nl = memchr(s + PIPE_BUF, '\n', len - PIPE_BUF);
      n = nl ? (size_t)(nl - s) + 1 : len;
    }
    if (!keel__fd_write_all(fd, s, n))
      return; /* a closed stdout: nothing to do */
    s += n;
    len -= n;
  }
}

static void *writer_main(void *arg)
{
  keel__printer *p = arg;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    keel__queue *q;
    while (!(q = keel__queue_pop(&p->chunks)) && !p->stop)
      pthread_cond_wait(&p->more, &p->lock);
    if (!q)
      break; /* stopped, and all written */
    chunk *c = keel__queue_data(q, chunk, node);
    pthread_mutex_unlock(&p->lock);
    write_lines(c->fd, c->data, c->len);
    keel__printed_written(c->len);
    pthread_mutex_lock(&p->lock);
    p->bytes -= c->len;
    pthread_cond_broadcast(&p->room);
    free(c);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

int keel__output_start(keel__printer *p)
{
  memset(p, 0, sizeof *p);
  keel__queue_init(&p->chunks);
  p->tag = keel__env_switch("KEEL_TAG_OUTPUT");
  if (pthread_mutex_init(&p->lock, NULL) ||
      pthread_cond_init(&p->more, NULL) || pthread_cond_init(&p->room, NULL))
    return KEEL_ESYS;
  if (pthread_create(&p->thread, NULL, writer_main, p))
    return KEEL_ESYS;
  p->running = true;
  return KEEL_OK;
}

void keel__output_stop(keel__printer *p)
{
  if (!p->running)
    return;
  pthread_mutex_lock(&p->lock);
  p->stop = true;
  pthread_cond_signal(&p->more);
  pthread_mutex_unlock(&p->lock);
  pthread_join(p->thread, NULL);
  p->running = false;
}

/* The bytes to print for rec: as they are, or each line tagged; a record
 * that does not end a line (a piece of a line over KEEL__LINE_MAX) is
 * ended here, so that the next one starts a line of its own. */
static chunk *format(const keel__printer *p, const keel__output *rec,
                     int rank, const char *host)
{
  char tag[320] = "";
  size_t lines = 0, tlen = 0;
  if (p->tag) {
    char task[24] = "-";
    if (rec->task_id)
      snprintf(task, sizeof task, "%llu", (unsigned long long)rec->task_id);
    tlen = (size_t)snprintf(tag, sizeof tag, "[rank %d host %s task %s] ",
                            rank, host ? host : "?", task);
    tlen = tlen < sizeof tag ? tlen : sizeof tag - 1;
    for (uint32_t i = 0; i < rec->len; i++)
      lines += ((const char *)rec->data)[i] == '\n';
    lines += rec->len && ((const char *)rec->data)[rec->len - 1] != '\n';
  }
  chunk *c = malloc(sizeof *c + rec->len + lines * tlen + 1);
  if (!c)
    return NULL;
  c->fd = (int)rec->stream;
  c->len = 0;
  const char *s = rec->data, *end = s + rec->len;
  while (s < end) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    size_t n = nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);
    memcpy(c->data + c->len, tag, tlen);
    c->len += tlen;
    memcpy(c->data + c->len, s, n);
    c->len += n;
    s += n;
  }
  if (c->len && c->data[c->len - 1] != '\n')
    c->data[c->len++] = '\n';
  return c;
}

void keel__output_lines(keel__printer *p, const keel__output *rec, int rank,
                        const char *host)
{
  keel__assert(p->running && (rec->stream == 1 || rec->stream == 2));
  chunk *c = format(p, rec, rank, host);
  if (!c) {
    keel__log("out of memory: %u bytes of output from rank %d lost",
              rec->len, rank);
    return;
  }
  pthread_mutex_lock(&p->lock);
  while (p->bytes > OUTPUT_BACKLOG)
    pthread_cond_wait(&p->room, &p->lock);
  keel__queue_insert_tail(&p->chunks, &c->node);
  p->bytes += c->len;
  keel__printed_queued(c->len);
  pthread_cond_signal(&p->more);
  pthread_mutex_unlock(&p->lock);
}
