# examples/: built by make, run under mpirun by make check (tests/run-test).
noinst_PROGRAMS += examples/hello examples/sweep examples/crash
examples_hello_SOURCES = examples/hello.c
examples_hello_LDADD = runtime/libkeel.la
examples_sweep_SOURCES = examples/sweep.c
examples_sweep_LDADD = runtime/libkeel.la -lm
examples_crash_SOURCES = examples/crash.c
examples_crash_LDADD = runtime/libkeel.la
TESTS += examples/hello examples/sweep examples/crash
