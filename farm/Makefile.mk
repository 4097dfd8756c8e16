# farm/: keel-farm, the task farm behind keelrun --tasks: a keel program
# that runs shell command lines as tasks (it also runs alone).
bin_PROGRAMS += farm/keel-farm
farm_keel_farm_SOURCES = farm/farm.c farm/joblog.c farm/opts.c farm/joblog.h \
	farm/farm_opts.h
farm_keel_farm_LDADD = runtime/libkeel.la
