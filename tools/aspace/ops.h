/*
 * ops — the vocabulary of the scenario language: every op's name, its
 * arguments (name, family of symbolic names, how to print it) and a line
 * of help. The parser, the runner's strace-style echo and `aspace run
 * --help` all read this one table.
 */
#ifndef ASPACE_TOOL_OPS_H
#define ASPACE_TOOL_OPS_H

#include "script.h"

enum {
	OPF_STEP = 1u << 0,   /* acts on the simulation; counts as a step; may take => */
	OPF_RESULT = 1u << 1, /* has a value for $name = ... */
	OPF_VIEW = 1u << 2,   /* prints a view */
};

/*
 * One argument. type: 'a' address (hex, NULL for 0), 'l' length (decimal),
 * 'r' a resource limit (decimal or RLIM_INFINITY),
 * 'f' flags of `fam` (symbolic), 'd' signed decimal, 'x' hex, 'w' a name
 * (process), 'p' a path (word or string).
 */
struct argspec {
	const char *name;
	char type;
	enum family fam;
	bool opt;
	bool has_def;
	uint64_t def;
};

struct opdesc {
	const char *name;
	enum op op;
	unsigned flags;
	char result;          /* how the value prints: 'a' hex, 'd' decimal, 0 none */
	const char *usage;    /* for ops parsed by hand; NULL: from spec */
	const char *help;
	int nspec;
	struct argspec spec[7];
};

const struct opdesc *op_lookup(const char *name, size_t len);
const struct opdesc *op_desc(enum op op);
const char *op_suggest(const char *name, size_t len);
/* "munmap ADDR LENGTH": the op with its arguments, optional ones in []. */
const char *op_usage(const struct opdesc *d, char *buf, size_t len);
/* `aspace run --help`'s list of ops. */
void ops_print_help(FILE *out);

#endif
