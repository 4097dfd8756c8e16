# runtime/: libkeel.  Every object is built once into a convenience
# library, which the unit tests link directly (they reach keel__ internals);
# the installed libkeel.so exports only the keel_ API.
noinst_LTLIBRARIES += runtime/libkeel-core.la
runtime_libkeel_core_la_SOURCES = \
	runtime/keel.h runtime/keel_int.h \
	runtime/error.c runtime/buf.c runtime/registry.c runtime/clock.c \
	runtime/wire.c runtime/future.c runtime/completion.c runtime/map.c \
	runtime/executor.c runtime/dispatch.c runtime/master.c runtime/ranks.c \
	runtime/mpiq.h runtime/mpiq.c runtime/nanny.c runtime/spawn.c runtime/taskproc.c runtime/bind.c \
	runtime/init.c runtime/lifeline.c runtime/strays.c runtime/doorbell.c
runtime_libkeel_core_la_CFLAGS = $(AM_CFLAGS) $(HWLOC_CFLAGS) \
	-fvisibility=hidden
runtime_libkeel_core_la_LIBADD = $(HWLOC_LIBS) -lm

lib_LTLIBRARIES += runtime/libkeel.la
runtime_libkeel_la_SOURCES =
runtime_libkeel_la_LIBADD = runtime/libkeel-core.la
runtime_libkeel_la_LDFLAGS = -version-info 0:0:0
include_HEADERS += runtime/keel.h
