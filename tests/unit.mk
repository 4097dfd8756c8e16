# tests/unit.mk: unit tests, one CUnit program per runtime module.
