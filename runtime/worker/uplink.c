/* uplink.c: a nanny's messages to the master.  Nonblocking sends; a
 * master on our node is also woken through its doorbell, for it may be
 * napping (sys/doorbell.c). */
#include "worker/worker.h"
#include "sys/sys.h"

#include <stdlib.h>
#include <unistd.h>

/* len bytes at msg to the master, free(own) once MPI is done with them. */
static void post(keel__nanny *n, const void *msg, size_t len, void *own,
                 bool work)
{
  if (keel__sendq_post_ref(&n->sends, n->comm, 0, 0, msg, len, free, own)) {
    keel__log("cannot send to the master; exiting");
    _exit(1);
  }
  if (work && n->master_pidfd >= 0)
    keel__doorbell_ring(n->master_pid);
  n->last_sent = keel__clock_now();
}

void keel__uplink_send(keel__nanny *n, keel_buf *b, bool work)
{
  size_t len;
  char *buf = keel__buf_steal(b, &len);
  if (!buf) {
    keel__log("out of memory sending to the master; exiting");
    _exit(1);
  }
  post(n, buf, len, buf, work);
}

void keel__uplink_send_own(keel__nanny *n, const void *msg, size_t len,
                           void *own)
{
  post(n, msg, len, own, true);
}

void keel__uplink_simple(keel__nanny *n, uint8_t type, uint32_t exec)
{
  keel_buf b = {0};
  keel__wire_put_hdr(&b, type, exec, 0);
  keel__wire_finish(&b, 0, 0);
  keel__uplink_send(n, &b, type != KEEL__M_HEARTBEAT);
}

void keel__uplink_death(keel__nanny *n, uint32_t exec, const keel__death *d)
{
  keel_buf b = {0};
  keel__wire_put_death(&b, exec, d);
  keel__uplink_send(n, &b, true);
}
