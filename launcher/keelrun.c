/* keelrun: start a keel program with N workers plus the master.
 *
 * Program mode builds an Open MPI mpirun command line and runs it last
 * (relay.c, which also brings back the master's exit status):
 * recovery enabled (a lost rank does not abort the job), mpirun's own
 * binding off (keel binds each worker with hwloc), oversubscription allowed
 * with a one-line warning when N + 1 exceeds the slots, the allocation used
 * as it is under Slurm.
 *
 * Task-farm mode (--tasks FILE) is program mode running keel-farm
 * (farm.c), which sits next to keelrun, with the farm's options. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hwloc.h>

#include "farm/farm_opts.h"
#include "relay.h"

#define MAX_ARGS 256

static void usage(FILE *out)
{
  fprintf(out,
"usage: keelrun [-n N] [options] PROGRAM [ARGS...]\n"
"       keelrun [-n N] [options] --tasks FILE [--joblog F] [--resume]\n"
"               [--retries K] [--timeout S] [--progress]\n"
"Run PROGRAM, a keel program, with N worker ranks plus the master rank;\n"
"or run each line of FILE with /bin/sh -c on the workers (task farm).\n"
"\n"
"  -n, --workers N       worker ranks (default: one per core available, or\n"
"                        SLURM_NTASKS - 1 inside a Slurm job)\n"
"      --bind core|none  pin each worker to one core with hwloc (default core)\n"
"      --report-bindings print one line per rank: rank, host, core, PUs\n"
"      --hostfile F      Open MPI hostfile: spread the ranks over its hosts\n"
"      --host H[,H...]   hosts to run on (Open MPI --host syntax)\n"
"  -x VAR[=VALUE]        export VAR to every rank (repeatable)\n"
"      --mca KEY VALUE   pass an Open MPI MCA parameter to mpirun (repeatable)\n"
"      --mpirun PATH     the mpirun to use (default: mpirun from PATH)\n"
"      --dry-run         print the mpirun command instead of running it\n"
"  -h, --help            this help\n"
"Task farm (FILE: one shell command per line, - for stdin; blank lines\n"
"are skipped but keep their number, which is the line's Seq):\n"
"      --tasks FILE      run every line of FILE, each as it finds a free worker\n"
"      --joblog F        write GNU parallel's joblog to F\n"
"      --resume          skip the lines F already lists (needs --joblog)\n"
"      --retries K       run a failing line up to K times in all\n"
"      --timeout S       kill a line after S seconds (Exitval -1, Signal 9)\n"
"      --progress        report lines done and failed on stderr\n"
"\n"
"Exit status: PROGRAM's, or 2 for a usage error.  Task farm: 0, the number\n"
"of failed lines (101 for more than 100), or 255 for any other error.\n");
}

static int usage_status = 2; /* 255 in task-farm mode, as GNU parallel */

static void die(const char *fmt, const char *arg)
{
  fprintf(stderr, "keelrun: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see keelrun --help)\n");
  exit(usage_status);
}

/* Cores (not hardware threads, like Open MPI's slots) this process may
 * run on. */
static int cores_available(void)
{
  hwloc_topology_t topo;
  int n = 0;
  if (hwloc_topology_init(&topo) == 0 && hwloc_topology_load(topo) == 0) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS))
      hwloc_bitmap_copy(set, hwloc_topology_get_allowed_cpuset(topo));
    hwloc_obj_t o = NULL;
    while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, o)))
      n += hwloc_bitmap_intersects(o->cpuset, set);
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(topo);
  }
  return n > 0 ? n : 1;
}

/* Slots a hostfile offers: the sum of its slots=K, one per host without. */
static int hostfile_slots(const char *path)
{
  FILE *f = fopen(path, "r");
  char line[1024];
  int slots = 0;
  if (!f) {
    fprintf(stderr, "keelrun: cannot read hostfile %s: %s\n", path,
            strerror(errno));
    exit(usage_status);
  }
  while (fgets(line, sizeof line, f)) {
    char *p = line + strspn(line, " \t");
    if (*p == '#' || *p == '\n' || !*p)
      continue;
    char *s = strstr(p, "slots=");
    slots += s ? atoi(s + 6) : 1;
  }
  fclose(f);
  return slots;
}

