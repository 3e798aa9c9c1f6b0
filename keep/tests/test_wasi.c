/* WASI through the library, without assay-keep: import resolution and its
 * errors, the hostile module under both path resolutions (openat2 and
 * the portable walk), exit codes and traps, standard input, and sockets
 * handed in by the host.
 *
 * Usage: test_wasi PROGS-BUILD-DIR PROGS-SOURCE-DIR (where the .wasm
 * files and the .expected transcripts are; the tests needing wasm files
 * are skipped when they were not built: no wasm32-wasi toolchain) */
#define _GNU_SOURCE		/* memfd_create */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "assay/wasm.h"
#include "keep/tests/runner.h"
#include "util/check.h"
#include "util/file.h"
#include "wasm/wasi.h"

static const char *progs, *sources;

struct outcome {
	int r, code;
	struct assay_wasm_trap trap;
	char err[256];
	struct buf out;
};

struct setup {
	const char *const *args;	/* after argv[0] */
	const struct wasi_preopen *preopens;
	size_t n_preopens;
	const int *sockets;
	size_t n_sockets;
	int stdin_fd;			/* -1: none */
	int walk;
	unsigned deadline_ms;		/* 0: none */
};

static struct assay_wasm_module *load(const char *name, char *err, size_t n)
{
	char path[4096];
	struct buf b = BUF_INIT;
	struct assay_wasm_module *m;

	snprintf(path, sizeof(path), "%s/%s.wasm", progs, name);
	if (file_read(path, 64u << 20, &b)) {
		snprintf(err, n, "%.200s: %s", path, strerror(errno));
		return NULL;
	}
	m = assay_wasm_module_load(b.data, b.len, err, n);
	buf_free(&b);
	return m;
}

