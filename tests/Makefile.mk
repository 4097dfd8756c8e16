# tests/: how make check starts each test is tests/run-test: mpi_*
# programs and the examples under keelrun -n 2, spawn_* programs alone,
# the rest as they are.
#   unit/     CUnit programs, one per runtime module (unit/Makefile.mk)
#   mpi/      keel programs that test the runtime end to end
#   scripts/  shell-driven tests: keelrun's options, the task farm, orphans,
#             two network-namespace hosts, the soak, an install
#   fuzz/     the wire decoders' corpus, replayed
#   bench/    make bench and make compare (not make check)
LOG_COMPILER = $(top_srcdir)/tests/run-test
AM_TESTS_ENVIRONMENT = MPIRUN='$(MPIRUN)'; KEEL_MPI='$(KEEL_MPI)'; export KEEL_MPI; \
	KEELRUN='$(abs_top_builddir)/launcher/keelrun'; \
	KEEL_SRCDIR='$(abs_top_srcdir)'; export MPIRUN KEELRUN KEEL_SRCDIR;
EXTRA_DIST += tests/run-test tests/lsan.supp tests/tsan.supp

# Test programs link libkeel and CUnit unless they say otherwise; they
# share tests/testutil.h (watchdog, runner) and tests/mpi/tasks.h (tasks).
TEST_LIBS = runtime/libkeel.la $(CUNIT_LIBS)
LDADD = $(TEST_LIBS)
TESTS_SHARED = tests/testutil.h tests/mpi/tasks.h

# The executor's contract, the crash matrix, an impostor rank.
check_PROGRAMS += tests/mpi/mpi_futures tests/mpi/mpi_crash \
	tests/mpi/mpi_badworker
tests_mpi_mpi_futures_SOURCES = tests/mpi/mpi_futures.c $(TESTS_SHARED)
tests_mpi_mpi_crash_SOURCES = tests/mpi/mpi_crash.c $(TESTS_SHARED)
# -g whatever CFLAGS say: it checks that backtraces give files and lines.
tests_mpi_mpi_crash_CFLAGS = $(AM_CFLAGS) -g
tests_mpi_mpi_badworker_SOURCES = tests/mpi/mpi_badworker.c $(TESTS_SHARED)
TESTS += tests/mpi/mpi_futures tests/mpi/mpi_crash tests/mpi/mpi_badworker

# Placement and rank loss (under keelrun), and spawned workers (alone).
PLACEMENT_CFLAGS = $(AM_CFLAGS) $(HWLOC_CFLAGS)
PLACEMENT_LIBS = $(TEST_LIBS) $(HWLOC_LIBS)
check_PROGRAMS += tests/mpi/mpi_placement tests/mpi/mpi_rankloss \
	tests/mpi/spawn_workers
tests_mpi_mpi_placement_SOURCES = tests/mpi/mpi_placement.c \
	tests/mpi/placement.h $(TESTS_SHARED)
tests_mpi_mpi_placement_CFLAGS = $(PLACEMENT_CFLAGS)
tests_mpi_mpi_placement_LDADD = $(PLACEMENT_LIBS)
tests_mpi_mpi_rankloss_SOURCES = tests/mpi/mpi_rankloss.c \
	tests/mpi/placement.h $(TESTS_SHARED)
tests_mpi_mpi_rankloss_CFLAGS = $(PLACEMENT_CFLAGS)
tests_mpi_mpi_rankloss_LDADD = $(PLACEMENT_LIBS)
tests_mpi_spawn_workers_SOURCES = tests/mpi/spawn_workers.c \
	tests/mpi/placement.h $(TESTS_SHARED)
tests_mpi_spawn_workers_CFLAGS = $(PLACEMENT_CFLAGS)
tests_mpi_spawn_workers_LDADD = $(PLACEMENT_LIBS)
TESTS += tests/mpi/mpi_placement tests/mpi/mpi_rankloss \
	tests/mpi/spawn_workers

# Rebalancing: short tasks pass a long one, each task runs once, recalls
# racing with starts, crashes and a rank's loss.
check_PROGRAMS += tests/mpi/mpi_rebalance
tests_mpi_mpi_rebalance_SOURCES = tests/mpi/mpi_rebalance.c \
	tests/mpi/placement.h $(TESTS_SHARED)
tests_mpi_mpi_rebalance_CFLAGS = $(PLACEMENT_CFLAGS)
tests_mpi_mpi_rebalance_LDADD = $(PLACEMENT_LIBS)
TESTS += tests/mpi/mpi_rebalance

# The crash matrix and the examples again, with spawned workers.
TESTS += tests/scripts/spawned-examples
EXTRA_DIST += tests/scripts/spawned-examples

# Tasks hostile to their own process: closed fds, garbage output,
# leftover children (even in their own session), a blocked SIGTERM.
check_PROGRAMS += tests/mpi/mpi_hostile
tests_mpi_mpi_hostile_SOURCES = tests/mpi/mpi_hostile.c $(TESTS_SHARED)
TESTS += tests/mpi/mpi_hostile

# Bad input at the API: NULLs, overflowing sizes, calls after finalize.
check_PROGRAMS += tests/mpi/mpi_misuse
tests_mpi_mpi_misuse_SOURCES = tests/mpi/mpi_misuse.c $(TESTS_SHARED)
TESTS += tests/mpi/mpi_misuse

# keel_init's documented failures: thread level, no descriptor, order.
check_PROGRAMS += tests/mpi/init_errors
tests_mpi_init_errors_SOURCES = tests/mpi/init_errors.c $(TESTS_SHARED)
TESTS += tests/mpi/init_errors

