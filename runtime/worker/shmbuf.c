/* shmbuf.c: large messages from the master, received where the task
 * process can map them.  A nanny that received a large argument into its
 * own memory and wrote it to its task process, which read it into its
 * own, held it twice on the node.  So a message of KEEL__TAKE_MIN bytes
 * or more is received into a memfd the nanny maps; once a task of it is
 * queued the nanny unmaps its view and keeps only the descriptor, and the
 * task process maps the same pages (TASKFD, opening /proc/<nanny>/fd/N):
 * one copy on the node, whoever holds it.  The message starts SHM_LEAD
 * bytes into the file, so that a single task's argument, KEEL__TASK_PREFIX
 * bytes further, is 16-byte aligned in every mapping.  The nanny is one
 * thread: the table needs no lock. */
#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SHM_LEAD 36
_Static_assert((SHM_LEAD + KEEL__TASK_PREFIX) % 16 == 0, "SHM_LEAD aligns");
/* Memfds open at once, mapped or kept for a queued task; past this,
 * large messages are malloc'd: a nanny must keep descriptors for its
 * task processes' pipes. */
#define SHM_MAX 64

typedef struct shm {
  char *map; /* NULL: a free entry */
  size_t maplen;
  int fd;
} shm;

static shm table[SHM_MAX]; /* the mapped ones */
static int open_fds;       /* mapped or kept */
static int usable = -1;    /* can a child open /proc/<us>/fd/N? */

/* Task processes open the descriptor through /proc: without it (or
 * without memfd), large messages are plain memory, written through. */
static bool shm_usable(void)
{
  if (usable < 0)
    usable = access("/proc/self/fd", R_OK | X_OK) == 0;
  return usable;
}

static shm *find(const char *buf)
{
  for (int i = 0; i < SHM_MAX; i++)
    if (table[i].map && table[i].map + SHM_LEAD == buf)
      return &table[i];
  return NULL;
}

char *keel__shmbuf_new(size_t n)
{
  shm *e = NULL;
  if (n >= KEEL__TAKE_MIN && shm_usable() && open_fds < SHM_MAX)
    for (int i = 0; !e && i < SHM_MAX; i++)
      if (!table[i].map)
        e = &table[i];
  if (!e)
    return malloc(n ? n : 1);
  int fd = memfd_create("keel-task", MFD_CLOEXEC);
  size_t len = SHM_LEAD + n;
  char *map = fd < 0 || ftruncate(fd, (off_t)len)
                  ? MAP_FAILED
                  : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    if (fd >= 0)
      close(fd);
    return malloc(n ? n : 1);
  }
  *e = (shm){map, len, fd};
  open_fds++;
  return map + SHM_LEAD;
}

int keel__shmbuf_keep(char *buf, uint32_t *off)
{
  shm *e = find(buf);
  if (!e)
    return -1;
  int fd = e->fd;
  munmap(e->map, e->maplen);
  *e = (shm){0};
  *off = SHM_LEAD;
  return fd;
}

void keel__shmbuf_free(char *buf)
{
  shm *e = find(buf);
  if (!e) {
    free(buf);
    return;
  }
  munmap(e->map, e->maplen);
  keel__shmbuf_close(e->fd);
  *e = (shm){0};
}

void keel__shmbuf_close(int fd)
{
  keel__assert(open_fds > 0);
  open_fds--;
  close(fd);
}