static int read_expected(const char *name, struct buf *b)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.expected", sources, name);
	if (file_read(path, 1 << 20, b) || buf_append(b, "", 1)) {
		printf("FAIL %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Runs progs/name.wasm in this process, its stdout into o->out. */
static void run_wasm(const char *name, const struct setup *s, struct outcome *o)
{
	const char *argv[32] = { name };
	struct assay_wasm_store *store = NULL;
	struct assay_wasm_module *m;
	struct assay_wasm_instance *inst;
	struct assay_wasm_extern *imports = NULL;
	struct assay_wasm_limits limits;
	struct wasi_config cfg;
	struct wasi *w = NULL;
	char chunk[4096];
	ssize_t n;
	size_t argc = 1;
	int out;

	memset(o, 0, sizeof(*o));
	o->r = -2;
	out = memfd_create("stdout", MFD_CLOEXEC);
	m = load(name, o->err, sizeof(o->err));
	if (!m || out < 0)
		goto done;
	memset(&limits, 0, sizeof(limits));
	store = assay_wasm_store_new(&limits);
	if (store && s->deadline_ms) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		assay_wasm_store_set_deadline(store, (uint64_t)ts.tv_sec * 1000000000u +
					      (uint64_t)ts.tv_nsec +
					      (uint64_t)s->deadline_ms * 1000000u);
	}
	while (s->args && s->args[argc - 1] && argc < 31) {
		argv[argc] = s->args[argc - 1];
		argc++;
	}
	wasi_config_init(&cfg);
	cfg.argv = argv;
	cfg.argc = argc;
	cfg.preopens = s->preopens;
	cfg.n_preopens = s->n_preopens;
	cfg.sockets = s->sockets;
	cfg.n_sockets = s->n_sockets;
	cfg.stdin_fd = s->stdin_fd;
	cfg.stdout_fd = out;
	cfg.resolve_walk = s->walk;
	w = store ? wasi_new(store, &cfg, o->err, sizeof(o->err)) : NULL;
	imports = calloc(assay_wasm_module_import_count(m) + 1, sizeof(*imports));
	if (!w || !imports ||
	    wasi_imports(w, m, imports, o->err, sizeof(o->err)))
		goto done;
	inst = assay_wasm_instantiate(store, m, imports,
				      assay_wasm_module_import_count(m),
				      &o->trap, o->err, sizeof(o->err));
	if (inst)
		o->r = wasi_run(w, inst, &o->code, &o->trap, o->err,
				sizeof(o->err));
done:
	if (out >= 0) {
		lseek(out, 0, SEEK_SET);
		while ((n = read(out, chunk, sizeof(chunk))) > 0)
			buf_append(&o->out, chunk, (size_t)n);
		close(out);
	}
	buf_append(&o->out, "", 1);
	wasi_free(w);
	free(imports);
	if (store)
		assay_wasm_store_free(store);
	if (m)
		assay_wasm_module_free(m);
}

/* ---- imports ---- */

static void test_all_imports(void)
{
	struct assay_wasm_import_desc d;
	struct assay_wasm_extern *imports;
	struct assay_wasm_store *store;
	struct assay_wasm_module *m;
	struct assay_wasm_limits limits;
	struct wasi_config cfg;
	struct wasi *w;
	char err[256];
	uint32_t i, n, wasi = 0;

	m = load("imports", err, sizeof(err));
	CHECK(m != NULL);
	if (!m) {
		printf("%s\n", err);
		return;
	}
	memset(&limits, 0, sizeof(limits));
	store = assay_wasm_store_new(&limits);
	wasi_config_init(&cfg);
	w = wasi_new(store, &cfg, err, sizeof(err));
	CHECK(w != NULL);
	n = assay_wasm_module_import_count(m);
	imports = calloc(n, sizeof(*imports));
	CHECK_INT(wasi_imports(w, m, imports, err, sizeof(err)), 0);
	for (i = 0; i < n; i++) {
		assay_wasm_module_import(m, i, &d);
		if (strcmp(d.module, WASI_MODULE))
			continue;
		wasi++;
		CHECK(wasi_provides(d.module, d.name));
		CHECK(imports[i].kind == ASSAY_WASM_EXTERN_FUNC &&
		      imports[i].of.func != NULL);
	}
	/* Everything wasi-libc knows (45), with its types. */
	CHECK_INT(wasi, 45);
	CHECK(wasi_provides(WASI_MODULE, "proc_raise"));
	CHECK(!wasi_provides(WASI_MODULE, "nope"));
	CHECK(!wasi_provides("env", "fd_write"));
	free(imports);
	wasi_free(w);
	assay_wasm_store_free(store);
	assay_wasm_module_free(m);
}

/* A module importing module.name of type [] -> []. */
static size_t tiny_module(const char *module, const char *name, uint8_t *out)
{
	size_t ml = strlen(module), nl = strlen(name), k = 0;
	static const uint8_t head[] = {
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00,	/* type () -> () */
	};

	memcpy(out, head, sizeof(head));
	k = sizeof(head);
	out[k++] = 0x02;			/* import section */
	out[k++] = (uint8_t)(1 + 1 + ml + 1 + nl + 2);
	out[k++] = 0x01;
	out[k++] = (uint8_t)ml;
	memcpy(out + k, module, ml);
	k += ml;
	out[k++] = (uint8_t)nl;
	memcpy(out + k, name, nl);
	k += nl;
	out[k++] = 0x00;			/* a function */
	out[k++] = 0x00;			/* of type 0 */
	return k;
}

static int link_tiny(const char *module, const char *name, char *err,
		     size_t errlen, struct assay_wasm_extern *ext)
{
	struct assay_wasm_limits limits;
	struct assay_wasm_store *store;
	struct assay_wasm_module *m;
	struct wasi_config cfg;
	struct wasi *w;
	uint8_t bytes[128];
	size_t n = tiny_module(module, name, bytes);
	int r = -2;

	m = assay_wasm_module_load(bytes, n, err, errlen);
	CHECK(m != NULL);
	if (!m)
		return -2;
	memset(&limits, 0, sizeof(limits));
	store = assay_wasm_store_new(&limits);
	wasi_config_init(&cfg);
	w = wasi_new(store, &cfg, err, errlen);
	if (w)
		r = wasi_imports(w, m, ext, err, errlen);
	wasi_free(w);
	assay_wasm_store_free(store);
	assay_wasm_module_free(m);
	return r;
}

static void test_import_errors(void)
{
	struct assay_wasm_extern ext;
	char err[256];

	CHECK_INT(link_tiny(WASI_MODULE, "bogus", err, sizeof(err), &ext), -1);
	CHECK_STR(err, "unknown import wasi_snapshot_preview1.bogus");
	CHECK_INT(link_tiny(WASI_MODULE, "fd_write", err, sizeof(err), &ext), -1);
	CHECK_STR(err, "incompatible import type for "
		  "wasi_snapshot_preview1.fd_write");
	/* Other modules' imports are left alone. */
	memset(&ext, 0x5a, sizeof(ext));
	CHECK_INT(link_tiny("env", "f", err, sizeof(err), &ext), 0);
	CHECK_INT(ext.kind, 0x5a5a5a5a);
	/* A known name with another type. */
	CHECK_INT(link_tiny(WASI_MODULE, "proc_raise", err, sizeof(err), &ext), -1);
}

static void test_errnos(void)
{
	uint16_t e;

	CHECK_STR(wasi_errno_name(WASI_ESUCCESS), "ESUCCESS");
	CHECK_STR(wasi_errno_name(WASI_ENOTCAPABLE), "ENOTCAPABLE");
	CHECK_STR(wasi_errno_name(WASI_EXDEV), "EXDEV");
	CHECK(wasi_errno_name(77) == NULL);
	CHECK_INT(wasi_errno_from_host(0), WASI_ESUCCESS);
	CHECK_INT(wasi_errno_from_host(ENOENT), WASI_ENOENT);
	CHECK_INT(wasi_errno_from_host(EXDEV), WASI_EXDEV);
	CHECK_INT(wasi_errno_from_host(ENOTSOCK), WASI_ENOTSOCK);
	CHECK_INT(wasi_errno_from_host(EWOULDBLOCK), WASI_EAGAIN);
	CHECK_INT(wasi_errno_from_host(ENOTEMPTY), WASI_ENOTEMPTY);
	/* A host errno preview1 has no name for. */
	CHECK_INT(wasi_errno_from_host(EKEYEXPIRED), WASI_EIO);
	/* Every preview1 errno has its name, in order. */
	for (e = 0; e <= WASI_ENOTCAPABLE; e++)
		CHECK(wasi_errno_name(e) && wasi_errno_name(e)[0] == 'E');
}

static void test_bad_config(void)
{
	struct wasi_preopen pre = { "/nonexistent/assay-keep-dir", "/" };
	struct assay_wasm_limits limits;
	struct assay_wasm_store *store;
	struct wasi_config cfg;
	char err[256];

	memset(&limits, 0, sizeof(limits));
	store = assay_wasm_store_new(&limits);
	wasi_config_init(&cfg);
	cfg.preopens = &pre;
	cfg.n_preopens = 1;
	CHECK(wasi_new(store, &cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/assay-keep-dir") != NULL);
	cfg.n_preopens = 0;
	{
		int p[2];
		struct wasi *w;

		/* A closed stdio fd is fine (closed for the module too); a
		 * "socket" that is a pipe is not. */
		cfg.stdin_fd = 1000;
		w = wasi_new(store, &cfg, err, sizeof(err));
		CHECK(w != NULL);
		wasi_free(w);
		CHECK(pipe(p) == 0);
		cfg.sockets = &p[0];
		cfg.n_sockets = 1;
		CHECK(wasi_new(store, &cfg, err, sizeof(err)) == NULL);
		CHECK(strstr(err, "not a socket") != NULL);
		close(p[0]);
		close(p[1]);
	}
	assay_wasm_store_free(store);
}

/* ---- programs ---- */

static void test_escape(int walk)
{
	char top[4096], root[4200];
	struct wasi_preopen pre;
	struct setup s = { .stdin_fd = -1, .walk = walk };
	struct buf want = BUF_INIT, tree = BUF_INIT;
	struct outcome o;

	CHECK(read_expected("escape", &want) == 0);
	CHECK(run_tmpdir(top, sizeof(top), "wasi-escape") == 0);
	CHECK(run_escape_prepare(top) == 0);
	snprintf(root, sizeof(root), "%s/root", top);
	pre.host = root;
	pre.guest = "/";
	s.preopens = &pre;
	s.n_preopens = 1;
	run_wasm("escape", &s, &o);
	CHECK_INT(o.r, 0);
	CHECK_INT(o.code, 0);
	if (!want.data || strcmp((char *)o.out.data, (char *)want.data)) {
		printf("FAIL escape (%s): got\n%s\n%s\n", walk ? "walk" : "auto",
		       (char *)o.out.data, o.err);
		CHECK(0);
	}
	run_list_tree(top, &tree);
	buf_append(&tree, "", 1);
	CHECK_STR((char *)tree.data, run_escape_tree);
	run_remove_tree(top);
	buf_free(&want);
	buf_free(&tree);
	buf_free(&o.out);
}

/* The calls the other programs do not reach (progs/misc.c). */
static void test_misc(void)
{
	struct wasi_preopen pre[2];
	struct setup s = { .stdin_fd = -1 };
	struct buf want = BUF_INIT;
	struct outcome o;
	char dir[4096];

	CHECK(read_expected("misc", &want) == 0);
	CHECK(run_tmpdir(dir, sizeof(dir), "misc") == 0);
	pre[0] = (struct wasi_preopen){ dir, "/" };
	pre[1] = (struct wasi_preopen){ dir, "data" };
	s.preopens = pre;
	s.n_preopens = 2;
	run_wasm("misc", &s, &o);
	CHECK_INT(o.r, 0);
	CHECK_INT(o.code, 0);
	if (!want.data || strcmp((char *)o.out.data, (char *)want.data)) {
		printf("FAIL misc: got\n%s\n%s\n", (char *)o.out.data, o.err);
		CHECK(0);
	}
	buf_free(&want);
	buf_free(&o.out);
	run_remove_tree(dir);
}

static void test_exit_and_trap(void)
{
	static const char *const a42[] = { "42", NULL }, *const a7[] = { "return7", NULL },
		*const aabort[] = { "abort", NULL };
	struct setup s = { .stdin_fd = -1 };
	struct outcome o;

	s.args = a42;
	run_wasm("exitcode", &s, &o);
	CHECK_INT(o.r, 0);
	CHECK_INT(o.code, 42);
	CHECK_STR((char *)o.out.data, "ending with 42\n");
	buf_free(&o.out);

	s.args = a7;
	run_wasm("exitcode", &s, &o);
	CHECK_INT(o.r, 0);
	CHECK_INT(o.code, 7);
	buf_free(&o.out);

	s.args = aabort;
	run_wasm("exitcode", &s, &o);
	CHECK_INT(o.r, 1);
	CHECK_INT(o.trap.exited, 0);
	CHECK(o.trap.message[0] != '\0');
	CHECK_STR((char *)o.out.data, "ending with abort\n");
	buf_free(&o.out);
}

static void test_stdin(void)
{
	struct setup s = { 0 };
	struct outcome o;
	int fd = memfd_create("stdin", MFD_CLOEXEC);

	CHECK(fd >= 0 && write(fd, "a\nbc\nd", 6) == 6);
	lseek(fd, 0, SEEK_SET);
	s.stdin_fd = fd;
	run_wasm("upper", &s, &o);
	CHECK_INT(o.r, 0);
	CHECK_INT(o.code, 3);
	CHECK_STR((char *)o.out.data, "1: A\n2: BC\n3: D");
	buf_free(&o.out);
	close(fd);
}

struct client {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char got[64];
	int ok;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(sa.sun_path, c->path, sizeof(sa.sun_path));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, "ping", 4) != 4)
		return NULL;
	while (len < sizeof(c->got) - 1 &&
	       (n = read(fd, c->got + len, sizeof(c->got) - 1 - len)) > 0)
		len += (size_t)n;
	c->got[len] = '\0';
	c->ok = 1;
	close(fd);
	return NULL;
}

static void test_sockets(void)
{
	static const char want[] =
		"listener type stream\n"
		"accepted\n"
		"poll: 1 event(s), first userdata 1 type 1 error 0 nbytes 4\n"
		"peeked 4\n"
		"received 'ping'\n"
		"sent 4\n"
		"bad shutdown flags: errno 28\n"
		"shut down\n"
		"after the peer closed: errno 0, 0 bytes\n"
		"accept on the connection: errno 76\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct setup s = { .stdin_fd = -1 };
	struct client c;
	struct outcome o;
	char dir[4096];
	pthread_t t;
	int lfd;

	memset(&c, 0, sizeof(c));
	CHECK(run_tmpdir(dir, sizeof(dir), "sock") == 0);
	/* A socket's name is short: the temporary directory must be too. */
	CHECK(strlen(dir) + 3 <= sizeof(c.path));
	snprintf(c.path, sizeof(c.path), "%.100s/s", dir);
	memcpy(sa.sun_path, c.path, sizeof(sa.sun_path));
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0 && !bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) &&
	      !listen(lfd, 1));
	CHECK(pthread_create(&t, NULL, client_main, &c) == 0);
	s.sockets = &lfd;
	s.n_sockets = 1;
	run_wasm("sockets", &s, &o);
	pthread_join(t, NULL);
	CHECK_INT(o.r, 0);
	CHECK_INT(o.code, 0);
	CHECK_STR((char *)o.out.data, want);
	CHECK(c.ok);
	CHECK_STR(c.got, "pong");
	buf_free(&o.out);
	close(lfd);
	run_remove_tree(dir);
}

