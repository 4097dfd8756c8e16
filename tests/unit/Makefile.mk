# tests/unit/: unit tests, one CUnit program per runtime module.
# They run as plain processes (no mpirun, no keel_init) and link the
# convenience library directly to reach the keel__ internals.
UNIT_LIBS = runtime/libkeel-core.la $(CUNIT_LIBS)

check_PROGRAMS += tests/unit/test_buf
tests_unit_test_buf_SOURCES = tests/unit/test_buf.c tests/testutil.h
tests_unit_test_buf_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_buf

check_PROGRAMS += tests/unit/test_registry
tests_unit_test_registry_SOURCES = tests/unit/test_registry.c tests/testutil.h
tests_unit_test_registry_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_registry

check_PROGRAMS += tests/unit/test_wire
tests_unit_test_wire_SOURCES = tests/unit/test_wire.c tests/testutil.h
tests_unit_test_wire_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_wire

check_PROGRAMS += tests/unit/test_future
tests_unit_test_future_SOURCES = tests/unit/test_future.c tests/testutil.h
tests_unit_test_future_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_future

check_PROGRAMS += tests/unit/test_completion
tests_unit_test_completion_SOURCES = tests/unit/test_completion.c tests/testutil.h
tests_unit_test_completion_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_completion

check_PROGRAMS += tests/unit/test_error
tests_unit_test_error_SOURCES = tests/unit/test_error.c tests/testutil.h
tests_unit_test_error_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_error

check_PROGRAMS += tests/unit/test_clock
tests_unit_test_clock_SOURCES = tests/unit/test_clock.c tests/testutil.h
tests_unit_test_clock_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_clock

check_PROGRAMS += tests/unit/test_doorbell
tests_unit_test_doorbell_SOURCES = tests/unit/test_doorbell.c tests/testutil.h
tests_unit_test_doorbell_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_doorbell

check_PROGRAMS += tests/unit/test_estimate
tests_unit_test_estimate_SOURCES = tests/unit/test_estimate.c tests/testutil.h
tests_unit_test_estimate_LDADD = $(UNIT_LIBS) -lm
TESTS += tests/unit/test_estimate

check_PROGRAMS += tests/unit/test_env
tests_unit_test_env_SOURCES = tests/unit/test_env.c tests/testutil.h
tests_unit_test_env_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_env

# A task process started from this test binary, which reports what it got.
check_PROGRAMS += tests/unit/test_spawn
tests_unit_test_spawn_SOURCES = tests/unit/test_spawn.c tests/testutil.h
tests_unit_test_spawn_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_spawn

# Submission and back-pressure, no MPI.
check_PROGRAMS += tests/unit/test_executor
tests_unit_test_executor_SOURCES = tests/unit/test_executor.c tests/testutil.h \
	tests/unit/fake.h
tests_unit_test_executor_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_executor

# keel_map_* with its chunks finished by hand, no MPI.
check_PROGRAMS += tests/unit/test_map
tests_unit_test_map_SOURCES = tests/unit/test_map.c tests/testutil.h \
	tests/unit/fake.h
tests_unit_test_map_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_map

# MPI in one process (a singleton, no launcher), talking to itself.
check_PROGRAMS += tests/unit/test_mpiq
tests_unit_test_mpiq_SOURCES = tests/unit/test_mpiq.c tests/testutil.h
tests_unit_test_mpiq_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_mpiq

check_PROGRAMS += tests/unit/test_lifeline
tests_unit_test_lifeline_SOURCES = tests/unit/test_lifeline.c tests/testutil.h
tests_unit_test_lifeline_LDADD = $(UNIT_LIBS) -lpthread
TESTS += tests/unit/test_lifeline

check_PROGRAMS += tests/unit/test_children
tests_unit_test_children_SOURCES = tests/unit/test_children.c tests/testutil.h
tests_unit_test_children_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_children

check_PROGRAMS += tests/unit/test_bind
tests_unit_test_bind_SOURCES = tests/unit/test_bind.c tests/testutil.h
tests_unit_test_bind_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_bind

# The master's scheduling decisions, with a fake master and no MPI.
check_PROGRAMS += tests/unit/test_dispatch
tests_unit_test_dispatch_SOURCES = tests/unit/test_dispatch.c tests/testutil.h \
	tests/unit/fake.h
tests_unit_test_dispatch_LDADD = $(UNIT_LIBS)
TESTS += tests/unit/test_dispatch

# KEEL_ENOMEM through an allocation hook: the runtime's allocations fail on
# demand (the wrappers are in the test).
check_PROGRAMS += tests/unit/test_nomem
tests_unit_test_nomem_SOURCES = tests/unit/test_nomem.c tests/testutil.h
tests_unit_test_nomem_LDADD = $(UNIT_LIBS)
tests_unit_test_nomem_LDFLAGS = -Wl,--wrap=malloc -Wl,--wrap=calloc \
	-Wl,--wrap=realloc -Wl,--wrap=strdup
TESTS += tests/unit/test_nomem
