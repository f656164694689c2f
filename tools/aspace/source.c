/* Reading a SCRIPT or a LOG for report and the views; see source.h. */
#include "source.h"

#include "cmd.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Does the line at p (up to end) begin as strace writes a line? */
static bool strace_line(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p > 5 && !strncmp(p, "[pid ", 5)) {
		const char *q = memchr(p, ']', (size_t)(end - p));

		if (!q)
			return false;
		p = q + 1;
	} else if (p < end && isdigit((unsigned char)*p)) {
		const char *q = p;

		while (q < end && isdigit((unsigned char)*q))
			q++;
		if (q < end && *q == ' ')
			p = q;
	}
	while (p < end && *p == ' ')
		p++;
	/* A timestamp: 12:34:56.123, 1234.5678 or +0.000123. */
	if (p < end && (isdigit((unsigned char)*p) || *p == '+')) {
		const char *q = p + (*p == '+');

		while (q < end && (isdigit((unsigned char)*q) || *q == ':' || *q == '.'))
			q++;
		if (q > p && q < end && *q == ' ') {
			p = q;
			while (p < end && *p == ' ')
				p++;
		}
	}
	if (end - p >= 4 && (!strncmp(p, "+++ ", 4) || !strncmp(p, "--- ", 4)))
		return true;
	if (end - p >= 5 && !strncmp(p, "<... ", 5))
		return true;
	if (p == end || !(isalpha((unsigned char)*p) || *p == '_'))
		return false;
	while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
		p++;
	return p < end && *p == '(';
}

bool source_is_log(const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end, *q = p;

		while (q < e && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q < e && *q != '#')
			return strace_line(q, e);
		p = nl ? nl + 1 : end;
	}
	return false;
}

int source_read(const char *path, char **out, size_t *outlen)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int err = 0;

	if (!f)
		return -errno;
	for (;;) {
		size_t n;

		if (cap - len < 65536) {
			char *grown = realloc(buf, cap ? 2 * cap : 65536);

			if (!grown) {
				err = -ENOMEM;
				break;
			}
			buf = grown;
			cap = cap ? 2 * cap : 65536;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				err = errno ? -errno : -EIO;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int source_load(const char *cmd, const char *path, struct source *src)
{
	char *buf, err[1024];
	size_t len;
	int rc;

	memset(src, 0, sizeof(*src));
	rc = source_read(path, &buf, &len);
	if (rc) {
		fprintf(stderr, "aspace %s: %s: %s\n", cmd, path, rc == -ENOMEM ? "out of memory" : strerror(-rc));
		return EXIT_USAGE;
	}
	src->name = strdup(strcmp(path, "-") ? path : "<stdin>");
	if (!src->name || memchr(buf, '\0', len)) {
		fprintf(stderr, "aspace %s: %s: %s\n", cmd, path,
			src->name ? "neither a script nor a log (it holds NUL bytes)" : "out of memory");
		free(buf);
		free(src->name);
		src->name = NULL;
		return EXIT_USAGE;
	}
	src->is_log = source_is_log(buf, len);
	if (src->is_log) {
		if (st_parse_text(src->name, buf, len, &src->log, err, sizeof(err))) {
			fprintf(stderr, "aspace %s: %s\n", cmd, err);
			st_free(&src->log);
			free(buf);
			free(src->name);
			src->name = NULL;
			return EXIT_USAGE;
		}
	} else {
		src->script = script_parse(src->name, buf, len, stderr);
		if (!src->script) {
			free(buf);
			free(src->name);
			src->name = NULL;
			return EXIT_USAGE;
		}
	}
	free(buf);
	return 0;
}

void source_free(struct source *src)
{
	if (src->is_log)
		st_free(&src->log);
	script_free(src->script);
	free(src->name);
	memset(src, 0, sizeof(*src));
}
