# doc/: man pages and the user guide.
EXTRA_DIST += doc/protocol.md
