/*
 * The folio flags a host page-cache page already carries when aspace binds
 * it (docs/linux-semantics.md §12.3, docs/FILES.md): the kernel child and
 * aspace share the host file's page cache, so a page whose entries are old
 * (a forked child's) shows Referenced: only if its folio has PG_referenced,
 * set by whoever touched the page before.
 */
#include "regress.h"

/* A private file region with an anon object, fork: the child's file page entry is old */
static void test_child_sees_host_folio_flag(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x2000ull, PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0x1000ull),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_WRITE(ORC_REF(0, 0x1000), 1, 0x5aull),
		ORC_FORK(),
		ORC_EXIT(1),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_cand_a(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x4000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(1), 0xf000ull),
		ORC_MMAP_FD(ORC_REF(0, 0x4000), 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED, RG_FD(0), 0x3000ull),
		ORC_WRITE(ORC_REF(1, 0xff1), 1, 0x3bull),
		ORC_READ(ORC_REF(0, 0x354c), 1),
		ORC_WRITE(ORC_REF(0, 0x1000), 1, 0xc3ull),
		ORC_FORK(),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_cand_b(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_SHARED, RG_FD(1), 0xa000ull),
		ORC_FORK(),
		ORC_MMAP_FD(ORC_REF(0, 0), 0xc000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(1), 0),
		ORC_MREMAP(0x7ffff7ffd000ull, 0x1000ull, 0x3000ull, MREMAP_MAYMOVE, 0),
		ORC_READ(ORC_REF(3, 0x2a85), 0x1000ull),
		ORC_WRITE(ORC_REF(2, 0x6000), 1, 0x20ull),
		ORC_FORK(),
		ORC_EXIT(2),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_cand_c(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x2000ull, PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0x1000ull),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_WRITE(ORC_REF(0, 0x1000), 1, 0x5aull),
		ORC_FORK(),
		ORC_SWITCH(1),
	};
	(void)state;
	RG_RUN(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_child_sees_host_folio_flag),
		cmocka_unit_test(test_cand_a),
		cmocka_unit_test(test_cand_b),
		cmocka_unit_test(test_cand_c),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
