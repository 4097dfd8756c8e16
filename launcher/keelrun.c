/* keelrun: start a keel program with N workers plus the master.
 *
 * Program mode builds the MPI launcher's command line and runs it last
 * (relay.c, which also brings back the master's exit status): Open MPI's
 * mpirun or MPICH's Hydra mpiexec, each in its own dialect (cmd.c), with
 * a lost rank not ending the job, the launcher's own binding off (keel
 * binds each worker to its cores with hwloc), workers sized to the
 * allocation (alloc.c: this machine, a hostfile, or a Slurm job) and
 * oversubscription, with a one-line warning, only past it.
 *
 * Task-farm mode (--tasks FILE) is program mode running keel-farm
 * (farm.c), which sits next to keelrun, with the farm's options. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hwloc.h>

#include "farm/farm_opts.h"
#include "launcher.h"
#include "relay.h"

static void usage(FILE *out)
{
  fprintf(out,
"usage: keelrun [-n N] [options] PROGRAM [ARGS...]\n"
"       keelrun [-n N] [options] --tasks FILE [--joblog F] [--resume]\n"
"               [--resume-failed]\n"
"               [--retries K] [--timeout S] [--progress] [--drain-grace S]\n"
"               [--shell PATH] [--halt now|soon,fail=N]\n"
"Run PROGRAM, a keel program, with N worker ranks plus the master rank;\n"
"or run each line of FILE with /bin/sh -c on the workers (task farm).\n"
"\n"
"  -n, --workers N       worker ranks (default: one per M cores available:\n"
"                        this machine's, the hostfile's slots, or inside a\n"
"                        Slurm job the allocation's CPUs on every node)\n"
"  -c, --cores-per-worker M\n"
"                        cores for each worker, and threads for its tasks\n"
"                        (OMP_NUM_THREADS and kin; default\n"
"                        KEEL_CORES_PER_WORKER, else Slurm's -c, else 1)\n"
"      --bind core|none  pin each worker to its cores with hwloc (default\n"
"                        core)\n"
"      --report-bindings print one line per rank: rank, host, core, PUs\n"
"      --tag-output      start each line tasks print with [rank R host H task T]\n"
"      --hostfile F      Open MPI hostfile: spread the ranks over its hosts\n"
"      --host H[,H...]   hosts to run on (Open MPI --host syntax)\n"
"  -x VAR[=VALUE]        export VAR to every rank (repeatable)\n"
"      --mca KEY VALUE   pass an Open MPI MCA parameter to mpirun (repeatable)\n"
"      --mpirun PATH     the launcher: Open MPI's mpirun or MPICH's mpiexec\n"
"                        (default: " KEEL_MPIRUN ", found when keel\n"
"                        was built; keelrun asks which MPI it is)\n"
"      --dry-run         print the launcher's command, ready to run, instead\n"
"                        of running it\n"
"  -h, --help            this help\n"
"Task farm (FILE: one shell command per line, - for stdin; blank lines\n"
"are skipped but keep their number, which is the line's Seq):\n"
"      --tasks FILE      run every line of FILE, each as it finds a free worker\n"
"      --joblog F        write GNU parallel's joblog to F\n"
"      --resume          skip the lines F already lists (needs --joblog)\n"
"      --resume-failed   skip only the lines F lists as succeeded: those it\n"
"                        lists as failed run again (needs --joblog)\n"
"      --retries K       run a failing line up to K times in all\n"
"      --timeout S       kill a line after S seconds (Exitval -1, Signal 9)\n"
"      --progress        report lines done, failed, running, rate and ETA on\n"
"                        stderr (one line redrawn on a terminal, else a line\n"
"                        every 5 s), and a summary at the end (also given\n"
"                        when a line failed)\n"
"      --drain-grace S   on SIGUSR1/SIGUSR2, start no more lines and give\n"
"                        running ones S seconds (default 30), then kill them\n"
"      --shell PATH      run each line with PATH -c (default /bin/sh); PATH\n"
"                        is absolute and executable\n"
"      --halt WHEN,fail=N  after N failed lines, start no more; WHEN is now\n"
"                        (kill the running ones) or soon (wait for them)\n"
"\n"
"Signals: SIGINT, SIGTERM, SIGHUP stop the job; SIGUSR1, SIGUSR2 tell the\n"
"master to drain (the time limit is near: keel_draining()).\n"
"Exit status: PROGRAM's (128 + the signal that killed it), 128 + keelrun's\n"
"own SIGINT/SIGTERM/SIGHUP, 2 for a usage error, 127 if the launcher cannot\n"
"be started, 1 if the master's ending was never reported, 70 if the master\n"
"returned 0 but a worker rank crashed.  Task farm: 0, the\n"
"number of failed lines (101 for more than 100; halted with fail=1, the\n"
"failed line's status), 2 for a usage error (found\n"
"before mpirun starts), 254 when drained before every line ran (--resume\n"
"runs the rest), or 255 for any other error.\n");
}

/* A usage error, the task farm's too: caught before mpirun starts, so
 * that it cannot pass for a farm's count of failed lines. */