/* ---- the deadline bounds calls that block ---- */

/* Runs progs/block.wasm in mode with a deadline of ms; its fd 3 is sock
 * when sock >= 0. */
static void run_block(const char *mode, int stdin_fd, int sock, unsigned ms,
		      struct outcome *o)
{
	const char *args[] = { mode, NULL };
	struct setup s = { .stdin_fd = stdin_fd, .deadline_ms = ms };

	s.args = args;
	if (sock >= 0) {
		s.sockets = &sock;
		s.n_sockets = 1;
	}
	run_wasm("block", &s, o);
}

static void check_deadline_trap(const char *mode, const struct outcome *o)
{
	if (o->r != 1 || strcmp(o->trap.message, "deadline exceeded"))
		printf("FAIL deadline %s: r %d, trap '%s', err '%s', out '%s'\n",
		       mode, o->r, o->trap.message, o->err, (char *)o->out.data);
	CHECK_INT(o->r, 1);
	CHECK_INT(o->trap.exited, 0);
	CHECK_STR(o->trap.message, "deadline exceeded");
}

struct late_writer {
	int fd;
	const char *what;
};

/* The second half of a message, a little later: the reader must wait for
 * it, across two reads. */
static void *late_write(void *arg)
{
	struct late_writer *lw = arg;
	struct timespec ts = { 0, 100 * 1000000 };

	nanosleep(&ts, NULL);
	if (write(lw->fd, lw->what, strlen(lw->what)) < 0)
		perror("late write");
	return NULL;
}

