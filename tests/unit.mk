# tests/unit.mk: unit tests, one CUnit program per runtime module.
# They run as plain processes (no mpirun, no keel_init) and link the
# convenience library directly to reach the keel__ internals.
UNIT_LIBS = runtime/libkeel-core.la $(CUNIT_LIBS)

check_PROGRAMS += tests/test_buf
tests_test_buf_SOURCES = tests/test_buf.c tests/testutil.h
tests_test_buf_LDADD = $(UNIT_LIBS)
TESTS += tests/test_buf

check_PROGRAMS += tests/test_registry
tests_test_registry_SOURCES = tests/test_registry.c tests/testutil.h
tests_test_registry_LDADD = $(UNIT_LIBS)
TESTS += tests/test_registry

check_PROGRAMS += tests/test_wire
tests_test_wire_SOURCES = tests/test_wire.c tests/testutil.h
tests_test_wire_LDADD = $(UNIT_LIBS)
TESTS += tests/test_wire

check_PROGRAMS += tests/test_future
tests_test_future_SOURCES = tests/test_future.c tests/testutil.h
tests_test_future_LDADD = $(UNIT_LIBS)
TESTS += tests/test_future

check_PROGRAMS += tests/test_completion
tests_test_completion_SOURCES = tests/test_completion.c tests/testutil.h
tests_test_completion_LDADD = $(UNIT_LIBS)
TESTS += tests/test_completion

check_PROGRAMS += tests/test_error
tests_test_error_SOURCES = tests/test_error.c tests/testutil.h
tests_test_error_LDADD = $(UNIT_LIBS)
TESTS += tests/test_error

check_PROGRAMS += tests/test_clock
tests_test_clock_SOURCES = tests/test_clock.c tests/testutil.h
tests_test_clock_LDADD = $(UNIT_LIBS)
TESTS += tests/test_clock

check_PROGRAMS += tests/test_doorbell
tests_test_doorbell_SOURCES = tests/test_doorbell.c tests/testutil.h
tests_test_doorbell_LDADD = $(UNIT_LIBS)
TESTS += tests/test_doorbell
