# tests/: CUnit programs, one per module, and integration tests that
# tests/run-test starts under mpirun (programs named mpi_*).
LOG_COMPILER = $(top_srcdir)/tests/run-test
AM_TESTS_ENVIRONMENT = MPIRUN='$(MPIRUN)'; export MPIRUN;

TEST_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
TEST_LIBS = runtime/libkeel.la $(CUNIT_LIBS)

check_PROGRAMS += tests/mpi_futures
tests_mpi_futures_SOURCES = tests/mpi_futures.c tests/testutil.h tests/tasks.h
tests_mpi_futures_CFLAGS = $(TEST_CFLAGS)
tests_mpi_futures_LDADD = $(TEST_LIBS)

TESTS += tests/mpi_futures
EXTRA_DIST += tests/run-test

check_PROGRAMS += tests/mpi_crash
tests_mpi_crash_SOURCES = tests/mpi_crash.c tests/testutil.h tests/tasks.h
tests_mpi_crash_CFLAGS = $(TEST_CFLAGS)
tests_mpi_crash_LDADD = $(TEST_LIBS)
TESTS += tests/mpi_crash
check_PROGRAMS += tests/mpi_badworker
tests_mpi_badworker_SOURCES = tests/mpi_badworker.c tests/testutil.h \
	tests/tasks.h
tests_mpi_badworker_CFLAGS = $(TEST_CFLAGS)
tests_mpi_badworker_LDADD = $(TEST_LIBS)
TESTS += tests/mpi_badworker

include tests/unit.mk
include tests/bench/Makefile.mk