static int parse_count(const char *s)
{
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end || v < 1 || v > 100000)
    die("-n takes a whole number of workers from 1 to 100000, not '%s'", s);
  return (int)v;
}

/* Is prog something exec can run (a path, or a name on PATH)? */
static int runnable(const char *prog)
{
  if (strchr(prog, '/'))
    return access(prog, X_OK) == 0;
  const char *path = getenv("PATH");
  char buf[4096];
  for (const char *p = path ? path : ""; *p;) {
    size_t n = strcspn(p, ":");
    snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog);
    if (access(buf, X_OK) == 0)
      return 1;
    p += n + (p[n] == ':');
  }
  return 0;
}

/* keel-farm: installed next to keelrun, or in the build tree at
 * ../farm/keel-farm from launcher/keelrun. */
static const char *farm_program(void)
{
  static char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
  if (n <= 0)
    die("%s", "cannot find keel-farm: /proc/self/exe is unreadable");
  path[n] = '\0';
  char *slash = strrchr(path, '/');
  char *dir_end = slash ? slash + 1 : path;
  strcpy(dir_end, "keel-farm");
  if (access(path, X_OK) == 0)
    return path;
  strcpy(dir_end, "../farm/keel-farm");
  if (access(path, X_OK) == 0)
    return path;
  strcpy(dir_end, "keel-farm");
  die("cannot execute the task farm program %s", path);
  return NULL;
}


/* Task-farm mode: --tasks among keelrun's own options, found by a first,
 * quiet pass of the same parse (usage errors then exit 255, as GNU
 * parallel's do; a PROGRAM's own --tasks is not keelrun's). */
static bool farm_mode(int argc, char **argv, const struct option *opts)
{
  int c, li = -1;
  bool tasks = false;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+:n:x:h", opts, &li)) != -1) {
    tasks |= c == 'F' && li >= 0 && !strcmp(opts[li].name, "tasks");
    if (c == 'M' && optind < argc)
      optind++; /* --mca KEY VALUE */
    li = -1;
  }
  optind = 0; /* glibc: start the real pass afresh */
  return tasks;
}

typedef struct args {
  const char *v[MAX_ARGS];
  int n;
} args;

static void add(args *a, const char *s)
{
  if (a->n >= MAX_ARGS - 1)
    die("%s", "too many arguments");
  a->v[a->n++] = s;
  a->v[a->n] = NULL;
}

