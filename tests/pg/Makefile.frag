# tests/pg/Makefile.frag - build rules for the PostgreSQL pieces, for the
# main Makefile to include once it builds core/store/ (it does not include
# this yet: it is being rewritten). Works on its own too:
#
#   make -f tests/pg/Makefile.frag pgconn-test  # the unit test binary (ASan/UBSan)
#   make -f tests/pg/Makefile.frag pgconn-obj   # core/store/cg_pgconn.o
#   make -f tests/pg/Makefile.frag pgtest       # the harness test: private
#                                               # cluster, builds and runs
#                                               # test_pgconn itself
#
# Only objects under core/store/ see libpq. cg_pgconn.c needs -pthread (a
# cancel request runs in a helper thread).
#
# Note for the main Makefile: tests/unit/test_pgconn.c matches the generic
# tests/unit/test_*.c rule; compiled that way (no -DCG_WITH_LIBPQ, no libpq)
# it is a stub that prints "test_pgconn: 0 passed, 0 failed". The real test
# needs a running server (CG_TEST_PG_URI), which test_pg_harness.sh provides.

BUILD    ?= build
PG_CC    ?= gcc
PG_CFLAGS := $(shell pkg-config --cflags libpq)
PG_LIBS  := $(shell pkg-config --libs libpq)
PG_WARN  := -std=c11 -Wall -Wextra -Werror
PG_SAN   := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

$(BUILD)/core/store/cg_pgconn.o: core/store/cg_pgconn.c core/store/cg_pgconn.h
	@mkdir -p $(dir $@)
	$(PG_CC) $(PG_WARN) -O2 -g -fPIC -pthread $(PG_CFLAGS) -c -o $@ $<

$(BUILD)/tests/pg/test_pgconn: tests/unit/test_pgconn.c core/store/cg_pgconn.c core/store/cg_pgconn.h
	@mkdir -p $(dir $@)
	$(PG_CC) $(PG_WARN) $(PG_SAN) -pthread -DCG_WITH_LIBPQ $(PG_CFLAGS) -o $@ \
		tests/unit/test_pgconn.c core/store/cg_pgconn.c $(PG_LIBS)

.PHONY: pgconn-obj pgconn-test pgtest
pgconn-obj: $(BUILD)/core/store/cg_pgconn.o
pgconn-test: $(BUILD)/tests/pg/test_pgconn
pgtest:
	bash tests/e2e/test_pg_harness.sh $(BUILD)
