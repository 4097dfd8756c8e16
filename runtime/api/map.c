/* map.c: keel_map_*.  Items travel in chunks, one task each; the task
 * process runs the function on every item of a chunk and packs the outcomes
 * as (i32 status, u32 len, bytes) records, which keel_map_next() unpacks in
 * submission order. */
#include "api/api.h"
#include "proto/wire.h"

#include <stdlib.h>
#include <string.h>

#define AUTO_CHUNKS_PER_WORKER 8
#define AUTO_CHUNK_BYTES (64 * 1024)

struct keel_map {
  keel_future **chunks;
  size_t *items;        /* items in each chunk */
  size_t nchunks, cur;  /* chunk being read */
  size_t item;          /* items of cur already returned */
  int chunk_rc;         /* cur's outcome, once its first item was read */
  keel__wire_rd rd;          /* reader over cur's packed results */
  keel_error err;
};

static size_t auto_chunk(keel_executor *ex, size_t item_size, size_t n)
{
  int w = keel_executor_workers(ex);
  size_t per = n / ((size_t)(w > 0 ? w : 1) * AUTO_CHUNKS_PER_WORKER);
  size_t cap = AUTO_CHUNK_BYTES / (item_size ? item_size : 1);
  if (per > cap)
    per = cap;
  return per ? per : 1;
}

static int submit_chunks(keel_map *m, keel_executor *ex, uint64_t fn,
                         const char *items, size_t item_size, size_t n,
                         size_t chunk)
{
  for (size_t i = 0; i < m->nchunks; i++) {
    size_t k = n - i * chunk < chunk ? n - i * chunk : chunk;
    int rc = keel__executor_submit(ex, fn, (uint32_t)item_size,
                             items + i * chunk * item_size, k * item_size,
                             &m->chunks[i]);
    if (rc)
      return rc;
    m->items[i] = k;
  }
  return KEEL_OK;
}

int keel_map_start(keel_executor *ex, keel_task_fn *fn, const void *items,
                   size_t item_size, size_t n, size_t chunksize, keel_map **m)
{
  uint64_t id;
  if (!ex || !fn || !m || (n && !items) || (n && item_size == 0) ||
      item_size > UINT32_MAX || (n && item_size > SIZE_MAX / n))
    return KEEL_EINVAL;
  int rc = keel__registry_id(fn, &id);
  if (rc)
    return rc;
  size_t chunk = chunksize ? chunksize : auto_chunk(ex, item_size, n);
  if (chunk > KEEL__PAYLOAD_MAX / item_size)
    return KEEL_EINVAL;
  keel_map *mp = calloc(1, sizeof *mp);
  if (!mp)
    return KEEL_ENOMEM;
  keel__error_clear(&mp->err);
  mp->nchunks = n ? (n + chunk - 1) / chunk : 0;
  mp->chunks = calloc(mp->nchunks + 1, sizeof *mp->chunks);
  mp->items = calloc(mp->nchunks + 1, sizeof *mp->items);
  rc = mp->chunks && mp->items ? KEEL_OK : KEEL_ENOMEM;
  if (!rc)
    rc = submit_chunks(mp, ex, id, items, item_size, n, chunk);
  if (rc) {
    keel_map_free(mp); /* cancels what was submitted */
    return rc;
  }
  *m = mp;
  return KEEL_OK;
}

/* A whole chunk failed: every item of it reports the chunk's error. */
static int chunk_failed(keel_map *m, keel_future *c, int rc)
{
  keel__error_copy(&m->err, rc, keel_future_error(c), c->task_id);
  return rc;
}

/* Unpack the next item record of a finished chunk. */
static int next_item(keel_map *m, keel_future *c, const void **data,
                     size_t *len)
{
  int32_t status;
  uint32_t n;
  const void *p;
  if (keel__wire_get_item(&m->rd, &status, &p, &n)) {
    keel__error_set(&m->err, KEEL_EPROTO, "malformed map chunk result",
                    c->rank, c->host, 0, -1, c->task_id,
                    NULL);
    return KEEL_EPROTO;
  }
  if (status == 0) {
    *data = p;
    *len = n;
    return KEEL_OK;
  }
  char *msg = strndup(p ? p : "", n);
  keel__error_set(&m->err, status, msg && *msg ? msg : NULL, c->rank,
                  c->host, 0, -1, c->task_id, NULL);
  free(msg);
  return status;
}

int keel_map_next(keel_map *m, double timeout, const void **data, size_t *len)
{
  if (!m)
    return KEEL_EINVAL;
  const void *d = NULL;
  size_t l = 0;
  while (m->cur < m->nchunks && m->item == m->items[m->cur]) {
    keel_future_release(m->chunks[m->cur]); /* done with it: free early */
    m->chunks[m->cur++] = NULL;
    m->item = 0;
  }
  if (m->cur == m->nchunks)
    return KEEL_EOF;
  keel_future *c = m->chunks[m->cur];
  if (m->item == 0) { /* wait for a chunk once, not once per item */
    const void *cd;
    size_t cl;
    int rc = keel_future_result(c, timeout, &cd, &cl);
    if (rc == KEEL_ETIMEDOUT)
      return rc;
    if (rc == KEEL_OK)
      keel__wire_reader(&m->rd, cd, cl);
    m->chunk_rc = rc;
  }
  int rc = m->chunk_rc ? chunk_failed(m, c, m->chunk_rc)
                       : next_item(m, c, &d, &l);
  m->item++;
  if (data)
    *data = d;
  if (len)
    *len = l;
  return rc;
}

const keel_error *keel_map_error(const keel_map *m)
{
  return m && m->err.code ? &m->err : NULL;
}

void keel_map_free(keel_map *m)
{
  if (!m)
    return;
  for (size_t i = 0; m->chunks && i < m->nchunks; i++)
    if (m->chunks[i]) {
      keel_future_cancel(m->chunks[i]);
      keel_future_release(m->chunks[i]);
    }
  keel__error_clear(&m->err);
  free(m->chunks);
  free(m->items);
  free(m);
}
