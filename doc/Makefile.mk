# doc/: man pages and the protocol.
dist_man_MANS += doc/keelrun.1 doc/keel.3
EXTRA_DIST += doc/protocol.md doc/performance.md
