/*
 * jsoncheck — validate JSON from standard input with jansson and check
 * values in it, for the command's tests (no jq needed).
 *
 *   jsoncheck [PATH=VALUE | PATH]...
 *
 * PATH is .key, [index] or # (the length of an array or object), chained:
 * .log[0].value, .regions#. VALUE is compared with the node's compact JSON
 * text (strings without their quotes). A PATH alone prints that text.
 * Exit status: 0, 1 when a check fails, 2 when the input is not JSON.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *walk(json_t *j, const char *path, json_t **owned)
{
	const char *p = path;

	*owned = NULL;
	while (*p && j) {
		if (*p == '.') {
			char key[256];
			size_t n = strcspn(p + 1, ".[#");

			if (n >= sizeof(key))
				return NULL;
			memcpy(key, p + 1, n);
			key[n] = '\0';
			j = json_object_get(j, key);
			p += 1 + n;
		} else if (*p == '[') {
			char *end;
			long i = strtol(p + 1, &end, 10);

			if (*end != ']')
				return NULL;
			j = json_array_get(j, (size_t)(i < 0 ? (long)json_array_size(j) + i : i));
			p = end + 1;
		} else if (*p == '#') {
			size_t n = json_is_array(j) ? json_array_size(j) : json_object_size(j);

			*owned = json_integer((json_int_t)n);
			return *owned;
		} else {
			return NULL;
		}
	}
	return j;
}

static char *text_of(json_t *j)
{
	if (json_is_string(j))
		return strdup(json_string_value(j));
	return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}

int main(int argc, char **argv)
{
	json_error_t err;
	json_t *doc = json_loadf(stdin, 0, &err);
	int status = 0;

	if (!doc) {
		fprintf(stderr, "jsoncheck: not JSON: line %d column %d: %s\n", err.line, err.column, err.text);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		char *arg = strdup(argv[i]), *eq = strchr(arg, '=');
		json_t *owned, *node;
		char *text;

		if (eq)
			*eq = '\0';
		node = walk(doc, arg, &owned);
		if (!node) {
			fprintf(stderr, "jsoncheck: %s: no such node\n", arg);
			status = 1;
			free(arg);
			continue;
		}
		text = text_of(node);
		if (!eq) {
			printf("%s\n", text);
		} else if (strcmp(text, eq + 1)) {
			fprintf(stderr, "jsoncheck: %s is %s, expected %s\n", arg, text, eq + 1);
			status = 1;
		}
		free(text);
		json_decref(owned);
		free(arg);
	}
	json_decref(doc);
	return status;
}
