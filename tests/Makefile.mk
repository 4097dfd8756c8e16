# tests/: CUnit programs, one per module, and integration tests that
# tests/run-test starts: mpi_* programs under keelrun -n 2, spawn_*
# programs alone, scripts as they are.
LOG_COMPILER = $(top_srcdir)/tests/run-test
AM_TESTS_ENVIRONMENT = MPIRUN='$(MPIRUN)'; \
	KEELRUN='$(abs_top_builddir)/launcher/keelrun'; export MPIRUN KEELRUN;
EXTRA_DIST += tests/run-test tests/lsan.supp tests/tsan.supp

# Test programs link libkeel and CUnit unless they say otherwise; they
# share tests/testutil.h (watchdog, runner) and tests/tasks.h (tasks).
TEST_LIBS = runtime/libkeel.la $(CUNIT_LIBS)
LDADD = $(TEST_LIBS)
TESTS_SHARED = tests/testutil.h tests/tasks.h

# The executor's contract, the crash matrix, an impostor rank.
check_PROGRAMS += tests/mpi_futures tests/mpi_crash tests/mpi_badworker
tests_mpi_futures_SOURCES = tests/mpi_futures.c $(TESTS_SHARED)
tests_mpi_crash_SOURCES = tests/mpi_crash.c $(TESTS_SHARED)
tests_mpi_badworker_SOURCES = tests/mpi_badworker.c $(TESTS_SHARED)
TESTS += tests/mpi_futures tests/mpi_crash tests/mpi_badworker

# Placement and rank loss (under keelrun), and spawned workers (alone).
PLACEMENT_CFLAGS = $(AM_CFLAGS) $(HWLOC_CFLAGS)
PLACEMENT_LIBS = $(TEST_LIBS) $(HWLOC_LIBS)
check_PROGRAMS += tests/mpi_placement tests/mpi_rankloss tests/spawn_workers
tests_mpi_placement_SOURCES = tests/mpi_placement.c tests/placement.h \
	$(TESTS_SHARED)
tests_mpi_placement_CFLAGS = $(PLACEMENT_CFLAGS)
tests_mpi_placement_LDADD = $(PLACEMENT_LIBS)
tests_mpi_rankloss_SOURCES = tests/mpi_rankloss.c tests/placement.h \
	$(TESTS_SHARED)
tests_mpi_rankloss_CFLAGS = $(PLACEMENT_CFLAGS)
tests_mpi_rankloss_LDADD = $(PLACEMENT_LIBS)
tests_spawn_workers_SOURCES = tests/spawn_workers.c tests/placement.h \
	$(TESTS_SHARED)
tests_spawn_workers_CFLAGS = $(PLACEMENT_CFLAGS)
tests_spawn_workers_LDADD = $(PLACEMENT_LIBS)
TESTS += tests/mpi_placement tests/mpi_rankloss tests/spawn_workers

# The crash matrix and the examples again, with spawned workers.
TESTS += tests/spawned-examples
EXTRA_DIST += tests/spawned-examples

# Tasks hostile to their own process: closed fds, garbage output,
# leftover children (even in their own session), a blocked SIGTERM.
check_PROGRAMS += tests/mpi_hostile
tests_mpi_hostile_SOURCES = tests/mpi_hostile.c $(TESTS_SHARED)
TESTS += tests/mpi_hostile

# Bad input at the API: NULLs, overflowing sizes, calls after finalize.
check_PROGRAMS += tests/mpi_misuse
tests_mpi_misuse_SOURCES = tests/mpi_misuse.c $(TESTS_SHARED)
TESTS += tests/mpi_misuse

# Soak: tasks crashing 1 % of the time under RETRY and FAIL_TASK; make
# check runs a short form, make soak 1,000,000 tasks per policy.
check_PROGRAMS += tests/soak_tasks
tests_soak_tasks_SOURCES = tests/soak_tasks.c $(TESTS_SHARED)
TESTS += tests/soak
EXTRA_DIST += tests/soak
soak: tests/soak_tasks launcher/keelrun
	KEEL_SOAK_TASKS=1000000 KEELRUN=launcher/keelrun $(top_srcdir)/tests/soak
.PHONY: soak

# keelrun's command line: errors, --help, the mpirun it builds, bindings,
# exit statuses.
TESTS += tests/keelrun-cli
EXTRA_DIST += tests/keelrun-cli

# keelrun's task-farm mode: joblog, resume, retries, timeouts, bad lines.
TESTS += tests/farm
EXTRA_DIST += tests/farm

# No process outlives a master that dies without keel_finalize().
check_PROGRAMS += tests/orphan_master
tests_orphan_master_SOURCES = tests/orphan_master.c tests/tasks.h
TESTS += tests/orphans
EXTRA_DIST += tests/orphans

# Across two hosts made of network namespaces (tests/netns-cluster).
check_PROGRAMS += tests/mpi_multinode
tests_mpi_multinode_SOURCES = tests/mpi_multinode.c $(TESTS_SHARED)
TESTS += tests/multinode
EXTRA_DIST += tests/multinode tests/netns-cluster

include tests/unit.mk
include tests/fuzz/Makefile.mk
include tests/bench/Makefile.mk
