#include "util/zip.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "util/buf.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u

int zip_is_archive(const uint8_t *p, size_t n)
{
	return n >= 4 && p[0] == 'P' && p[1] == 'K' && p[2] == 3 && p[3] == 4;
}

/* The end-of-central-directory record is in the last 22 + 65535 bytes. */
static long find_end(const uint8_t *p, size_t n)
{
	if (n < 22)
		return -1;
	size_t min = n > 22 + 65535 ? n - 22 - 65535 : 0;
	for (size_t i = n - 22 + 1; i-- > min;) {
		struct cursor c = cursor_init(p + i, n - i);
		if (cursor_le32(&c) == SIG_END)
			return (long)i;
	}
	return -1;
}

static int name_ok(const char *s)
{
	if (!*s || *s == '/' || strchr(s, '\\'))
		return 0;
	/* No empty, "." or ".." component anywhere. */
	for (const char *p = s; *p;) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if ((len == 0 && e && e[1]) || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += len + (e ? 1 : 0);
	}
	return 1;
}

static int inflate_raw(const uint8_t *in, size_t in_len, uint8_t *out,
		       size_t out_len)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, -15) != Z_OK)
		return -1;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)in_len;
	z.next_out = out;
	z.avail_out = (uInt)out_len;
	int r = inflate(&z, Z_FINISH);
	int ok = r == Z_STREAM_END && z.total_out == out_len;
	inflateEnd(&z);
	return ok ? 0 : -1;
}

int zip_walk(const uint8_t *p, size_t n, zip_member_fn fn, void *arg,
	     char *err, size_t errlen)
{
	if (n > UINT32_MAX) {
		snprintf(err, errlen, "archive too large");
		return -1;
	}
	long end = find_end(p, n);
	if (end < 0) {
		snprintf(err, errlen, "not a ZIP archive (no end record)");
		return -1;
	}
	struct cursor e = cursor_init(p + end + 4, n - (size_t)end - 4);
	uint16_t disk = cursor_le16(&e), cd_disk = cursor_le16(&e);
	uint16_t count_here = cursor_le16(&e), count = cursor_le16(&e);
	uint32_t cd_size = cursor_le32(&e), cd_off = cursor_le32(&e);
	if (e.err || disk || cd_disk || count_here != count ||
	    cd_off > (size_t)end || cd_size > (size_t)end - cd_off) {
		snprintf(err, errlen, "unsupported or corrupt ZIP end record");
		return -1;
	}
	if (count > ZIP_MAX_MEMBERS) {
		snprintf(err, errlen, "too many members (%u)", count);
		return -1;
	}
	struct cursor cd = cursor_init(p + cd_off, cd_size);
	size_t total = 0;
	for (unsigned i = 0; i < count; i++) {
		char name[PATH_MAX];
		if (cursor_le32(&cd) != SIG_CENTRAL)
			goto corrupt;
		cursor_bytes(&cd, 4);	/* versions */
		uint16_t flags = cursor_le16(&cd), method = cursor_le16(&cd);
		cursor_bytes(&cd, 4);	/* time, date */
		uint32_t crc = cursor_le32(&cd), csize = cursor_le32(&cd);
		uint32_t usize = cursor_le32(&cd);
		uint16_t nlen = cursor_le16(&cd), xlen = cursor_le16(&cd);
		uint16_t clen = cursor_le16(&cd);
		cursor_bytes(&cd, 4);	/* disk, internal attributes */
		uint32_t ext_attr = cursor_le32(&cd), loff = cursor_le32(&cd);
		const uint8_t *nm = cursor_bytes(&cd, nlen);
		cursor_bytes(&cd, (size_t)xlen + clen);
		if (cd.err)
			goto corrupt;
		if (nlen == 0 || nlen >= sizeof name || memchr(nm, 0, nlen)) {
			snprintf(err, errlen, "member %u: bad name", i);
			return -1;
		}
		memcpy(name, nm, nlen);
		name[nlen] = 0;
		if (!name_ok(name)) {
			snprintf(err, errlen, "member '%s': unsafe path", name);
			return -1;
		}
		if (flags & 1) {
			snprintf(err, errlen, "member '%s': encrypted members are not "
				 "supported", name);
			return -1;
		}
		/* Unix mode in the high half: refuse links and devices. */
		uint32_t mode = ext_attr >> 16;
		if (mode && !S_ISREG(mode) && !S_ISDIR(mode)) {
			snprintf(err, errlen, "member '%s': not a file or directory", name);
			return -1;
		}
		if (usize > ZIP_MAX_TOTAL - total) {
			snprintf(err, errlen, "archive expands beyond %zu bytes",
				 ZIP_MAX_TOTAL);
			return -1;
		}
		total += usize;
		if (name[nlen - 1] == '/') {
			int r = fn(name, NULL, 0, arg);
			if (r)
				return r;
			continue;
		}
		/* The local header repeats name and extra with its own lengths. */
		if (loff > n)
			goto corrupt;
		struct cursor l = cursor_init(p + loff, n - loff);
		if (cursor_le32(&l) != SIG_LOCAL)
			goto corrupt;
		cursor_bytes(&l, 22);
		uint16_t lnlen = cursor_le16(&l), lxlen = cursor_le16(&l);
		cursor_bytes(&l, (size_t)lnlen + lxlen);
		const uint8_t *data = cursor_bytes(&l, csize);
		if (l.err)
			goto corrupt;
		uint8_t *out = malloc(usize ? usize : 1);
		if (!out) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		int bad;
		if (method == 0)
			bad = csize != usize || (memcpy(out, data, usize), 0);
		else if (method == 8)
			bad = inflate_raw(data, csize, out, usize);
		else {
			free(out);
			snprintf(err, errlen, "member '%s': compression method %u is not "
				 "supported", name, method);
			return -1;
		}
		if (bad || crc32(0, out, usize) != crc) {
			free(out);
			snprintf(err, errlen, "member '%s': corrupt data", name);
			return -1;
		}
		int r = fn(name, out, usize, arg);
		free(out);
		if (r)
			return r;
	}
	return 0;
corrupt:
	snprintf(err, errlen, "corrupt ZIP directory");
	return -1;
}

