# launcher/: keelrun, which starts a keel program under Open MPI's mpirun.
bin_PROGRAMS += launcher/keelrun
launcher_keelrun_SOURCES = launcher/keelrun.c
