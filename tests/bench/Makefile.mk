# tests/bench/: benchmarks, built by `make bench` (not by check: timings do
# not belong in tests that must pass on a loaded machine).  tests/bench/
# compare runs them and prints keel's figures; `make compare` adds the
# peers (ProcessPoolExecutor, loky, mpi4py.futures) side by side.
BENCH_KEEL = tests/bench/crash_latency tests/bench/rank_loss \
	tests/bench/throughput tests/bench/growth tests/bench/idle \
	tests/bench/mixed tests/bench/grain tests/bench/payload
BENCH_MPI = tests/bench/pingpong tests/bench/mpi_hello tests/bench/hops \
	tests/bench/handmw
EXTRA_PROGRAMS = $(BENCH_KEEL) $(BENCH_MPI)
tests_bench_crash_latency_SOURCES = tests/bench/crash_latency.c \
	tests/bench/bench.h
tests_bench_rank_loss_SOURCES = tests/bench/rank_loss.c tests/bench/bench.h
tests_bench_throughput_SOURCES = tests/bench/throughput.c tests/bench/bench.h
tests_bench_growth_SOURCES = tests/bench/growth.c tests/bench/bench.h
tests_bench_idle_SOURCES = tests/bench/idle.c tests/bench/bench.h
tests_bench_mixed_SOURCES = tests/bench/mixed.c tests/bench/bench.h
tests_bench_grain_SOURCES = tests/bench/grain.c tests/bench/bench.h \
	tests/bench/spin.h
tests_bench_crash_latency_LDADD = runtime/libkeel.la
tests_bench_rank_loss_LDADD = runtime/libkeel.la
tests_bench_throughput_LDADD = runtime/libkeel.la
tests_bench_growth_LDADD = runtime/libkeel.la
tests_bench_idle_LDADD = runtime/libkeel.la
tests_bench_mixed_LDADD = runtime/libkeel.la
tests_bench_grain_LDADD = runtime/libkeel.la
tests_bench_payload_SOURCES = tests/bench/payload.c tests/bench/bench.h
tests_bench_payload_LDADD = runtime/libkeel.la -lpthread
tests_bench_pingpong_SOURCES = tests/bench/pingpong.c
tests_bench_mpi_hello_SOURCES = tests/bench/mpi_hello.c
tests_bench_hops_SOURCES = tests/bench/hops.c
tests_bench_handmw_SOURCES = tests/bench/handmw.c tests/bench/spin.h
CLEANFILES += $(EXTRA_PROGRAMS)
EXTRA_DIST += tests/bench/compare tests/bench/peers.py tests/bench/across-hosts \
	tests/bench/spin.h

BENCH_DEPS = $(EXTRA_PROGRAMS) launcher/keelrun examples/hello
bench: $(BENCH_DEPS)
	$(top_srcdir)/tests/bench/compare --no-peers
compare: $(BENCH_DEPS)
	$(top_srcdir)/tests/bench/compare
# CI: every benchmark built and run once, so that none rots unnoticed.
bench-smoke: $(BENCH_DEPS)
	$(top_srcdir)/tests/bench/compare --no-peers --smoke
.PHONY: bench compare bench-smoke
