/* Fuzz target: toml_parse() on arbitrary bytes.
 *
 * Besides "no crash, no leak", it checks the promises of the API: a refusal
 * always carries "line N: ...", and an accepted document can be walked with
 * every accessor. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_scalar(const struct toml_value *v)
{
	struct toml_datetime dt;
	size_t len;

	switch (toml_type(v)) {
	case TOML_STRING:
		if (!toml_string(v, &len) || toml_string(v, NULL)[len])
			abort();
		break;
	case TOML_INTEGER:
	case TOML_FLOAT:
	case TOML_BOOL:
		(void)toml_int(v);
		(void)toml_float(v);
		(void)toml_bool(v);
		break;
	default:
		if (toml_datetime(v, &dt) < 0)
			abort();
		break;
	}
}

/* The child i of a container, or NULL when it has no more. */
static const struct toml_value *child(const struct toml_value *v, size_t i)
{
	const struct toml_value *item = NULL;
	const char *k;
	size_t keylen;

	if (toml_type(v) == TOML_ARRAY)
		return toml_array_at(v, i);
	k = toml_table_key_at(v, i, &keylen, &item);
	if (!k)
		return NULL;
	if (!item || k[keylen] != '\0')
		abort();
	/* NUL-free keys must be found by name */
	if (strlen(k) == keylen && toml_table_get(v, k) != item)
		abort();
	return item;
}

/* Depth-first with an explicit stack: the depth is capped by toml.h. */
static void walk(const struct toml_value *root)
{
	struct {
		const struct toml_value *v;
		size_t next;
	} stack[TOML_MAX_DEPTH + 1];
	const struct toml_value *c;
	int top = 0;

	stack[0].v = root;
	stack[0].next = 0;
	while (top >= 0) {
		c = child(stack[top].v, stack[top].next++);
		if (!c) {
			top--;
			continue;
		}
		if (toml_line(c) < 1)
			abort();
		if (toml_type(c) != TOML_TABLE && toml_type(c) != TOML_ARRAY) {
			check_scalar(c);
			continue;
		}
		if (top == TOML_MAX_DEPTH)
			abort();	/* deeper than the parser allows */
		top++;
		stack[top].v = c;
		stack[top].next = 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	struct toml_value *root;
	int line;

	root = toml_parse((const char *)data, size, err, sizeof(err));
	if (!root) {
		if (sscanf(err, "line %d: ", &line) != 1 || line < 1)
			abort();
		return 0;
	}
	walk(root);
	toml_free(root);
	return 0;
}
