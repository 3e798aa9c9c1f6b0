/* zip: extracts a ZIP archive (stored and deflated members) from memory.
 *
 * Keylime payloads are ZIP files. The reader trusts nothing in them: every
 * offset and size is checked against the buffer, member names must be
 * relative paths without "..", sizes are bounded, and each member's CRC-32
 * must match. Symbolic links and other special members are refused. */
#ifndef ASSAY_UTIL_ZIP_H
#define ASSAY_UTIL_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define ZIP_MAX_MEMBERS 4096
#define ZIP_MAX_TOTAL ((size_t)256 << 20)	/* uncompressed, all members */

/* Called for each member in archive order. data is NULL for a directory.
 * A non-zero return stops the walk and becomes zip_walk's result. */
typedef int (*zip_member_fn)(const char *name, const uint8_t *data, size_t len,
			     void *arg);

/* Returns 0 when every member was read and accepted, -1 with err set for a
 * malformed archive, or the callback's non-zero value. */
int zip_walk(const uint8_t *p, size_t n, zip_member_fn fn, void *arg,
	     char *err, size_t errlen);
/* True when p starts like a ZIP archive. */
int zip_is_archive(const uint8_t *p, size_t n);
/* Extracts into dir (which must exist), files 0600 and directories 0700.
 * Creates nothing outside dir. */
int zip_extract(const uint8_t *p, size_t n, const char *dir, char *err,
		size_t errlen);

/* Builds an archive (members stored, not compressed): the tenant packs a
 * payload directory with it, tests make archives with it. */
struct zip_writer {
	struct buf data;	/* local headers and contents */
	struct buf central;	/* central directory entries */
	unsigned count;
};

int zip_writer_add(struct zip_writer *w, const char *name, const uint8_t *p,
		   size_t n);
/* Appends the finished archive to out and frees the writer's buffers. */
int zip_writer_finish(struct zip_writer *w, struct buf *out);

#endif