struct extract {
	const char *dir;
	char *err;
	size_t errlen;
};

static int make_parents(const char *dir, const char *name)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return -1;
	size_t base = strlen(dir) + 1;
	for (char *s = path + base; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		struct stat st;
		/* lstat: a member must never write through a symbolic link. */
		if (lstat(path, &st) == 0) {
			if (!S_ISDIR(st.st_mode))
				return -1;
		} else if (mkdir(path, 0700) < 0) {
			return -1;
		}
		*s = '/';
	}
	return 0;
}

static int extract_member(const char *name, const uint8_t *data, size_t len,
			  void *arg)
{
	struct extract *x = arg;
	char path[PATH_MAX];
	if (make_parents(x->dir, name) < 0 ||
	    snprintf(path, sizeof path, "%s/%s", x->dir, name) >= (int)sizeof path) {
		snprintf(x->err, x->errlen, "%s: cannot create its directory", name);
		return -1;
	}
	if (!data)
		return 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(x->err, x->errlen, "%s: %s", name, strerror(errno));
		return -1;
	}
	while (len) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(x->err, x->errlen, "%s: %s", name, strerror(errno));
			close(fd);
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	return close(fd);
}

int zip_extract(const uint8_t *p, size_t n, const char *dir, char *err,
		size_t errlen)
{
	struct extract x = { dir, err, errlen };
	return zip_walk(p, n, extract_member, &x, err, errlen) ? -1 : 0;
}

static void put16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	buf_append(b, x, 2);
}

static void put32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };
	buf_append(b, x, 4);
}

int zip_writer_add(struct zip_writer *w, const char *name, const uint8_t *p,
		   size_t n)
{
	size_t nlen = strlen(name);
	if (!name_ok(name) || nlen > 0xffff || n > UINT32_MAX ||
	    w->data.len > UINT32_MAX - n || w->count >= ZIP_MAX_MEMBERS)
		return -1;
	int dir = name[nlen - 1] == '/';
	uint32_t crc = (uint32_t)crc32(0, p, (uInt)n);
	uint32_t off = (uint32_t)w->data.len;
	put32(&w->data, SIG_LOCAL);
	put16(&w->data, 20);		/* version needed */
	put16(&w->data, 0x0800);	/* UTF-8 names */
	put16(&w->data, 0);		/* stored */
	put32(&w->data, 0);		/* time, date */
	put32(&w->data, crc);
	put32(&w->data, (uint32_t)n);
	put32(&w->data, (uint32_t)n);
	put16(&w->data, (uint16_t)nlen);
	put16(&w->data, 0);
	buf_append(&w->data, name, nlen);
	if (buf_append(&w->data, p, n) < 0)
		return -1;
	put32(&w->central, SIG_CENTRAL);
	put16(&w->central, 0x0314);	/* made by Unix, version 2.0 */
	put16(&w->central, 20);
	put16(&w->central, 0x0800);
	put16(&w->central, 0);
	put32(&w->central, 0);
	put32(&w->central, crc);
	put32(&w->central, (uint32_t)n);
	put32(&w->central, (uint32_t)n);
	put16(&w->central, (uint16_t)nlen);
	put16(&w->central, 0);
	put16(&w->central, 0);
	put16(&w->central, 0);
	put16(&w->central, 0);
	put32(&w->central, (uint32_t)(dir ? S_IFDIR | 0700 : S_IFREG | 0600) << 16);
	put32(&w->central, off);
	w->count++;
	return buf_append(&w->central, name, nlen);
}

int zip_writer_finish(struct zip_writer *w, struct buf *out)
{
	int r = -1;
	if (w->data.len > UINT32_MAX || w->central.len > UINT32_MAX)
		goto out;
	uint32_t cd_off = (uint32_t)w->data.len;
	buf_append(&w->data, w->central.data, w->central.len);
	put32(&w->data, SIG_END);
	put32(&w->data, 0);
	put16(&w->data, (uint16_t)w->count);
	put16(&w->data, (uint16_t)w->count);
	put32(&w->data, (uint32_t)w->central.len);
	put32(&w->data, cd_off);
	put16(&w->data, 0);
	r = buf_append(out, w->data.data, w->data.len);
out:
	buf_free(&w->data);
	buf_free(&w->central);
	w->count = 0;
	return r;
}