static const int usage_status = 2;

static void die(const char *fmt, const char *arg)
{
  fprintf(stderr, "keelrun: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see keelrun --help)\n");
  exit(usage_status);
}

static int parse_count(const char *s, const char *what, long most)
{
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end || v < 1 || v > most) {
    fprintf(stderr, "keelrun: %s takes a whole number from 1 to %ld, not "
            "'%s' (see keelrun --help)\n", what, most, s);
    exit(usage_status);
  }
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

/* A program of keel's that keelrun starts: in the build tree next to
 * keelrun or in ../SUBDIR, installed next to it or in KEEL_LIBEXECDIR.
 * Its path goes into path[n]. */
static const char *helper(const char *name, const char *subdir, char *path,
                          size_t n)
{
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0)
    die("cannot find %s: /proc/self/exe is unreadable", name);
  self[len] = '\0';
  char *slash = strrchr(self, '/');
  *(slash ? slash : self) = '\0';
  snprintf(path, n, "%s/%s", self, name);
  if (access(path, X_OK) == 0)
    return path;
  snprintf(path, n, "%s/../%s/%s", self, subdir, name);
  if (access(path, X_OK) == 0)
    return path;
  snprintf(path, n, "%s/%s", KEEL_LIBEXECDIR, name);
  if (access(path, X_OK) == 0)
    return path;
  die("cannot find keel's program %s (looked next to keelrun and in "
      KEEL_LIBEXECDIR ")", name);
  return NULL;
}

/* Task-farm mode: --tasks among keelrun's own options, found by a first,
 * quiet pass of the same parse (a PROGRAM's own --tasks is not
 * keelrun's). */
static bool farm_mode(int argc, char **argv, const struct option *opts)
{
  int c, li = -1;
  bool tasks = false;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+:n:c:x:h", opts, &li)) != -1) {
    tasks |= c == 'F' && li >= 0 && !strcmp(opts[li].name, "tasks");
    if (c == 'M' && optind < argc)
      optind++; /* --mca KEY VALUE */
    li = -1;
  }
  optind = 0; /* glibc: start the real pass afresh */
  return tasks;
}

/* What the command line asked for. */
typedef struct opts {
  const char *bind, *hostfile, *hosts, *mpirun;
  const char *exports[64], *mca[128];
  int workers, per_worker, report, tag, dry, nexports, nmca;
  const char *farm[64]; /* the task farm's options, for keel-farm */
  int nfarm;
  bool tasks;
  char **prog; /* PROGRAM [ARGS...], NULL-terminated (argv's tail) */
} opts;