# Crash reports on the master's stderr: one block per crash, none when
# quiet_crashes says so.
check_PROGRAMS += tests/mpi/mpi_reports
tests_mpi_mpi_reports_SOURCES = tests/mpi/mpi_reports.c $(TESTS_SHARED)
TESTS += tests/mpi/mpi_reports

# What a callback may call: blocking, waiting, shutting down, finalizing.
check_PROGRAMS += tests/mpi/mpi_callbacks
tests_mpi_mpi_callbacks_SOURCES = tests/mpi/mpi_callbacks.c $(TESTS_SHARED)
TESTS += tests/mpi/mpi_callbacks

# A task that kills its nanny, under each policy: it fails alone, and the
# lost ranks are replaced.
check_PROGRAMS += tests/mpi/mpi_poison
tests_mpi_mpi_poison_SOURCES = tests/mpi/mpi_poison.c $(TESTS_SHARED)
TESTS += tests/mpi/mpi_poison

# Soak: tasks crashing 1 % of the time under RETRY and FAIL_TASK; make
# check runs a short form, make soak 1,000,000 tasks per policy.
check_PROGRAMS += tests/mpi/soak_tasks
tests_mpi_soak_tasks_SOURCES = tests/mpi/soak_tasks.c $(TESTS_SHARED)
TESTS += tests/scripts/soak
EXTRA_DIST += tests/scripts/soak
soak: tests/mpi/soak_tasks launcher/keelrun
	KEEL_SOAK_TASKS=1000000 KEELRUN=launcher/keelrun \
	  $(top_srcdir)/tests/scripts/soak
.PHONY: soak

# Chaos: random task, nanny and shutdown faults for a set time; make check
# runs 30 s, make soak-chaos 10 minutes.
check_PROGRAMS += tests/mpi/chaos
tests_mpi_chaos_SOURCES = tests/mpi/chaos.c $(TESTS_SHARED)
TESTS += tests/scripts/chaos
EXTRA_DIST += tests/scripts/chaos
soak-chaos: tests/mpi/chaos launcher/keelrun
	KEEL_CHAOS_SECONDS=600 KEELRUN=launcher/keelrun \
	  $(top_srcdir)/tests/scripts/chaos
.PHONY: soak-chaos

# keelrun's command line: errors, --help, the mpirun it builds, bindings,
# exit statuses.
TESTS += tests/scripts/keelrun-cli
EXTRA_DIST += tests/scripts/keelrun-cli

# Hybrid MPI + threads: cores per worker, OMP_NUM_THREADS and kin in the
# task processes, Slurm's CPUs on the node respected.
if KEEL_OPENMP
check_PROGRAMS += tests/mpi/threads_probe
tests_mpi_threads_probe_SOURCES = tests/mpi/threads_probe.c $(TESTS_SHARED)
tests_mpi_threads_probe_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)
tests_mpi_threads_probe_LDFLAGS = $(AM_LDFLAGS) $(OPENMP_CFLAGS)
endif
TESTS += tests/scripts/hybrid
EXTRA_DIST += tests/scripts/hybrid

# keel's environment variables with garbage in them.
TESTS += tests/scripts/env-garbage
EXTRA_DIST += tests/scripts/env-garbage

# keelrun's task-farm mode: joblog, resume, retries, timeouts, bad lines.
TESTS += tests/scripts/farm
EXTRA_DIST += tests/scripts/farm

# Under a real one-node Slurm (tests/slurm): keelrun sized by sbatch's
# -n, -c, --exclusive; a task farm scancelled and resumed.
TESTS += tests/scripts/slurm
EXTRA_DIST += tests/scripts/slurm tests/slurm

# No process outlives a master that dies without keel_finalize().
check_PROGRAMS += tests/mpi/orphan_master
tests_mpi_orphan_master_SOURCES = tests/mpi/orphan_master.c \
	tests/mpi/tasks.h
TESTS += tests/scripts/orphans
EXTRA_DIST += tests/scripts/orphans

# How the job ends: the master's status (return, _exit, a signal), a lost
# worker, keelrun's own signals and death; on one host and across two.
check_PROGRAMS += tests/mpi/endings
tests_mpi_endings_SOURCES = tests/mpi/endings.c tests/mpi/tasks.h
TESTS += tests/scripts/endings
EXTRA_DIST += tests/scripts/endings

# What tasks print: whole lines, once each, tagged on demand.
check_PROGRAMS += tests/mpi/printer
tests_mpi_printer_SOURCES = tests/mpi/printer.c tests/mpi/tasks.h
TESTS += tests/scripts/output
EXTRA_DIST += tests/scripts/output

# Across two hosts made of network namespaces (tests/scripts/netns-cluster).
check_PROGRAMS += tests/mpi/mpi_multinode
tests_mpi_mpi_multinode_SOURCES = tests/mpi/mpi_multinode.c $(TESTS_SHARED)
TESTS += tests/scripts/multinode
EXTRA_DIST += tests/scripts/multinode tests/scripts/netns-cluster

# doc/guide.md's samples (built by doc/Makefile.mk): shown word for word,
# run under keelrun, printing what the guide says.
TESTS += tests/scripts/guide
EXTRA_DIST += tests/scripts/guide

# The man pages format without a groff warning, and show what they mean.
TESTS += tests/scripts/manpages
EXTRA_DIST += tests/scripts/manpages

# The layering of runtime/: no role reaches up or around (doc/design.md).
TESTS += tests/scripts/layers
EXTRA_DIST += tests/scripts/layers

# Installed under a prefix of its own from the distribution tree, then used
# through `module load keel` alone: pkg-config, keel.pc's rpath, keelrun.
TESTS += tests/scripts/install
EXTRA_DIST += tests/scripts/install

include tests/unit/Makefile.mk
include tests/fuzz/Makefile.mk
include tests/bench/Makefile.mk
