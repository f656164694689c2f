/*
 * Regression tests from `aspace diff` (docs/DIFF.md): anonymous MAP_HUGETLB.
 * This machine has no huge pages reserved; the kernel still checks
 * arguments in its own order, and maps a MAP_NORESERVE huge mapping (2 MiB,
 * "/anon_hugepage (deleted)"; a fault there would get SIGBUS). aspace
 * answers ENOMEM to every anonymous MAP_HUGETLB. They fail until fixed.
 */
#include "regress.h"

/* kernel 0x7ffff7c00000 (a 2 MiB region), aspace -ENOMEM */
static void test_regress_hugetlb_noreserve_maps(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE|MAP_HUGETLB, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

/* kernel -EINVAL, aspace -ENOMEM */
static void test_regress_hugetlb_growsdown_einval(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_GROWSDOWN|MAP_HUGETLB, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

/* kernel -EINVAL (a length that rounds past the top), aspace -ENOMEM */
static void test_regress_hugetlb_huge_len_einval(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, (uint64_t)-4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

/* A fixed address that is not 2 MiB aligned: kernel -EINVAL, aspace -ENOMEM */
static void test_regress_hugetlb_fixed_unaligned_einval(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x40001000ull, 0x1000ull, PROT_READ|PROT_WRITE,
			    MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS|MAP_HUGETLB|MAP_FIXED_NOREPLACE, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regress_hugetlb_noreserve_maps),
		cmocka_unit_test(test_regress_hugetlb_growsdown_einval),
		cmocka_unit_test(test_regress_hugetlb_huge_len_einval),
		cmocka_unit_test(test_regress_hugetlb_fixed_unaligned_einval),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
