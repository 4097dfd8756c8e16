/* doc/guide/map.c: one function over many items, results in order. */
#include <keel.h>
#include <stdio.h>

static int cube(const void *arg, size_t len, keel_buf *out)
{
  long x = *(const long *)arg;                   /* one item */
  long y = x * x * x;
  return keel_buf_append(out, &y, sizeof y);
}
KEEL_REGISTER(cube);

int main(int argc, char **argv)
{
  long items[1000], sum = 0;
  keel_executor *ex;
  keel_map *m;
  const void *data;
  size_t len;
  int rc;
  if (keel_init(&argc, &argv))
    return 1;
  for (long i = 0; i < 1000; i++)
    items[i] = i;
  keel_get_reusable_executor(NULL, &ex);
  /* chunksize 0: keel sends the items in chunks of its choosing */
  keel_map_start(ex, cube, items, sizeof items[0], 1000, 0, &m);
  while ((rc = keel_map_next(m, KEEL_FOREVER, &data, &len)) != KEEL_EOF) {
    if (rc != KEEL_OK) {
      printf("an item failed: %s\n", keel_map_error(m)->message);
      continue;
    }
    sum += *(const long *)data;
  }
  keel_map_free(m);
  printf("sum of the cubes of 0..999: %ld\n", sum);
  return keel_finalize();
}