int main(int argc, char **argv)
{
  static const struct option opts[] = {
      {"workers", required_argument, 0, 'n'},
      {"bind", required_argument, 0, 'b'},
      {"report-bindings", no_argument, 0, 'r'},
      {"hostfile", required_argument, 0, 'f'},
      {"host", required_argument, 0, 'H'},
      {"mpirun", required_argument, 0, 'm'},
      {"dry-run", no_argument, 0, 'd'},
      {"mca", required_argument, 0, 'M'},
      {"help", no_argument, 0, 'h'},
      /* task farm: handed to keel-farm as they are */
#define FARM_OPT(name, arg, code) {name, arg, 0, 'F'},
      FARM_OPTIONS(FARM_OPT)
#undef FARM_OPT
      {0, 0, 0, 0}};
  const char *bind = "core", *hostfile = NULL, *hosts = NULL;
  const char *mpirun = "mpirun", *exports[64], *mca[64];
  int workers = 0, report = 0, dry = 0, nexports = 0, nmca = 0, c, li;
  const char *farm[16];
  int nfarm = 0;
  static char nbuf[16];
  bool tasks = farm_mode(argc, argv, opts);
  usage_status = tasks ? 255 : 2;
  opterr = 0; /* our own one-line errors */
  while ((c = getopt_long(argc, argv, "+:n:x:h", opts, &li)) != -1) {
    switch (c) {
    case 'F': { /* --name[=value] or --name value, for keel-farm to check */
      bool split = opts[li].has_arg && argv[optind - 1] == optarg;
      if (nfarm > 14)
        die("%s", "too many task-farm options");
      farm[nfarm++] = argv[optind - 1 - split];
      if (split)
        farm[nfarm++] = optarg;
      break;
    }
    case 'n': workers = parse_count(optarg); break;
    case 'b':
      if (strcmp(optarg, "core") && strcmp(optarg, "none"))
        die("--bind takes core or none, not '%s'", optarg);
      bind = optarg;
      break;
    case 'r': report = 1; break;
    case 'f': hostfile = optarg; break;
    case 'H': hosts = optarg; break;
    case 'x':
      if (nexports == 64)
        die("%s", "too many -x options");
      exports[nexports++] = optarg;
      break;
    case 'm': mpirun = optarg; break;
    case 'M':
      if (optind >= argc)
        die("--mca %s needs a VALUE", optarg);
      if (nmca == 64)
        die("%s", "too many --mca options");
      mca[nmca++] = optarg;
      mca[nmca++] = argv[optind++];
      break;
    case 'd': dry = 1; break;
    case 'h': usage(stdout); return 0;
    case ':': die("option '%s' needs a value", argv[optind - 1]); break;
    default: die("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (tasks && optind < argc)
    die("a task farm runs the lines of its FILE, not PROGRAM '%s'",
        argv[optind]);
  if (!tasks && nfarm)
    die("%s only goes with --tasks FILE", farm[0]);
  if (!tasks && optind >= argc)
    die("%s", "no PROGRAM to run");
  if (!tasks && !runnable(argv[optind]))
    die("cannot execute PROGRAM '%s'", argv[optind]);
  const char *slurm = getenv("SLURM_JOB_ID");
  int slots = hostfile ? hostfile_slots(hostfile) : cores_available();
  if (workers == 0) {
    const char *nt = getenv("SLURM_NTASKS");
    workers = slurm && nt && atoi(nt) > 1 ? atoi(nt) - 1 : cores_available();
  }
  args a = {.n = 0};
  add(&a, mpirun);
  snprintf(nbuf, sizeof nbuf, "%d", workers + 1);
  add(&a, "-n");
  add(&a, nbuf);
  add(&a, "--enable-recovery"); /* a lost rank must not end the job */
  add(&a, "--bind-to");
  add(&a, "none"); /* keel binds the workers itself */
  if (geteuid() == 0)
    add(&a, "--allow-run-as-root");
  if (!slurm && workers + 1 > slots) {
    fprintf(stderr, "keelrun: warning: %d ranks (%d workers + master) on %d "
            "slots: oversubscribing\n", workers + 1, workers, slots);
    add(&a, "--oversubscribe");
  }
  if (hostfile && !slurm) {
    add(&a, "--hostfile");
    add(&a, hostfile);
  }
  if (hosts) {
    add(&a, "--host");
    add(&a, hosts);
  }
  setenv("KEEL_BIND", bind, 1);
  add(&a, "-x");
  add(&a, "KEEL_BIND");
  char token[64]; /* the master reports its exit status with it (relay.c) */
  keelrun_token(token, sizeof token);
  setenv("KEEL_STATUS_TOKEN", token, 1);
  add(&a, "-x");
  add(&a, "KEEL_STATUS_TOKEN");
  if (report) {
    setenv("KEEL_REPORT_BINDINGS", "1", 1);
    add(&a, "-x");
    add(&a, "KEEL_REPORT_BINDINGS");
  }
  for (int i = 0; i < nexports; i++) {
    add(&a, "-x");
    add(&a, exports[i]);
  }
  for (int i = 0; i < nmca; i += 2) {
    add(&a, "--mca");
    add(&a, mca[i]);
    add(&a, mca[i + 1]);
  }
  if (tasks)
    add(&a, farm_program());
  for (int i = 0; i < nfarm; i++)
    add(&a, farm[i]);
  for (int i = optind; i < argc; i++)
    add(&a, argv[i]);
  if (dry) {
    for (int i = 0; i < a.n; i++)
      printf("%s%s", a.v[i], i + 1 < a.n ? " " : "\n");
    return 0;
  }
  bool reported = false;
  int rc = keelrun_run(a.v, token, &reported);
  if (rc < 0)
    fprintf(stderr, "keelrun: cannot start %s: %s\n", mpirun,
            strerror(errno));
  rc = rc < 0 ? 127 : rc;
  /* a farm's status counts failed lines: anything else is 255 */
  return tasks && !reported ? 255 : rc;
}
