/* env.c: keel's environment variables, read one way.  Each takes a whole
 * number (or seconds) in a stated range, a switch, or one of a few words.
 * A value that is none of these is never ignored in silence and never
 * sizes anything unbounded: the master logs one line naming the
 * variable, the value and what it uses instead.  Nannies and task
 * processes read the same variables quietly, so that a job logs each
 * mistake once. */
#include "keel_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool speaks(void)
{
  return keel__self.role == KEEL__ROLE_MASTER ||
         keel__self.role == KEEL__ROLE_NONE;
}

long keel__env_long(const char *name, long def, long lo, long hi)
{
  keel__assert(lo <= def && def <= hi);
  const char *v = getenv(name);
  if (!v || !*v)
    return def;
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (end == v || *end || errno == ERANGE) {
    if (speaks())
      keel__log("%s=%s is not a whole number from %ld to %ld; using %ld",
                name, v, lo, hi, def);
    return def;
  }
  long used = x < lo ? lo : x > hi ? hi : x;
  if (used != x && speaks())
    keel__log("%s=%s is out of range (%ld to %ld); using %ld", name, v, lo,
              hi, used);
  return used;
}

double keel__env_seconds(const char *name, double def, double lo, double hi)
{
  keel__assert(lo <= def && def <= hi);
  const char *v = getenv(name);
  if (!v || !*v)
    return def;
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (end == v || *end || errno == ERANGE || !isfinite(x)) {
    if (speaks())
      keel__log("%s=%s is not a number of seconds from %g to %g; using %g",
                name, v, lo, hi, def);
    return def;
  }
  double used = x < lo ? lo : x > hi ? hi : x;
  if (used != x && speaks())
    keel__log("%s=%s is out of range (%g to %g s); using %g", name, v, lo,
              hi, used);
  return used;
}

bool keel__env_switch(const char *name)
{
  static const char *const on[] = {"1", "yes", "true", "on"};
  static const char *const off[] = {"0", "no", "false", "off"};
  const char *v = getenv(name);
  if (!v || !*v)
    return false;
  for (size_t i = 0; i < sizeof on / sizeof *on; i++) {
    if (!strcasecmp(v, on[i]))
      return true;
    if (!strcasecmp(v, off[i]))
      return false;
  }
  if (speaks())
    keel__log("%s=%s is not 1 or 0 (yes/no, true/false, on/off); using 0",
              name, v);
  return false;
}

int keel__env_choice(const char *name, const char *const *words, int n,
                     int def)
{
  keel__assert(def >= 0 && def < n);
  const char *v = getenv(name);
  if (!v || !*v)
    return def;
  for (int i = 0; i < n; i++)
    if (!strcmp(v, words[i]))
      return i;
  if (speaks()) {
    char list[256] = "";
    for (int i = 0; i < n; i++) {
      strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
      strncat(list, words[i], sizeof list - strlen(list) - 1);
    }
    keel__log("%s=%s is not one of %s; using %s", name, v, list, words[def]);
  }
  return def;
}
