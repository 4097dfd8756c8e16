# doc/: man pages, the user guide, the design as built, the protocol, the
# figures.
dist_man_MANS += doc/keelrun.1 doc/keel.3
EXTRA_DIST += doc/design.md doc/protocol.md doc/performance.md doc/scaling.md \
	doc/mpich.md doc/guide.md

# The guide's samples: built by make check, run under keelrun and compared
# with the text of doc/guide.md by tests/scripts/guide.
GUIDE_SAMPLES = doc/guide/submit doc/guide/wait doc/guide/map \
	doc/guide/crash doc/guide/limits doc/guide/callback doc/guide/drain \
	doc/guide/errors
check_PROGRAMS += $(GUIDE_SAMPLES)
doc_guide_submit_SOURCES = doc/guide/submit.c
doc_guide_submit_LDADD = runtime/libkeel.la
doc_guide_wait_SOURCES = doc/guide/wait.c
doc_guide_wait_LDADD = runtime/libkeel.la
doc_guide_map_SOURCES = doc/guide/map.c
doc_guide_map_LDADD = runtime/libkeel.la
doc_guide_crash_SOURCES = doc/guide/crash.c
doc_guide_crash_LDADD = runtime/libkeel.la
doc_guide_limits_SOURCES = doc/guide/limits.c
doc_guide_limits_LDADD = runtime/libkeel.la
doc_guide_callback_SOURCES = doc/guide/callback.c
doc_guide_callback_LDADD = runtime/libkeel.la
doc_guide_drain_SOURCES = doc/guide/drain.c
doc_guide_drain_LDADD = runtime/libkeel.la
doc_guide_errors_SOURCES = doc/guide/errors.c
doc_guide_errors_LDADD = runtime/libkeel.la
EXTRA_DIST += doc/guide/farm.sbatch doc/guide/commands.txt
