/*
 * Regression tests from `aspace diff` (docs/DIFF.md), and side-by-side
 * tests of the hugetlbfs rules: anonymous MAP_HUGETLB (src/mm/hugetlb.c).
 * This machine has no huge pages reserved (the oracle gives aspace the
 * host's pool): the kernel checks arguments in its own order, refuses
 * every reservation (ENOMEM), maps a MAP_NORESERVE huge mapping (2 MiB,
 * "/anon_hugepage (deleted)") where a fault gets SIGBUS, and keeps the
 * huge page rules of every call. tests/unit/test_hugetlb.c covers a pool.
 */
#include "regress.h"

#define HPA (MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB)
#define HNR (HPA | MAP_NORESERVE)
#define RW (PROT_READ | PROT_WRITE)
#define H2 0x200000ull
#define AT 0x200000000000ull /* the fixed-mapping window, 2 MiB aligned */

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

/* aspace diff --seed 41: mremap rounds a hugetlb mapping's lengths up to huge pages (a no-op here). */
static void test_regress_hugetlb_mremap_rounds_lengths(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x7ffff8000000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE|MAP_HUGETLB, -1, 0),
		ORC_MREMAP(ORC_REF(0, 0), 0x175000ull, 0x9c000ull, MREMAP_MAYMOVE, 0),
	};
	(void)state;
	RG_RUN(seq);
}

/* aspace diff --seed 41: MADV_REMOVE punches hugetlbfs holes (the hole before makes it ENOMEM). */
static void test_regress_hugetlb_remove_punches(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS|MAP_NORESERVE|MAP_HUGETLB|MAP_UNINITIALIZED|0x50000000, -1, 0),
		ORC_MADVISE(ORC_REF(0, -0x3000), 0x4000ull, MADV_REMOVE),
		ORC_MADVISE(ORC_REF(0, 0), 0x4000ull, MADV_REMOVE),
	};
	(void)state;
	RG_RUN(seq);
}

