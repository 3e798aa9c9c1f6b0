/* Unit tests for lib/util. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/check.h"
#include "util/encode.h"
#include "util/file.h"
#include "util/map.h"
#include "util/name.h"
#include "util/secure.h"
#include "util/zip.h"

static void test_b64_roundtrip(void)
{
	/* RFC 4648 section 10 vectors. */
	static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
				     "Zm9vYmE=", "Zm9vYmFy" };
	for (int i = 0; i < 7; i++) {
		char *e = b64_encode_str(plain[i], strlen(plain[i]));
		CHECK_STR(e, enc[i]);
		free(e);
		struct buf d = BUF_INIT;
		CHECK_INT(b64_decode(&d, enc[i], strlen(enc[i])), 0);
		CHECK_INT(d.len, strlen(plain[i]));
		CHECK(d.len == 0 || memcmp(d.data, plain[i], d.len) == 0);
		buf_free(&d);
	}
}

static void test_b64_rejects(void)
{
	static const char *bad[] = { "Zg=", "Zg", "Z===", "Zh==", "Zm9=",
				     "Zm 9v", "Zm9v\n", "=m9v", "Zg==Zg==", "Zm-v" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct buf d = BUF_INIT;
		buf_append_str(&d, "keep");
		CHECK_INT(b64_decode(&d, bad[i], strlen(bad[i])), -1);
		/* A failed decode leaves what was there. */
		CHECK_INT(d.len, 4);
		CHECK_STR((char *)d.data, "keep");
		buf_free(&d);
	}
}

static void test_hex(void)
{
	uint8_t raw[] = { 0x00, 0x7f, 0x80, 0xff, 0xa5 };
	char *h = hex_encode_str(raw, sizeof raw);
	CHECK_STR(h, "007f80ffa5");
	struct buf d = BUF_INIT;
	CHECK_INT(hex_decode(&d, "007F80fFa5", 10), 0);
	CHECK_INT(d.len, 5);
	CHECK(memcmp(d.data, raw, 5) == 0);
	buf_reset(&d);
	CHECK_INT(hex_decode(&d, "abc", 3), -1);
	CHECK_INT(hex_decode(&d, "zz", 2), -1);
	CHECK_INT(d.len, 0);
	free(h);
	buf_free(&d);
}

static void test_buf(void)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < 1000; i++)
		CHECK_INT(buf_printf(&b, "%d,", i), 0);
	CHECK_INT(b.len, 3890);
	CHECK_INT(b.data[b.len], 0);
	buf_reset(&b);
	buf_append_be32(&b, 0x01020304);
	buf_append_be16(&b, 0x0506);
	struct cursor c = cursor_init(b.data, b.len);
	CHECK_INT(cursor_be32(&c), 0x01020304);
	CHECK_INT(cursor_be16(&c), 0x0506);
	CHECK_INT(c.err, 0);
	CHECK_INT(cursor_u8(&c), 0);
	CHECK_INT(c.err, 1);
	/* A poisoned cursor stays poisoned. */
	CHECK(cursor_bytes(&c, 0) == NULL);
	CHECK(buf_reserve(&b, BUF_MAX) == -1);
	size_t n;
	uint8_t *p = buf_steal(&b, &n);
	CHECK_INT(n, 6);
	CHECK(b.data == NULL && b.len == 0);
	free(p);
}

static void test_secure(void)
{
	CHECK(secure_equal("abc", "abc", 3));
	CHECK(!secure_equal("abc", "abd", 3));
	CHECK(secure_equal_str("deadbeef", "deadbeef"));
	CHECK(!secure_equal_str("deadbeef", "deadbee"));
	CHECK(!secure_equal_str("deadbee", "deadbeef"));
	CHECK(!secure_equal_str("", "x"));
	CHECK(secure_equal_str("", ""));
	char s[4] = "key";
	secure_wipe(s, sizeof s);
	CHECK(s[0] == 0 && s[2] == 0);
}

static void test_file(void)
{
	char dir[] = "/tmp/assay-util-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof path, "%s/a/b/secret", dir);
	char sub[256];
	snprintf(sub, sizeof sub, "%s/a/b", dir);
	CHECK_INT(file_mkdirs(sub, 0700), 0);
	mode_t old = umask(0);
	CHECK_INT(file_write_atomic(path, "hello", 5, 0600), 0);
	umask(old);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	struct buf b = BUF_INIT;
	CHECK_INT(file_read(path, 100, &b), 0);
	CHECK_STR((char *)b.data, "hello");
	buf_reset(&b);
	CHECK_INT(file_read(path, 4, &b), -1);
	CHECK_INT(errno, EFBIG);
	CHECK_INT(b.len, 0);
	CHECK_INT(file_read("/nonexistent/x", 4, &b), -1);
	buf_free(&b);
	unlink(path);
	rmdir(sub);
	snprintf(sub, sizeof sub, "%s/a", dir);
	rmdir(sub);
	rmdir(dir);
}

