/* file: whole-file reads with a size bound, atomic writes with a mode. */
#ifndef ASSAY_UTIL_FILE_H
#define ASSAY_UTIL_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "util/buf.h"

/* Reads at most max bytes; a larger file is an error (errno EFBIG). */
int file_read(const char *path, size_t max, struct buf *out);
/* Writes to a temporary file in the same directory, fsyncs it, renames it
 * over path and fsyncs the directory: readers see the old or the new
 * contents, never a mix. */
int file_write_atomic(const char *path, const void *p, size_t n, mode_t mode);
/* out = dir "/" name. Returns -1 (errno ENAMETOOLONG) when it does not fit:
 * a silently truncated path could name another file. */
int path_join(char *out, size_t n, const char *dir, const char *name);
/* Creates a directory (and its parents) with the given mode if missing. */
int file_mkdirs(const char *path, mode_t mode);

#endif