static void test_deadline(void)
{
	static const char *const trapping[] = { "accept", "poll", "spin" };
	struct late_writer lw;
	struct outcome o;
	pthread_t t;
	size_t i;
	int p[2], sv[2], lfd;

	/* A pipe nobody writes to (its write end open here). */
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	run_block("read", p[0], -1, 300, &o);
	check_deadline_trap("read", &o);
	buf_free(&o.out);
	/* Data before the deadline: read as usual. */
	CHECK(write(p[1], "hey", 3) == 3);
	run_block("read", p[0], -1, 10000, &o);
	CHECK_INT(o.r, 0);
	CHECK_STR((char *)o.out.data, "read: errno 0, 3 bytes\n");
	buf_free(&o.out);
	close(p[0]);
	close(p[1]);

	/* No client ever; a clock an hour away; no host call at all. */
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0 && !bind(lfd, (struct sockaddr *)&(struct sockaddr_un){
		.sun_family = AF_UNIX }, sizeof(sa_family_t)) && !listen(lfd, 1));
	for (i = 0; i < sizeof(trapping) / sizeof(trapping[0]); i++) {
		run_block(trapping[i], -1, lfd, 300, &o);
		check_deadline_trap(trapping[i], &o);
		buf_free(&o.out);
	}
	close(lfd);

	/* WAITALL under a deadline still waits for all 8 bytes, which come
	 * in two parts; with only 4 ever sent, the deadline ends it. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(write(sv[1], "ping", 4) == 4);
	lw.fd = sv[1];
	lw.what = "pong";
	CHECK(pthread_create(&t, NULL, late_write, &lw) == 0);
	run_block("recv", -1, sv[0], 10000, &o);
	pthread_join(t, NULL);
	CHECK_INT(o.r, 0);
	CHECK_STR((char *)o.out.data, "recv: errno 0, 'pingpong'\n");
	buf_free(&o.out);
	CHECK(write(sv[1], "ping", 4) == 4);
	run_block("recv", -1, sv[0], 300, &o);
	check_deadline_trap("recv", &o);
	buf_free(&o.out);

	/* A peer that never reads: sock_send and fd_write fill its buffers,
	 * then wait, then trap. */
	run_block("send", -1, sv[0], 300, &o);
	check_deadline_trap("send", &o);
	buf_free(&o.out);
	close(sv[0]);
	close(sv[1]);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	run_block("write", -1, sv[0], 300, &o);
	check_deadline_trap("write", &o);
	buf_free(&o.out);
	/* The reader gone: EPIPE, not a wait. */
	close(sv[1]);
	run_block("write", -1, sv[0], 10000, &o);
	CHECK_INT(o.r, 0);
	CHECK_INT(o.code, 1);
	CHECK(strncmp((char *)o.out.data, "errno 64 after", 14) == 0);
	buf_free(&o.out);
	close(sv[0]);
}

int main(int argc, char **argv)
{
	char probe[4096];

	if (argc != 3) {
		fprintf(stderr, "usage: %s PROGS-BUILD-DIR PROGS-SOURCE-DIR\n",
			argv[0]);
		return 2;
	}
	progs = argv[1];
	sources = argv[2];
	test_errnos();
	test_import_errors();
	test_bad_config();
	snprintf(probe, sizeof(probe), "%s/escape.wasm", progs);
	if (access(probe, R_OK)) {
		printf("SKIP (the rest): no wasm32-wasi toolchain at build time: "
		       "%s missing\n", probe);
		return check_done();
	}
	test_all_imports();
	test_escape(0);
	test_escape(1);
	test_misc();
	test_exit_and_trap();
	test_stdin();
	test_sockets();
	/* A write to a socket whose reader is gone: EPIPE, as assay-keep. */
	signal(SIGPIPE, SIG_IGN);
	test_deadline();
	return check_done();
}
