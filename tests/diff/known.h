/*
 * Divergences from the kernel that `aspace diff` found and that are not
 * fixed yet: each regression test named here still runs side by side; if
 * it diverges it is reported as skipped with the reason, and if it matches
 * the kernel the test FAILS so that the entry is removed (the list only
 * shrinks). docs/DIFF.md lists them with their causes.
 */
#ifndef ASPACE_TESTS_KNOWN_H
#define ASPACE_TESTS_KNOWN_H

#include <string.h>

struct known_divergence {
	const char *test;
	const char *why;
};

static const struct known_divergence known_divergences[] = {
	{ "test_regress_droppable_mcl_future_not_locked", "MAP_DROPPABLE regions are never locked by mlockall(MCL_FUTURE)" },
	{ "test_regress_droppable_mcl_onfault_populates", "MAP_DROPPABLE under MCL_ONFAULT: population rules" },
	{ "test_regress_file_map_sync_fixed_unmaps", "MAP_SYNC's EOPNOTSUPP comes after MAP_FIXED unmapped the range" },
	{ "test_regress_file_shared_mprotect_write_fault", "shared file write-notify after mprotect: first write faults" },
	{ "test_regress_file_shared_populate_mprotect_write_fault", "shared file write-notify after populate + mprotect" },
	{ "test_regress_file_shared_wo_mlock_after_truncate", "mlock of a truncated shared file mapping: fault count" },
	{ "test_regress_file_sigbus_maps_nothing", "a SIGBUS file fault must leave the page unmapped" },
	{ "test_regress_file_shared_sigbus_maps_nothing", "a SIGBUS shared file fault must leave the page unmapped" },
	{ "test_regress_file_populate_past_eof", "MADV_POPULATE_READ past EOF maps nothing" },
	{ "test_regress_file_failed_cow_fork_copies", "fork copies page tables of a region whose COW failed" },
	{ "test_regress_file_map_locked_hole_faults", "MAP_LOCKED file mapping with a hole: fault count" },
	{ "test_regress_file_mlock_after_remove", "mlock after MADV_REMOVE: fault count" },
	{ "test_regress_file_shared_populate_write_fault", "write-populate of a shared file mapping: write-notify" },
	{ "test_regress_file_failed_populate_fork_copies", "fork after a failed populate: anon_vma prepared" },
	{ "test_regress_file_failed_cow_no_merge", "a failed COW still prepares the anon object (no merge)" },
	{ "test_regress_file_pageout", "MADV_PAGEOUT of file pages" },
	{ "test_regress_file_mremap_grow_locked", "mremap growing a locked shared file mapping past EOF: Rss" },
	{ "test_regress_lazyfree_populate_read_drains", "MADV_POPULATE_READ of a PROT_NONE file mapping drains the lazy-free batch" },
	{ "test_regress_file_fault_sequential_after_truncate", "fault-around after a host truncation: pages mapped" },
	{ "test_regress_hugetlb_noreserve_maps", "MAP_HUGETLB is not modelled (hugetlbfs)" },
	{ "test_regress_hugetlb_growsdown_einval", "MAP_HUGETLB is not modelled (hugetlbfs)" },
	{ "test_regress_hugetlb_huge_len_einval", "MAP_HUGETLB is not modelled (hugetlbfs)" },
	{ "test_regress_hugetlb_fixed_unaligned_einval", "MAP_HUGETLB is not modelled (hugetlbfs)" },
	{ "test_regress_pageout_shmem", "MADV_PAGEOUT of shmem pages (no swap model)" },
	{ "test_regress_collapse_thp_disabled", "MADV_COLLAPSE with THP disabled for the process" },
	{ "test_regress_mincore_unprivileged_file", "mincore of a file mapping as an unprivileged process" },
};

/* The reason a test is a known divergence, or NULL. */
static inline const char *known_divergence(const char *test)
{
	for (size_t i = 0; i < sizeof(known_divergences) / sizeof(known_divergences[0]); i++)
		if (!strcmp(known_divergences[i].test, test))
			return known_divergences[i].why;
	return NULL;
}

#endif
