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

/* A number from name's value, whole or not: def when unset, empty or
 * garbage; the nearest bound when out of range; a line for each mistake.
 * Bounds and defaults are far inside a double's exact integers. */
static double env_number(const char *name, double def, double lo, double hi,
                         bool whole)
{
  keel__assert(lo <= def && def <= hi);
  const char *v = getenv(name);
  if (!v || !*v)
    return def;
  char *end;
  errno = 0;
  double x = whole ? (double)strtol(v, &end, 10) : strtod(v, &end);
  if (end == v || *end || errno == ERANGE || !isfinite(x)) {
    if (speaks())
      keel__log("%s=%s is not %s from %.15g to %.15g; using %.15g", name, v,
                whole ? "a whole number" : "a number of seconds", lo, hi,
                def);
    return def;
  }
  double used = x < lo ? lo : x > hi ? hi : x;
  if (used != x && speaks())
    keel__log("%s=%s is out of range (%.15g to %.15g%s); using %.15g", name,
              v, lo, hi, whole ? "" : " s", used);
  return used;
}

long keel__env_long(const char *name, long def, long lo, long hi)
{
  return (long)env_number(name, (double)def, (double)lo, (double)hi, true);
}

double keel__env_seconds(const char *name, double def, double lo, double hi)
{
  return env_number(name, def, lo, hi, false);
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

/* Here, not in log.c: log.c is below every reader of the environment. */
void keel__log_init(void)
{
  keel__log_level = keel__env_choice("KEEL_LOG", keel__log_levels,
                                     KEEL__LOG_DEBUG + 1, KEEL__LOG_WARN);
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
