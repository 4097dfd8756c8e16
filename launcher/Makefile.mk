# launcher/: keelrun, which starts a keel program under Open MPI's mpirun.
bin_PROGRAMS += launcher/keelrun
launcher_keelrun_SOURCES = launcher/keelrun.c launcher/relay.c launcher/relay.h \
	launcher/farm_opts.h
launcher_keelrun_CFLAGS = $(AM_CFLAGS) $(HWLOC_CFLAGS)
launcher_keelrun_LDADD = $(HWLOC_LIBS)

# keel-farm: the keel program behind keelrun --tasks (also runs alone).
bin_PROGRAMS += launcher/keel-farm
launcher_keel_farm_SOURCES = launcher/farm.c launcher/joblog.c \
	launcher/joblog.h launcher/farm_opts.h
launcher_keel_farm_LDADD = runtime/libkeel.la