static const struct option long_opts[] = {
    {"workers", required_argument, 0, 'n'},
    {"bind", required_argument, 0, 'b'},
    {"cores-per-worker", required_argument, 0, 'c'},
    {"report-bindings", no_argument, 0, 'r'},
    {"tag-output", no_argument, 0, 'T'},
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

/* --name[=value] or --name value, for keel-farm to check. */
static void farm_option(opts *o, char **argv, int li)
{
  bool split = long_opts[li].has_arg && argv[optind - 1] == optarg;
  if (o->nfarm > 61)
    die("%s", "too many task-farm options");
  o->farm[o->nfarm++] = argv[optind - 1 - split];
  if (split)
    o->farm[o->nfarm++] = optarg;
}

/* The farm's options, parsed and checked here as keel-farm will parse
 * them, so that a usage error stops keelrun before mpirun starts. */
static void check_farm(opts *o)
{
  char *argv[66] = {"keel-farm"};
  farm_opts fo;
  memcpy(argv + 1, o->farm, (size_t)o->nfarm * sizeof *argv);
  if (farm_opts_parse(o->nfarm + 1, argv, &fo) || farm_opts_check(&fo))
    exit(usage_status);
}

static void parse(int argc, char **argv, opts *o)
{
  int c, li;
  *o = (opts){.bind = "core", .mpirun = KEEL_MPIRUN};
  o->tasks = farm_mode(argc, argv, long_opts);
  opterr = 0; /* our own one-line errors */
  while ((c = getopt_long(argc, argv, "+:n:c:x:h", long_opts, &li)) != -1) {
    switch (c) {
    case 'F': farm_option(o, argv, li); break;
    case 'n': o->workers = parse_count(optarg, "-n", 100000); break;
    case 'c':
      o->per_worker = parse_count(optarg, "--cores-per-worker", 4096);
      break;
    case 'b':
      if (strcmp(optarg, "core") && strcmp(optarg, "none"))
        die("--bind takes core or none, not '%s'", optarg);
      o->bind = optarg;
      break;
    case 'r': o->report = 1; break;
    case 'T': o->tag = 1; break;
    case 'f': o->hostfile = optarg; break;
    case 'H': o->hosts = optarg; break;
    case 'x':
      if (o->nexports == 64)
        die("%s", "too many -x options");
      o->exports[o->nexports++] = optarg;
      break;
    case 'm': o->mpirun = optarg; break;
    case 'M':
      if (optind >= argc)
        die("--mca %s needs a VALUE", optarg);
      if (o->nmca == 128)
        die("%s", "too many --mca options");
      o->mca[o->nmca++] = optarg;
      o->mca[o->nmca++] = argv[optind++];
      break;
    case 'd': o->dry = 1; break;
    case 'h': usage(stdout); exit(0);
    case ':': die("option '%s' needs a value", argv[optind - 1]); break;
    default: die("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (o->tasks && optind < argc)
    die("a task farm runs the lines of its FILE, not PROGRAM '%s'",
        argv[optind]);
  if (!o->tasks && o->nfarm)
    die("%s only goes with --tasks FILE", o->farm[0]);
  if (!o->tasks && optind >= argc)
    die("%s", "no PROGRAM to run");
  if (!o->tasks && !runnable(argv[optind]))
    die("cannot execute PROGRAM '%s'", argv[optind]);
  o->prog = argv + optind;
  if (o->tasks)
    check_farm(o);
}

/* A bad environment (Slurm's variables, KEEL_CORES_PER_WORKER, a
 * hostfile): one line, usage status, no pointer to --help. */
static void bad_setting(const char *err)
{
  fprintf(stderr, "keelrun: %s\n", err);
  exit(usage_status);
}

static void need(int rc)
{
  if (rc)
    die("%s", "too many arguments for the launcher");
}

/* The launcher's family, or a one-line error: 127 when it cannot be
 * started at all, 2 when it is no MPI launcher keel knows. */
static void pick_family(const opts *o, keelrun_cmd *c)
{
  char err[512];
  int rc = keelrun_family_of(o->mpirun, &c->family, err, sizeof err);
  if (rc) {
    fprintf(stderr, "keelrun: %s\n", err);
    exit(rc == -1 ? 127 : usage_status);
  }
  if (o->nmca && c->family != KEELRUN_OPENMPI)
    die("--mca is for Open MPI's mpirun; %s takes no MCA parameters",
        o->mpirun);
}

/* How many workers, and whether they oversubscribe the allocation: by
 * default one per M cores (M: --cores-per-worker, KEEL_CORES_PER_WORKER,
 * Slurm's -c, or 1); the master rank is not given cores of its own (it
 * sleeps while tasks run), so only workers past the cores earn the
 * warning.  The launcher itself is told to oversubscribe whenever the
 * ranks outnumber its slots. */
static bool size_job(opts *o, const keelrun_alloc *al)
{
  int m = al->per_worker;
  if (o->workers == 0)
    o->workers = al->cores / m > 0 ? al->cores / m : 1;
  long need = (long)o->workers * m;
  if (need > al->cores) {
    char each[48] = "";
    if (m > 1)
      snprintf(each, sizeof each, " of %d cores", m);
    fprintf(stderr, "keelrun: warning: %d worker(s)%s need %ld cores; %s "
            "has %d: oversubscribing\n", o->workers, each, need, al->where,
            al->cores);
  }
  return o->workers + 1 > al->slots;
}

/* The launcher's command: workers + 1 ranks, recovery on, keel's binding,
 * oversubscription past the slots, keel's settings, the master's status
 * token (not in a dry run: nobody would read it). */
static void plan(opts *o, keelrun_cmd *c, char *token, size_t ntoken)
{
  keelrun_alloc al;
  char err[512], mbuf[16];
  pick_family(o, c);
  if (keelrun_alloc_read(&al, o->hostfile, o->per_worker, err, sizeof err))
    bad_setting(err);
  bool over = size_job(o, &al);
  need(keelrun_cmd_start(c, o->mpirun, o->workers + 1, over));
  if (o->hostfile && al.slurm)
    fprintf(stderr, "keelrun: warning: --hostfile %s is not used inside "
            "%s: the allocation names the hosts\n", o->hostfile, al.where);
  else if (o->hostfile && keelrun_cmd_hostfile(c, o->hostfile, err,
                                               sizeof err))
    bad_setting(err);
  if (o->hosts)
    need(keelrun_cmd_hosts(c, o->hosts));
  snprintf(mbuf, sizeof mbuf, "%d", al.per_worker);
  need(keelrun_cmd_env(c, "KEEL_BIND", o->bind));
  need(keelrun_cmd_env(c, "KEEL_CORES_PER_WORKER", mbuf));
  if (!o->dry) {
    keelrun_token(token, ntoken); /* the master reports its status with it */
    need(keelrun_cmd_env(c, "KEEL_STATUS_TOKEN", token));
  }
  if (o->report)
    need(keelrun_cmd_env(c, "KEEL_REPORT_BINDINGS", "1"));
  if (o->tag)
    need(keelrun_cmd_env(c, "KEEL_TAG_OUTPUT", "1"));
  if (o->tasks) /* keel-farm's stderr is mpirun's pipe: --progress asks */
    need(keelrun_cmd_env(c, "KEEL_FARM_TTY", isatty(STDERR_FILENO) ? "1"
                                                                  : "0"));
  for (int i = 0; i < o->nexports; i++)
    need(keelrun_cmd_export(c, o->exports[i]));
  for (int i = 0; i < o->nmca; i += 2)
    need(keelrun_cmd_add(c, "--mca") || keelrun_cmd_add(c, o->mca[i]) ||
         keelrun_cmd_add(c, o->mca[i + 1]));
  static char rank[8192], farm[8192];
  need(keelrun_cmd_add(c, helper("keel-rank", "launcher", rank,
                                 sizeof rank))); /* status, cleanup */
  if (o->tasks)
    need(keelrun_cmd_add(c, helper("keel-farm", "farm", farm, sizeof farm)));
  for (int i = 0; i < o->nfarm; i++)
    need(keelrun_cmd_add(c, o->farm[i]));
  for (char **p = o->prog; *p; p++)
    need(keelrun_cmd_add(c, *p));
}

/* The job's exit status, with one line on stderr when it is not simply
 * the master's: a signal, keelrun's own stop, no report. */
static int job_status(const opts *o, const keelrun_end *e)
{
  int rc;
  if (e->stopped_by) {
    fprintf(stderr, "keelrun: SIG%s: the job was stopped\n",
            sigabbrev_np(e->stopped_by));
    return 128 + e->stopped_by;
  }
  if (e->how == KEELRUN_EXIT) {
    rc = e->value;
  } else if (e->how == KEELRUN_SIGNAL) {
    fprintf(stderr, "keelrun: the master (rank 0) was killed by signal %d "
            "(%s)\n", e->value, strsignal(e->value));
    rc = 128 + e->value;
  } else {
    /* Open MPI's mpirun exits 0 under recovery whatever happened; Hydra
     * passes on a status of its own.  Either way the master's is lost. */
    fprintf(stderr, "keelrun: the master rank ended without reporting an "
            "exit status (the launcher's was %d): failing the job\n",
            e->mpirun);
    rc = e->mpirun != 0 ? e->mpirun : 1;
  }
  /* A worker rank that crashed (a bug in keel, MPI or the program's
   * libraries, not a task: tasks run in processes of their own) fails a
   * job that would have succeeded. */
  if (rc == 0 && e->crashed) {
    fprintf(stderr, "keelrun: %d worker rank(s) crashed: failing the job\n",
            e->crashed);
    rc = 70;
  }
  /* a farm's status counts failed lines: anything else is 255 */
  return o->tasks && (e->how != KEELRUN_EXIT || e->crashed) ? 255 : rc;
}

/* Print the command (--dry-run), or run it and return the job's status. */
static int run(const opts *o, const keelrun_cmd *c, const char *token)
{
  keelrun_end e;
  if (o->dry) {
    keelrun_cmd_print(c);
    return 0;
  }
  if (keelrun_run(c->v, token, c->family == KEELRUN_OPENMPI, &e) < 0) {
    fprintf(stderr, "keelrun: cannot start %s: %s\n", o->mpirun,
            strerror(errno));
    return 127;
  }
  return job_status(o, &e);
}

int main(int argc, char **argv)
{
  opts o;
  static keelrun_cmd c;
  char token[64] = "";
  parse(argc, argv, &o);
  plan(&o, &c, token, sizeof token);
  return run(&o, &c, token);
}