struct seen {
	int files, dirs;
	char last[64];
};

static int count_member(const char *name, const uint8_t *data, size_t len,
			void *arg)
{
	struct seen *s = arg;
	if (data)
		s->files++;
	else
		s->dirs++;
	snprintf(s->last, sizeof s->last, "%s", name);
	return 0;
}

static void test_zip(void)
{
	struct zip_writer w;
	memset(&w, 0, sizeof w);
	CHECK_INT(zip_writer_add(&w, "autorun.sh", (const uint8_t *)"echo hi\n", 8), 0);
	CHECK_INT(zip_writer_add(&w, "sub/", NULL, 0), 0);
	CHECK_INT(zip_writer_add(&w, "sub/key", (const uint8_t *)"k", 1), 0);
	CHECK_INT(zip_writer_add(&w, "../escape", (const uint8_t *)"x", 1), -1);
	CHECK_INT(zip_writer_add(&w, "/abs", (const uint8_t *)"x", 1), -1);
	CHECK_INT(zip_writer_add(&w, "a/./b", (const uint8_t *)"x", 1), -1);
	struct buf z = BUF_INIT;
	CHECK_INT(zip_writer_finish(&w, &z), 0);
	CHECK(zip_is_archive(z.data, z.len));

	char err[128];
	struct seen s = { 0, 0, "" };
	CHECK_INT(zip_walk(z.data, z.len, count_member, &s, err, sizeof err), 0);
	CHECK_INT(s.files, 2);
	CHECK_INT(s.dirs, 1);
	CHECK_STR(s.last, "sub/key");

	char dir[] = "/tmp/assay-zip-XXXXXX", path[128];
	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(zip_extract(z.data, z.len, dir, err, sizeof err), 0);
	struct buf back = BUF_INIT;
	snprintf(path, sizeof path, "%s/sub/key", dir);
	CHECK_INT(file_read(path, 10, &back), 0);
	CHECK_STR((char *)back.data, "k");

	/* Every truncation and every flipped byte is an error, never a crash;
	 * a flipped content byte fails its CRC. */
	for (size_t n = 0; n < z.len; n++) {
		struct seen t = { 0, 0, "" };
		zip_walk(z.data, n, count_member, &t, err, sizeof err);
	}
	for (size_t i = 0; i < z.len; i++) {
		struct seen t = { 0, 0, "" };
		z.data[i] ^= 0x5a;
		zip_walk(z.data, z.len, count_member, &t, err, sizeof err);
		z.data[i] ^= 0x5a;
	}
	z.data[40] ^= 1;	/* inside autorun.sh's contents */
	CHECK_INT(zip_walk(z.data, z.len, count_member, &s, err, sizeof err), -1);
	CHECK(strstr(err, "corrupt data") != NULL);
	CHECK_INT(zip_walk((const uint8_t *)"PK", 2, count_member, &s, err, sizeof err), -1);

	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	buf_free(&z);
	buf_free(&back);
}

static void sum_values(const char *key, void *value, void *arg)
{
	*(long *)arg += (long)(intptr_t)value;
}

static void test_map(void)
{
	struct map *m = map_new();
	char key[32];
	for (long i = 1; i <= 5000; i++) {
		snprintf(key, sizeof key, "agent-%ld", i);
		CHECK_INT(map_put(m, key, (void *)(intptr_t)i), 0);
	}
	CHECK_INT(map_len(m), 5000);
	CHECK_INT((intptr_t)map_get(m, "agent-4321"), 4321);
	CHECK(map_get(m, "agent-0") == NULL);
	CHECK_INT(map_put(m, "agent-7", (void *)(intptr_t)70), 0);
	CHECK_INT(map_len(m), 5000);
	CHECK_INT((intptr_t)map_del(m, "agent-7"), 70);
	CHECK(map_del(m, "agent-7") == NULL);
	CHECK_INT(map_len(m), 4999);
	long sum = 0;
	map_each(m, sum_values, &sum);
	CHECK_INT(sum, 5000L * 5001 / 2 - 7);
	map_free(m);
}

static void test_name(void)
{
	CHECK(name_valid("d432fbb3-d2f1-4a97-9ef7-75bd81c00000", 255));
	CHECK(name_valid("agent_1.example", 255));
	CHECK(!name_valid("", 255));
	CHECK(!name_valid("..", 255));
	CHECK(!name_valid("a/b", 255));
	CHECK(!name_valid("a b", 255));
	CHECK(!name_valid("abcd", 3));
}

int main(void)
{
	test_name();
	test_map();
	test_zip();
	test_b64_roundtrip();
	test_b64_rejects();
	test_hex();
	test_buf();
	test_secure();
	test_file();
	return check_done();
}
