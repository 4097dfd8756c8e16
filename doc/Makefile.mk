# doc/: man pages, the design as built, the protocol, the figures.
dist_man_MANS += doc/keelrun.1 doc/keel.3
EXTRA_DIST += doc/design.md doc/protocol.md doc/performance.md doc/scaling.md \
	doc/mpich.md
