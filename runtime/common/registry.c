/* registry.c: task functions by name.  On the wire a task is named by the
 * 64-bit FNV-1a hash of its registered name, never by its address, so it
 * survives address-space randomisation and different load orders. */
#include "keel_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
  const char *name;
  uint64_t id;
  keel_task_fn *fn;
} entry;

/* Filled at load time (KEEL_REGISTER) and before keel_init(): read-only
 * once threads run. */
static struct {
  entry *v;
  size_t n, cap;
} table;

uint64_t keel__registry_hash(const char *name)
{
  uint64_t h = 14695981039346656037ull; /* FNV-1a 64 offset basis */
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    h ^= *p;
    h *= 1099511628211ull;
  }
  return h ? h : 1; /* 0 means "no function" on the wire */
}

static entry *find_id(uint64_t id)
{
  for (size_t i = 0; i < table.n; i++)
    if (table.v[i].id == id)
      return &table.v[i];
  return NULL;
}

int keel_register(const char *name, keel_task_fn *fn)
{
  if (!name || !*name || !fn)
    return KEEL_EINVAL;
  uint64_t id = keel__registry_hash(name);
  entry *e = find_id(id);
  if (e)
    return e->fn == fn && !strcmp(e->name, name) ? KEEL_OK : KEEL_EINVAL;
  if (table.n == table.cap) {
    size_t ncap = table.cap ? table.cap * 2 : 32;
    entry *t = realloc(table.v, ncap * sizeof *t);
    if (!t)
      return KEEL_ENOMEM;
    table.v = t;
    table.cap = ncap;
  }
  char *copy = strdup(name);
  if (!copy)
    return KEEL_ENOMEM;
  table.v[table.n++] = (entry){copy, id, fn};
  return KEEL_OK;
}

int keel__registry_id(keel_task_fn *fn, uint64_t *id)
{
  for (size_t i = 0; i < table.n; i++)
    if (table.v[i].fn == fn) {
      *id = table.v[i].id;
      return KEEL_OK;
    }
  return KEEL_ENOTASK;
}

keel_task_fn *keel__registry_fn(uint64_t id, const char **name)
{
  entry *e = find_id(id);
  if (name)
    *name = e ? e->name : NULL;
  return e ? e->fn : NULL;
}
