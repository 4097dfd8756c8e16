/* doc/guide/errors.c: every error code, with its name and message. */
#include <keel.h>
#include <stdio.h>

int main(int argc, char **argv)
{
  if (keel_init(&argc, &argv))
    return 1;
#define ROW(name, value, text)                                               \
  printf("| `%s` | %d | %s |\n", keel_err_name(KEEL_##name), KEEL_##name,   \
         keel_strerror(KEEL_##name));
  KEEL_ERRNO_MAP(ROW)
  return keel_finalize();
}
