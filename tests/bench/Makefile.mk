# tests/bench/: benchmarks, built and run by `make bench` (not by check:
# timings do not belong in tests that must pass on a loaded machine).
EXTRA_PROGRAMS = tests/bench/crash_latency tests/bench/rank_loss \
	tests/bench/throughput
tests_bench_crash_latency_SOURCES = tests/bench/crash_latency.c \
	tests/bench/bench.h
tests_bench_crash_latency_LDADD = runtime/libkeel.la
tests_bench_rank_loss_SOURCES = tests/bench/rank_loss.c tests/bench/bench.h
tests_bench_rank_loss_LDADD = runtime/libkeel.la
tests_bench_throughput_SOURCES = tests/bench/throughput.c tests/bench/bench.h
tests_bench_throughput_LDADD = runtime/libkeel.la
CLEANFILES += $(EXTRA_PROGRAMS)

BENCH_RUN = $(top_srcdir)/tests/run-test
bench: $(EXTRA_PROGRAMS)
	@MPIRUN='$(MPIRUN)' KEELRUN='$(abs_top_builddir)/launcher/keelrun' \
	  $(BENCH_RUN) tests/bench/crash_latency
	@$(BENCH_RUN) tests/bench/rank_loss
	@MPIRUN='$(MPIRUN)' KEELRUN='$(abs_top_builddir)/launcher/keelrun' \
	  $(BENCH_RUN) tests/bench/throughput
.PHONY: bench
