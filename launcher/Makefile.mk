# launcher/: keelrun, which starts a keel program under Open MPI's mpirun.
bin_PROGRAMS += launcher/keelrun
launcher_keelrun_SOURCES = launcher/keelrun.c launcher/relay.c launcher/relay.h
launcher_keelrun_CFLAGS = $(AM_CFLAGS) $(HWLOC_CFLAGS)
launcher_keelrun_LDADD = $(HWLOC_LIBS)
