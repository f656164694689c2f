#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>

struct as_machine *t_machine_new(uint64_t ram_mib)
{
	struct as_machine_config cfg;
	struct as_machine *m = NULL;

	as_machine_config_init(&cfg);
	cfg.ram_bytes = ram_mib << 20;
	assert_int_equal(as_machine_new(&cfg, &m), 0);
	assert_non_null(m);
	return m;
}

void t_assert_machine_ok(struct as_machine *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc = as_machine_check(m, f);

	fclose(f);
	if (rc != 0)
		fail_msg("machine check failed: %s", buf);
	free(buf);
}

void t_assert_machine_clean(struct as_machine *m)
{
	struct as_machine_stats st;

	as_machine_drain(m);
	t_assert_machine_ok(m);
	as_machine_get_stats(m, &st);
	if (st.open_files != 0 || st.file_caches != 0)
		fail_msg("file objects leaked: %llu host descriptors, %llu page caches still held",
			 (unsigned long long)st.open_files, (unsigned long long)st.file_caches);
	if (st.free_frames + st.reserved_frames != st.total_frames)
		fail_msg("frames leaked: total %llu free %llu reserved %llu slab %llu pgtable %llu user %llu",
			 (unsigned long long)st.total_frames, (unsigned long long)st.free_frames,
			 (unsigned long long)st.reserved_frames, (unsigned long long)st.slab_frames,
			 (unsigned long long)st.pgtable_frames, (unsigned long long)st.user_frames);
}
