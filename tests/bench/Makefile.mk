# tests/bench/: benchmarks, built and run by `make bench` (not by check:
# timings do not belong in tests that must pass on a loaded machine).
EXTRA_PROGRAMS = tests/bench/crash_latency
tests_bench_crash_latency_SOURCES = tests/bench/crash_latency.c
tests_bench_crash_latency_LDADD = runtime/libkeel.la
CLEANFILES += $(EXTRA_PROGRAMS)

BENCH_RUN = $(top_srcdir)/tests/run-test
bench: $(EXTRA_PROGRAMS)
	@MPIRUN='$(MPIRUN)' $(BENCH_RUN) tests/bench/crash_latency
.PHONY: bench
