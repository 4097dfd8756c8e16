# launcher/: keelrun, which starts a keel program (or the task farm) under
# mpirun, and keel-rank, which mpirun starts in front of each rank.
# Neither links libkeel.
bin_PROGRAMS += launcher/keelrun
launcher_keelrun_SOURCES = launcher/keelrun.c launcher/alloc.c \
	launcher/cmd.c launcher/launcher.h launcher/relay.c \
	launcher/relay.h farm/farm_opts.h farm/opts.c farm/joblog.h \
	farm/joblog.c \
	runtime/sys/fd.c
launcher_keelrun_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir) \
	-DKEEL_LIBEXECDIR='"$(pkglibexecdir)"' -DKEEL_MPIRUN='"$(MPIRUN)"'
launcher_keelrun_CFLAGS = $(AM_CFLAGS) $(HWLOC_CFLAGS)
launcher_keelrun_LDADD = $(HWLOC_LIBS)

pkglibexec_PROGRAMS = launcher/keel-rank
launcher_keel_rank_SOURCES = launcher/rank.c runtime/sys/children.c
launcher_keel_rank_LDADD =
