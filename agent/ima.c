/* Serving the measurement logs. Both files were opened at start (they are
 * readable only by root on a real system), so reads use pread on the open
 * descriptors. The IMA list only grows: the byte offset where the last read
 * ended is remembered, so an attestation that asks for new entries reads
 * only those. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"

#define LOG_MAX ((size_t)64 << 20)

static int read_from(int fd, off_t off, struct buf *out)
{
	for (;;) {
		if (out->len >= LOG_MAX)
			return -1;
		if (buf_reserve(out, 65536) < 0)
			return -1;
		ssize_t n = pread(fd, out->data + out->len, 65536, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		out->len += (size_t)n;
		off += n;
	}
	out->data[out->len] = 0;
	return 0;
}

int agent_ima_read(struct agent *a, uint64_t n, struct buf *out, uint64_t *first)
{
	/* Start from the remembered point when it is not past the entry we
	 * want, else from the beginning. */
	uint64_t entry = 0;
	off_t off = 0;
	if (a->ima_entry <= n) {
		entry = a->ima_entry;
		off = a->ima_offset;
	}
	struct buf tail = BUF_INIT;
	if (read_from(a->ima_fd, off, &tail) < 0) {
		buf_free(&tail);
		return -1;
	}
	size_t pos = 0;
	while (entry < n && pos < tail.len) {
		const char *nl = memchr(tail.data + pos, '\n', tail.len - pos);
		if (!nl)
			break;
		pos = (size_t)((const uint8_t *)nl - tail.data) + 1;
		entry++;
	}
	if (entry < n) {
		/* Asked beyond the end: as Keylime's agents do, send the whole
		 * list from entry 0, which tells the verifier to start over. */
		if (off != 0) {
			buf_reset(&tail);
			if (read_from(a->ima_fd, 0, &tail) < 0) {
				buf_free(&tail);
				return -1;
			}
		}
		entry = 0;
		pos = 0;
		a->ima_entry = 0;
		a->ima_offset = 0;
	} else {
		a->ima_entry = entry;
		a->ima_offset = off + (off_t)pos;
	}
	*first = entry;
	int r = buf_append(out, tail.data + pos, tail.len - pos);
	buf_free(&tail);
	return r;
}

int agent_mb_read(struct agent *a, struct buf *out)
{
	return read_from(a->mb_fd, 0, out);
}
