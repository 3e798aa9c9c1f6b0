/* toml: a strict TOML 1.0 reader.
 *
 * toml_parse() turns a whole document into a tree of values and either
 * succeeds completely or fails with "line N: message": there is no partial
 * result and no lenient mode, because a config file that is half understood
 * is worse than one that is refused.
 *
 * Limits (hostile input): TOML_MAX_INPUT bytes, TOML_MAX_DEPTH levels of
 * nested tables/arrays (counting tables made by headers and dotted keys),
 * TOML_MAX_VALUES values in all (which bounds the tree to roughly 64 MiB).
 * Tables keep their keys in insertion order.
 *
 * Accessors take const pointers and are NULL-safe: asking a value of the
 * wrong type (or NULL) for something returns NULL/0/false, so callers check
 * toml_type() first when the difference matters (it is TOML_NONE for the
 * NULL that toml_table_get() returns for a missing key). */
#ifndef ASSAY_CONFIG_TOML_H
#define ASSAY_CONFIG_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOML_MAX_INPUT ((size_t)16 << 20)
#define TOML_MAX_DEPTH 128
#define TOML_MAX_VALUES (1 << 18)

enum toml_type {
	TOML_NONE,		/* toml_type(NULL): a key that is not there */
	TOML_TABLE,
	TOML_ARRAY,
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,		/* offset date-time: date, time and offset */
	TOML_DATETIME_LOCAL,	/* date and time, no offset */
	TOML_DATE_LOCAL,	/* date only */
	TOML_TIME_LOCAL,	/* time only */
};

/* The parts a date/time value has are flagged; the others are zero.
 * Fractions beyond nanoseconds are truncated, as TOML allows. */
struct toml_datetime {
	int year, month, day;
	int hour, minute, second;
	int nanosecond;
	int offset_minutes;	/* east of UTC; "Z" is 0 */
	bool has_date, has_time, has_offset;
};

struct toml_value;

/* Parses text (not necessarily NUL-terminated). Returns the root table, or
 * NULL with err set to "line N: message". err may be NULL. */
struct toml_value *toml_parse(const char *text, size_t len,
			      char *err, size_t errlen);
void toml_free(struct toml_value *v);

enum toml_type toml_type(const struct toml_value *v);
/* "table", "array", "string", "integer", "float", "boolean", "datetime",
 * "local datetime", "local date", "local time"; "nothing" for TOML_NONE. */
const char *toml_type_name(enum toml_type t);
/* The 1-based line where the value starts in the document. */
int toml_line(const struct toml_value *v);

/* Tables. Keys may contain NUL (via "\u0000"); toml_table_get() can only
 * look up keys without one, toml_table_key_at() reports the true length. */
const struct toml_value *toml_table_get(const struct toml_value *table,
					const char *key);
size_t toml_table_len(const struct toml_value *table);
const char *toml_table_key_at(const struct toml_value *table, size_t i,
			      size_t *keylen, const struct toml_value **value);

/* Arrays. */
size_t toml_array_len(const struct toml_value *array);
const struct toml_value *toml_array_at(const struct toml_value *array,
				       size_t i);

/* Scalars. Strings are NUL-terminated but may contain NUL: use len. */
const char *toml_string(const struct toml_value *v, size_t *len);
int64_t toml_int(const struct toml_value *v);
double toml_float(const struct toml_value *v);
bool toml_bool(const struct toml_value *v);
/* Fills dt for any of the four date/time types; returns -1 otherwise. */
int toml_datetime(const struct toml_value *v, struct toml_datetime *dt);

#endif
