# tests/: CUnit programs.
