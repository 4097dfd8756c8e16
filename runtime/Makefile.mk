# runtime/: libkeel, one folder per role (doc/design.md).  Every object is
# built once into a convenience library, which the unit tests link
# directly (they reach keel__ internals); the installed libkeel.so exports
# only the keel_ API.
noinst_LTLIBRARIES += runtime/libkeel-core.la
runtime_libkeel_core_la_SOURCES = \
	include/keel.h runtime/keel_int.h runtime/queue.h runtime/init.c \
	runtime/common/buf.c runtime/common/error.c runtime/common/log.c \
	runtime/common/lock.c runtime/common/estimate.c runtime/common/env.c \
	runtime/common/registry.c \
	runtime/sys/sys.h runtime/sys/clock.c runtime/sys/backoff.c \
	runtime/sys/fd.c runtime/sys/children.c \
	runtime/sys/doorbell.c runtime/sys/lifeline.c runtime/sys/bind.c \
	runtime/sys/threads.c \
	runtime/proto/wire.h runtime/proto/wire.c runtime/proto/channel.h \
	runtime/proto/mpiq.h runtime/proto/sendq.c runtime/proto/recvq.c \
	runtime/proto/comm.h runtime/proto/comm.c \
	runtime/proto/launch.c \
	runtime/api/api.h runtime/api/hub.c runtime/api/future.c \
	runtime/api/completion.c runtime/api/executor.c runtime/api/map.c \
	runtime/api/drain.c runtime/api/callback.c runtime/api/printed.c \
	runtime/api/arg.c \
	runtime/master/master.h runtime/master/guard.c runtime/master/ranks.c \
	runtime/master/transport.c runtime/master/watch.c \
	runtime/master/output.c runtime/master/report.c \
	runtime/master/dispatch.c \
	runtime/master/manager.c \
	runtime/worker/worker.h runtime/worker/symbolize.c \
	runtime/worker/spawn.c \
	runtime/worker/uplink.c runtime/worker/lines.c runtime/worker/shmbuf.c \
	runtime/worker/slot.c runtime/worker/nanny.c \
	runtime/task/task.h runtime/task/taskproc.c
runtime_libkeel_core_la_CFLAGS = $(AM_CFLAGS) $(HWLOC_CFLAGS) \
	$(LIBDW_CFLAGS) -fvisibility=hidden
runtime_libkeel_core_la_LIBADD = $(HWLOC_LIBS) $(LIBDW_LIBS) -lm

lib_LTLIBRARIES += runtime/libkeel.la
runtime_libkeel_la_SOURCES =
runtime_libkeel_la_LIBADD = runtime/libkeel-core.la
runtime_libkeel_la_LDFLAGS = -version-info 0:0:0
include_HEADERS += include/keel.h
