# tests/fuzz/: the wire decoders under libFuzzer.  `make fuzz` builds
# fuzz_wire with clang (-fsanitize=fuzzer,address,undefined), runs it for
# FUZZ_SECONDS from the corpus and merges what it finds into the corpus;
# make check replays the corpus through the same target (fuzz_replay).
check_PROGRAMS += tests/fuzz/fuzz_replay
tests_fuzz_fuzz_replay_SOURCES = tests/fuzz/fuzz_replay.c tests/fuzz/fuzz_wire.c
tests_fuzz_fuzz_replay_CFLAGS = $(AM_CFLAGS) \
	-DCORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus"'
tests_fuzz_fuzz_replay_LDADD = $(UNIT_LIBS)
TESTS += tests/fuzz/fuzz_replay
EXTRA_DIST += tests/fuzz/corpus

FUZZ_CC = clang
FUZZ_SECONDS = 600
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined $(AM_CPPFLAGS) -I$(top_builddir)
FUZZ_SRC = $(top_srcdir)/tests/fuzz/fuzz_wire.c \
	$(top_srcdir)/runtime/proto/wire.c $(top_srcdir)/runtime/common/buf.c \
	$(top_srcdir)/runtime/common/log.c

tests/fuzz/fuzz_wire: $(FUZZ_SRC) $(top_srcdir)/runtime/proto/wire.h
	@$(MKDIR_P) tests/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(FUZZ_SRC)

fuzz: tests/fuzz/fuzz_wire tests/fuzz/fuzz_replay
	rm -rf tests/fuzz/work && $(MKDIR_P) tests/fuzz/work
	tests/fuzz/fuzz_replay --seed $(top_srcdir)/tests/fuzz/corpus
	tests/fuzz/fuzz_wire -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -print_final_stats=1 tests/fuzz/work $(top_srcdir)/tests/fuzz/corpus
	tests/fuzz/fuzz_wire -merge=1 $(top_srcdir)/tests/fuzz/corpus \
	  tests/fuzz/work
.PHONY: fuzz
CLEANFILES += tests/fuzz/fuzz_wire