/* Huge page sizes, offsets, hints, types: what mmap refuses and where it places. */
static void test_hugetlb_mmap_arguments(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, RW, HNR | MAP_HUGE_1GB, -1, 0),
		ORC_MMAP_FD(0, 0x1000ull, RW, HNR | (12u << 26), -1, 0),
		ORC_MMAP_FD(0, 0x1000ull, RW, HNR | MAP_HUGE_2MB, -1, 0),
		ORC_MMAP_FD(0, 0x1000ull, RW, HNR, -1, 0x1000),
		ORC_MMAP_FD(0, 0x1000ull, RW, HNR, -1, 0x200000),
		ORC_MMAP_FD(0x40001000ull, 0x1000ull, RW, HNR, -1, 0),
		ORC_MMAP_FD(0, 0x1000ull, RW, MAP_DROPPABLE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE, -1, 0),
		ORC_MMAP_FD(0, 0x1000ull, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE, -1, 0),
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ | PROT_EXEC, HNR | MAP_POPULATE | MAP_LOCKED, -1, 0),
		ORC_MMAP_FD(0, 0x400000ull, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE, -1, 0),
		ORC_MMAP_FD(0, 0x1000ull, RW, HNR | MAP_32BIT, -1, 0),
		ORC_MMAP_FD(0, 0x1000ull, RW, HPA, -1, 0),
		ORC_MMAP_FD(0, 0x1000ull, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

/* No huge page to be had: any access is SIGBUS, also in a fork's child; a failed MAP_FIXED unmaps. */
static void test_hugetlb_sigbus_and_fixed_failure(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(AT, 2 * H2, RW, HNR | MAP_FIXED, -1, 0),
		ORC_READ(AT + 0x1234, 1),
		ORC_WRITE(AT + H2 + 8, 4, 0x5a),
		ORC_FORK(),
		ORC_READ(AT, 1),
		ORC_SWITCH(0),
		ORC_MMAP_FD(AT + 4 * H2, 0x3000, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
		ORC_WRITE(AT + 4 * H2, 16, 0x11),
		ORC_MMAP_FD(AT + 4 * H2, H2, RW, HPA | MAP_FIXED, -1, 0),
		ORC_READ(AT + 4 * H2, 1),
		ORC_MMAP_FD(AT, H2, RW, HPA | MAP_FIXED, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

/* Splits at huge page boundaries only; the advice hugetlb refuses; mlock can't fault it in. */
static void test_hugetlb_region_rules(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(AT, 3 * H2, RW, HNR | MAP_FIXED, -1, 0),
		ORC_MMAP_FD(AT + 4 * H2, 0x1000, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
		ORC_MPROTECT(AT, 0x1000, PROT_READ),
		ORC_MPROTECT(AT + 0x1000, H2, PROT_READ),
		ORC_MPROTECT(AT + H2, H2, PROT_READ),
		ORC_MPROTECT(AT + H2, H2, RW), /* back as it was: hugetlb regions never merge again */
		ORC_MPROTECT(AT + H2, H2, PROT_READ),
		ORC_MUNMAP(AT + 0x1000, 0x1000),
		ORC_MUNMAP(AT + 2 * H2 + 0x1000, H2),
		ORC_MADVISE(AT, H2, MADV_FREE),
		ORC_MADVISE(AT + 0x1000, 0x1000, MADV_DONTNEED),
		ORC_MADVISE(AT, 0x1000, MADV_DONTNEED),
		ORC_MADVISE(AT, H2, 24 /* MADV_DONTNEED_LOCKED */),
		ORC_MADVISE(AT, H2, MADV_WIPEONFORK),
		ORC_MADVISE(AT, H2, MADV_COLD),
		ORC_MADVISE(AT, H2, MADV_PAGEOUT),
		ORC_MADVISE(AT, H2, MADV_MERGEABLE),
		ORC_MADVISE(AT, H2, MADV_HUGEPAGE),
		ORC_MADVISE(AT, 0x1000, MADV_DONTFORK),
		ORC_MADVISE(AT, H2, MADV_DONTFORK),
		ORC_MADVISE(AT, H2, MADV_DONTDUMP),
		ORC_MADVISE(AT, H2, MADV_DODUMP),
		ORC_MADVISE(AT, H2, MADV_POPULATE_READ),
		ORC_MADVISE(AT + 2 * H2, H2, MADV_POPULATE_WRITE),
		ORC_MADVISE(AT, H2, 102 /* MADV_GUARD_INSTALL */),
		ORC_MADVISE(AT, H2, 25 /* MADV_COLLAPSE */),
		ORC_MADVISE(AT, H2, MADV_REMOVE),
		ORC_MLOCK(AT, 0x1000),
		ORC_MLOCK2(AT + 2 * H2, 0x1000, 1 /* MLOCK_ONFAULT */),
		ORC_MUNLOCK(AT, 3 * H2),
		ORC_MLOCKALL(MCL_CURRENT | MCL_ONFAULT), /* MCL_CURRENT alone would fault the harness in */
		ORC_MUNLOCKALL(),
		ORC_MINCORE(AT, 0x3000, AT + 4 * H2),
		ORC_MSYNC(AT, H2, MS_SYNC),
		ORC_MUNMAP(AT + H2, H2),
	};
	(void)state;
	RG_RUN(seq);
}

/* mremap: lengths rounded up, aligned addresses (even an unused new_addr), no growth, moves. */
static void test_hugetlb_mremap_rules(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(AT, 2 * H2, RW, HNR | MAP_FIXED, -1, 0),
		ORC_MREMAP(AT, H2, 2 * H2, MREMAP_MAYMOVE, 0),
		ORC_MREMAP(AT + 0x1000, 0x1000, 0x1000, 0, 0),
		ORC_MREMAP(AT, H2, H2, 0, 0x1000),
		ORC_MREMAP(AT, H2, 0x1000, 0, 0),
		ORC_MREMAP(AT, 2 * H2, H2, 0, 0),
		ORC_MREMAP(AT, H2, H2, MREMAP_MAYMOVE | MREMAP_FIXED, AT + 8 * H2 + 0x1000),
		ORC_MREMAP(AT, H2, H2, MREMAP_MAYMOVE | MREMAP_FIXED, AT + 8 * H2),
		ORC_MREMAP(AT + 8 * H2, H2, H2, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0),
		ORC_MREMAP(AT + 8 * H2, 0, H2, MREMAP_MAYMOVE, 0),
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
		cmocka_unit_test(test_regress_hugetlb_mremap_rounds_lengths),
		cmocka_unit_test(test_regress_hugetlb_remove_punches),
		cmocka_unit_test(test_hugetlb_mmap_arguments),
		cmocka_unit_test(test_hugetlb_sigbus_and_fixed_failure),
		cmocka_unit_test(test_hugetlb_region_rules),
		cmocka_unit_test(test_hugetlb_mremap_rules),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
