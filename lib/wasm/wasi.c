/* WASI preview1 host functions (see wasi.h). Values in the module's
 * memory are little-endian at the offsets of the preview1 witx (checked
 * against wasi-libc's wasi/api.h); every pointer goes through
 * assay_wasm_memory_range() first. */
#define _GNU_SOURCE		/* getdents64, accept4, O_PATH, AT_EMPTY_PATH, ppoll */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "wasm/wasi.h"
#include "wasm/wasi_path.h"

/* ---- preview1 constants not in wasi.h ---- */

#define FDFLAGS_APPEND		(1u << 0)
#define FDFLAGS_DSYNC		(1u << 1)
#define FDFLAGS_NONBLOCK	(1u << 2)
#define FDFLAGS_RSYNC		(1u << 3)
#define FDFLAGS_SYNC		(1u << 4)
#define FDFLAGS_ALL		0x1fu

#define OFLAGS_CREAT		(1u << 0)
#define OFLAGS_DIRECTORY	(1u << 1)
#define OFLAGS_EXCL		(1u << 2)
#define OFLAGS_TRUNC		(1u << 3)

#define LOOKUP_SYMLINK_FOLLOW	(1u << 0)

#define FSTFLAGS_ATIM		(1u << 0)
#define FSTFLAGS_ATIM_NOW	(1u << 1)
#define FSTFLAGS_MTIM		(1u << 2)
#define FSTFLAGS_MTIM_NOW	(1u << 3)

#define CLOCK_ID_REALTIME	0u
#define CLOCK_ID_MONOTONIC	1u
#define CLOCK_ID_PROCESS	2u
#define CLOCK_ID_THREAD		3u

#define EVENTTYPE_CLOCK		0u
#define EVENTTYPE_FD_READ	1u
#define EVENTTYPE_FD_WRITE	2u
#define EVENTRW_HANGUP		(1u << 0)
#define SUBCLOCK_ABSTIME	(1u << 0)

#define RIFLAGS_PEEK		(1u << 0)
#define RIFLAGS_WAITALL		(1u << 1)
#define ROFLAGS_TRUNCATED	(1u << 0)
#define SDFLAGS_RD		(1u << 0)
#define SDFLAGS_WR		(1u << 1)

/* Sizes of the witx records. */
#define FDSTAT_SIZE	24
#define FILESTAT_SIZE	64
#define DIRENT_SIZE	24
#define PRESTAT_SIZE	8
#define SUB_SIZE	48
#define EVENT_SIZE	32
#define IOVEC_SIZE	8

/* The most rights each kind of fd can have; path_open and the stdio
 * setup intersect what is asked with these. */
#define R_FILE (WASI_RIGHT_FD_DATASYNC | WASI_RIGHT_FD_READ |		\
	WASI_RIGHT_FD_SEEK | WASI_RIGHT_FD_FDSTAT_SET_FLAGS |		\
	WASI_RIGHT_FD_SYNC | WASI_RIGHT_FD_TELL | WASI_RIGHT_FD_WRITE |	\
	WASI_RIGHT_FD_ADVISE | WASI_RIGHT_FD_ALLOCATE |			\
	WASI_RIGHT_FD_FILESTAT_GET | WASI_RIGHT_FD_FILESTAT_SET_SIZE |	\
	WASI_RIGHT_FD_FILESTAT_SET_TIMES | WASI_RIGHT_POLL_FD_READWRITE)
#define R_DIR (WASI_RIGHT_FD_FDSTAT_SET_FLAGS | WASI_RIGHT_FD_SYNC |	\
	WASI_RIGHT_FD_ADVISE | WASI_RIGHT_PATH_CREATE_DIRECTORY |	\
	WASI_RIGHT_PATH_CREATE_FILE | WASI_RIGHT_PATH_LINK_SOURCE |	\
	WASI_RIGHT_PATH_LINK_TARGET | WASI_RIGHT_PATH_OPEN |		\
	WASI_RIGHT_FD_READDIR | WASI_RIGHT_PATH_READLINK |		\
	WASI_RIGHT_PATH_RENAME_SOURCE | WASI_RIGHT_PATH_RENAME_TARGET |	\
	WASI_RIGHT_PATH_FILESTAT_GET | WASI_RIGHT_PATH_FILESTAT_SET_SIZE | \
	WASI_RIGHT_PATH_FILESTAT_SET_TIMES | WASI_RIGHT_FD_FILESTAT_GET | \
	WASI_RIGHT_FD_FILESTAT_SET_TIMES | WASI_RIGHT_PATH_SYMLINK |	\
	WASI_RIGHT_PATH_REMOVE_DIRECTORY | WASI_RIGHT_PATH_UNLINK_FILE |	\
	WASI_RIGHT_POLL_FD_READWRITE)
/* A terminal: no seek/tell, which is how wasi-libc's isatty() knows. */
#define R_TTY (WASI_RIGHT_FD_READ | WASI_RIGHT_FD_WRITE |		\
	WASI_RIGHT_FD_FDSTAT_SET_FLAGS | WASI_RIGHT_FD_FILESTAT_GET |	\
	WASI_RIGHT_POLL_FD_READWRITE)
#define R_CHAR (R_TTY | WASI_RIGHT_FD_SEEK | WASI_RIGHT_FD_TELL)
#define R_PIPE R_TTY
#define R_SOCK (R_TTY | WASI_RIGHT_SOCK_SHUTDOWN | WASI_RIGHT_SOCK_ACCEPT)

#define DEFAULT_MAX_FDS 1024
#define MAX_POLL_SUBS 65536

/* ---- state ---- */

struct wasi_fd {
	int host;		/* -1: a free slot */
	uint8_t type;		/* enum wasi_filetype */
	uint64_t base, inheriting;
	char *preopen;		/* a preopened directory: its guest name */
};

struct wasi_def;

/* The env of one host function: which WASI and which function. */
struct wasi_bind {
	struct wasi *w;
	const struct wasi_def *def;
	struct assay_wasm_func *func;	/* created on first import */
};

struct wasi {
	struct assay_wasm_store *store;
	char **argv, **env;
	size_t argc, n_env;
	uint32_t argv_bytes, env_bytes;
	struct wasi_fd *fds;
	uint32_t n_fds, cap_fds, n_open, max_fds;
	enum wasi_resolve_mode resolve;
	struct wasi_bind *binds;
};

/* What a host function works with. */
struct ctx {
	struct wasi *w;
	struct assay_wasm_call *call;
	struct assay_wasm_memory *mem;
	int trapped;
};

typedef struct assay_wasm_value value_t;
typedef uint16_t (*wasi_impl)(struct ctx *c, const value_t *a);

struct wasi_def {
	const char *name;
	uint32_t n_params;
	const enum assay_wasm_type *params;
	uint32_t n_results;	/* 1 (the errno) or 0 (proc_exit) */
	wasi_impl impl;
};

#define A32(i) ((uint32_t)a[i].of.i32)
#define A64(i) ((uint64_t)a[i].of.i64)

/* ---- errno ---- */

uint16_t wasi_errno_from_host(int e)
{
	switch (e) {
	case 0: return WASI_ESUCCESS;
	case E2BIG: return WASI_E2BIG;
	case EACCES: return WASI_EACCES;
	case EADDRINUSE: return WASI_EADDRINUSE;
	case EADDRNOTAVAIL: return WASI_EADDRNOTAVAIL;
	case EAFNOSUPPORT: return WASI_EAFNOSUPPORT;
	case EAGAIN: return WASI_EAGAIN;
	case EALREADY: return WASI_EALREADY;
	case EBADF: return WASI_EBADF;
	case EBADMSG: return WASI_EBADMSG;
	case EBUSY: return WASI_EBUSY;
	case ECANCELED: return WASI_ECANCELED;
	case ECHILD: return WASI_ECHILD;
	case ECONNABORTED: return WASI_ECONNABORTED;
	case ECONNREFUSED: return WASI_ECONNREFUSED;
	case ECONNRESET: return WASI_ECONNRESET;
	case EDEADLK: return WASI_EDEADLK;
	case EDESTADDRREQ: return WASI_EDESTADDRREQ;
	case EDOM: return WASI_EDOM;
	case EDQUOT: return WASI_EDQUOT;
	case EEXIST: return WASI_EEXIST;
	case EFAULT: return WASI_EFAULT;
	case EFBIG: return WASI_EFBIG;
	case EHOSTUNREACH: return WASI_EHOSTUNREACH;
	case EIDRM: return WASI_EIDRM;
	case EILSEQ: return WASI_EILSEQ;
	case EINPROGRESS: return WASI_EINPROGRESS;
	case EINTR: return WASI_EINTR;
	case EINVAL: return WASI_EINVAL;
	case EIO: return WASI_EIO;
	case EISCONN: return WASI_EISCONN;
	case EISDIR: return WASI_EISDIR;
	case ELOOP: return WASI_ELOOP;
	case EMFILE: return WASI_EMFILE;
	case EMLINK: return WASI_EMLINK;
	case EMSGSIZE: return WASI_EMSGSIZE;
	case EMULTIHOP: return WASI_EMULTIHOP;
	case ENAMETOOLONG: return WASI_ENAMETOOLONG;
	case ENETDOWN: return WASI_ENETDOWN;
	case ENETRESET: return WASI_ENETRESET;
	case ENETUNREACH: return WASI_ENETUNREACH;
	case ENFILE: return WASI_ENFILE;
	case ENOBUFS: return WASI_ENOBUFS;
	case ENODEV: return WASI_ENODEV;
	case ENOENT: return WASI_ENOENT;
	case ENOEXEC: return WASI_ENOEXEC;
	case ENOLCK: return WASI_ENOLCK;
	case ENOLINK: return WASI_ENOLINK;
	case ENOMEM: return WASI_ENOMEM;
	case ENOMSG: return WASI_ENOMSG;
	case ENOPROTOOPT: return WASI_ENOPROTOOPT;
	case ENOSPC: return WASI_ENOSPC;
	case ENOSYS: return WASI_ENOSYS;
	case ENOTCONN: return WASI_ENOTCONN;
	case ENOTDIR: return WASI_ENOTDIR;
	case ENOTEMPTY: return WASI_ENOTEMPTY;
	case ENOTRECOVERABLE: return WASI_ENOTRECOVERABLE;
	case ENOTSOCK: return WASI_ENOTSOCK;
	case ENOTSUP: return WASI_ENOTSUP;
	case ENOTTY: return WASI_ENOTTY;
	case ENXIO: return WASI_ENXIO;
	case EOVERFLOW: return WASI_EOVERFLOW;
	case EOWNERDEAD: return WASI_EOWNERDEAD;
	case EPERM: return WASI_EPERM;
	case EPIPE: return WASI_EPIPE;
	case EPROTO: return WASI_EPROTO;
	case EPROTONOSUPPORT: return WASI_EPROTONOSUPPORT;
	case EPROTOTYPE: return WASI_EPROTOTYPE;
	case ERANGE: return WASI_ERANGE;
	case EROFS: return WASI_EROFS;
	case ESPIPE: return WASI_ESPIPE;
	case ESRCH: return WASI_ESRCH;
	case ESTALE: return WASI_ESTALE;
	case ETIMEDOUT: return WASI_ETIMEDOUT;
	case ETXTBSY: return WASI_ETXTBSY;
	case EXDEV: return WASI_EXDEV;
	default: return WASI_EIO;
	}
}

static const char *const errno_names[] = {
	"ESUCCESS", "E2BIG", "EACCES", "EADDRINUSE", "EADDRNOTAVAIL",
	"EAFNOSUPPORT", "EAGAIN", "EALREADY", "EBADF", "EBADMSG", "EBUSY",
	"ECANCELED", "ECHILD", "ECONNABORTED", "ECONNREFUSED", "ECONNRESET",
	"EDEADLK", "EDESTADDRREQ", "EDOM", "EDQUOT", "EEXIST", "EFAULT",
	"EFBIG", "EHOSTUNREACH", "EIDRM", "EILSEQ", "EINPROGRESS", "EINTR",
	"EINVAL", "EIO", "EISCONN", "EISDIR", "ELOOP", "EMFILE", "EMLINK",
	"EMSGSIZE", "EMULTIHOP", "ENAMETOOLONG", "ENETDOWN", "ENETRESET",
	"ENETUNREACH", "ENFILE", "ENOBUFS", "ENODEV", "ENOENT", "ENOEXEC",
	"ENOLCK", "ENOLINK", "ENOMEM", "ENOMSG", "ENOPROTOOPT", "ENOSPC",
	"ENOSYS", "ENOTCONN", "ENOTDIR", "ENOTEMPTY", "ENOTRECOVERABLE",
	"ENOTSOCK", "ENOTSUP", "ENOTTY", "ENXIO", "EOVERFLOW", "EOWNERDEAD",
	"EPERM", "EPIPE", "EPROTO", "EPROTONOSUPPORT", "EPROTOTYPE", "ERANGE",
	"EROFS", "ESPIPE", "ESRCH", "ESTALE", "ETIMEDOUT", "ETXTBSY", "EXDEV",
	"ENOTCAPABLE",
};

const char *wasi_errno_name(uint16_t e)
{
	if (e >= sizeof(errno_names) / sizeof(errno_names[0]))
		return NULL;
	return errno_names[e];
}

static uint16_t host_err(void)
{
	return wasi_errno_from_host(errno);
}

/* A resolution error (negative errno): leaving the directory is
 * ENOTCAPABLE, as in other preview1 implementations. */
static uint16_t path_err(int neg)
{
	if (neg == -EXDEV)
		return WASI_ENOTCAPABLE;
	return wasi_errno_from_host(-neg);
}

/* ---- the module's memory ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* [off, off + len) of the calling instance's memory, or NULL when it
 * does not fit (or there is no memory): the caller answers EFAULT. An
 * empty range at or before the end is valid: callers never touch it. */
static uint8_t *ptr(struct ctx *c, uint64_t off, uint64_t len)
{
	static uint8_t empty;

	if (!c->mem) {
		struct assay_wasm_extern ext;

		c->mem = assay_wasm_instance_memory(c->call->instance);
		if (!c->mem &&
		    !assay_wasm_instance_export(c->call->instance, "memory", &ext) &&
		    ext.kind == ASSAY_WASM_EXTERN_MEMORY)
			c->mem = ext.of.memory;
		if (!c->mem)
			return NULL;
	}
	if (!len)
		return off <= assay_wasm_memory_size(c->mem) ? &empty : NULL;
	return assay_wasm_memory_range(c->mem, off, len);
}

/* A path argument as a NUL-terminated copy in *out (free it). */
static uint16_t get_path(struct ctx *c, uint32_t off, uint32_t len, char **out)
{
	uint8_t *p;
	char *s;

	if (len > WASI_PATH_MAX)
		return WASI_ENAMETOOLONG;
	p = ptr(c, off, len);
	if (!p)
		return WASI_EFAULT;
	/* The host would stop at a NUL; the module meant more. */
	if (memchr(p, 0, len))
		return WASI_EINVAL;
	s = malloc((size_t)len + 1);
	if (!s)
		return WASI_ENOMEM;
	memcpy(s, p, len);
	s[len] = '\0';
	*out = s;
	return 0;
}

/* The module's iovec array as host iovecs pointing into its memory (the
 * memory cannot move during the call: nothing runs wasm meanwhile). At
 * most IOV_MAX are used, a short transfer as POSIX allows. */
static uint16_t get_iovs(struct ctx *c, uint32_t off, uint32_t n,
			 struct iovec **out, int *count)
{
	uint8_t *p = ptr(c, off, (uint64_t)n * IOVEC_SIZE);
	struct iovec *v;
	uint32_t i, use = n < IOV_MAX ? n : IOV_MAX;

	if (!p)
		return WASI_EFAULT;
	v = calloc(use ? use : 1, sizeof(*v));
	if (!v)
		return WASI_ENOMEM;
	for (i = 0; i < use; i++) {
		uint32_t buf = get32(p + i * IOVEC_SIZE);
		uint32_t len = get32(p + i * IOVEC_SIZE + 4);

		if (len) {
			v[i].iov_base = ptr(c, buf, len);
			if (!v[i].iov_base) {
				free(v);
				return WASI_EFAULT;
			}
		}
		v[i].iov_len = len;
	}
	*out = v;
	*count = (int)use;
	return 0;
}

/* ---- file descriptors ---- */

static uint8_t filetype_of(int fd, const struct stat *st)
{
	int type;
	socklen_t len = sizeof(type);

	switch (st->st_mode & S_IFMT) {
	case S_IFBLK: return WASI_FILETYPE_BLOCK_DEVICE;
	case S_IFCHR: return WASI_FILETYPE_CHARACTER_DEVICE;
	case S_IFDIR: return WASI_FILETYPE_DIRECTORY;
	case S_IFREG: return WASI_FILETYPE_REGULAR_FILE;
	case S_IFLNK: return WASI_FILETYPE_SYMBOLIC_LINK;
	case S_IFSOCK:
		if (fd >= 0 &&
		    !getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) &&
		    type == SOCK_DGRAM)
			return WASI_FILETYPE_SOCKET_DGRAM;
		return WASI_FILETYPE_SOCKET_STREAM;
	default:		/* FIFOs: preview1 has no name for them */
		return WASI_FILETYPE_UNKNOWN;
	}
}

static void rights_of(int fd, uint8_t type, uint64_t *base, uint64_t *inh)
{
	*inh = 0;
	switch (type) {
	case WASI_FILETYPE_DIRECTORY:
		*base = R_DIR;
		*inh = R_DIR | R_FILE;
		break;
	case WASI_FILETYPE_REGULAR_FILE:
	case WASI_FILETYPE_BLOCK_DEVICE:
		*base = R_FILE;
		break;
	case WASI_FILETYPE_CHARACTER_DEVICE:
		*base = isatty(fd) ? R_TTY : R_CHAR;
		break;
	case WASI_FILETYPE_SOCKET_DGRAM:
	case WASI_FILETYPE_SOCKET_STREAM:
		*base = R_SOCK;
		break;
	default:
		*base = R_PIPE;
		break;
	}
}

static int is_socket(const struct wasi_fd *f)
{
	return f->type == WASI_FILETYPE_SOCKET_STREAM ||
	       f->type == WASI_FILETYPE_SOCKET_DGRAM;
}

/* The open fd number fd, or NULL with *e set: EBADF when there is none,
 * ENOTCAPABLE when it lacks one of rights. */
static struct wasi_fd *fd_get(struct wasi *w, uint32_t fd, uint64_t rights,
			      uint16_t *e)
{
	struct wasi_fd *f;

	if (fd >= w->n_fds || w->fds[fd].host < 0) {
		*e = WASI_EBADF;
		return NULL;
	}
	f = &w->fds[fd];
	if ((f->base & rights) != rights) {
		*e = WASI_ENOTCAPABLE;
		return NULL;
	}
	return f;
}

/* Puts host into the lowest free slot from 3 (0-2 are stdio's even when
 * closed, so a new file never passes for stdout). Takes host. */
static uint16_t fd_add(struct wasi *w, int host, uint8_t type, uint64_t base,
		       uint64_t inh, char *preopen, uint32_t *out)
{
	uint32_t i;

	if (w->n_open >= w->max_fds) {
		close(host);
		free(preopen);
		return WASI_EMFILE;
	}
	for (i = 3; i < w->n_fds; i++)
		if (w->fds[i].host < 0)
			break;
	if (i == w->n_fds) {
		if (w->n_fds == w->cap_fds) {
			uint32_t cap = w->cap_fds ? w->cap_fds * 2 : 16;
			struct wasi_fd *n = realloc(w->fds, cap * sizeof(*n));

			if (!n) {
				close(host);
				free(preopen);
				return WASI_ENOMEM;
			}
			w->fds = n;
			w->cap_fds = cap;
		}
		while (w->n_fds <= i)
			w->fds[w->n_fds++].host = -1;
	}
	w->fds[i] = (struct wasi_fd){ host, type, base, inh, preopen };
	w->n_open++;
	*out = i;
	return 0;
}

static void fd_release(struct wasi *w, uint32_t fd)
{
	struct wasi_fd *f = &w->fds[fd];

	if (f->host >= 0) {
		close(f->host);
		w->n_open--;
	}
	free(f->preopen);
	f->host = -1;
	f->preopen = NULL;
}

/* ---- arguments and environment ---- */

static uint16_t sizes_get(struct ctx *c, uint32_t pcount, uint32_t psize,
			  size_t count, uint32_t bytes)
{
	uint8_t *pc = ptr(c, pcount, 4), *ps = ptr(c, psize, 4);

	if (!pc || !ps)
		return WASI_EFAULT;
	put32(pc, (uint32_t)count);
	put32(ps, bytes);
	return 0;
}

static uint16_t strings_get(struct ctx *c, uint32_t pptrs, uint32_t pbuf,
			    char *const *strs, size_t n, uint32_t bytes)
{
	uint8_t *pp = ptr(c, pptrs, (uint64_t)n * 4), *pb = ptr(c, pbuf, bytes);
	uint32_t off = 0;
	size_t i, len;

	if (!pp || !pb)
		return WASI_EFAULT;
	for (i = 0; i < n; i++) {
		len = strlen(strs[i]) + 1;
		put32(pp + i * 4, pbuf + off);
		memcpy(pb + off, strs[i], len);
		off += (uint32_t)len;
	}
	return 0;
}

static uint16_t x_args_sizes_get(struct ctx *c, const value_t *a)
{
	return sizes_get(c, A32(0), A32(1), c->w->argc, c->w->argv_bytes);
}

static uint16_t x_args_get(struct ctx *c, const value_t *a)
{
	return strings_get(c, A32(0), A32(1), c->w->argv, c->w->argc,
			   c->w->argv_bytes);
}

static uint16_t x_environ_sizes_get(struct ctx *c, const value_t *a)
{
	return sizes_get(c, A32(0), A32(1), c->w->n_env, c->w->env_bytes);
}

static uint16_t x_environ_get(struct ctx *c, const value_t *a)
{
	return strings_get(c, A32(0), A32(1), c->w->env, c->w->n_env,
			   c->w->env_bytes);
}

/* ---- clocks, randomness, the process ---- */

static int host_clock(uint32_t id, clockid_t *out)
{
	switch (id) {
	case CLOCK_ID_REALTIME: *out = CLOCK_REALTIME; return 0;
	case CLOCK_ID_MONOTONIC: *out = CLOCK_MONOTONIC; return 0;
	case CLOCK_ID_PROCESS: *out = CLOCK_PROCESS_CPUTIME_ID; return 0;
	case CLOCK_ID_THREAD: *out = CLOCK_THREAD_CPUTIME_ID; return 0;
	default: return -1;
	}
}

static uint64_t ts_ns(const struct timespec *ts)
{
	if (ts->tv_sec < 0)
		return 0;
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/* clock_res_get and clock_time_get: the same checks, then one query of
 * the host clock into the module's u64 at ptr. */
static uint16_t clock_query(struct ctx *c, uint32_t wasi_id, uint32_t at,
			    int (*query)(clockid_t, struct timespec *))
{
	uint8_t *p = ptr(c, at, 8);
	struct timespec ts;
	clockid_t id;

	if (host_clock(wasi_id, &id))
		return WASI_EINVAL;
	if (!p)
		return WASI_EFAULT;
	if (query(id, &ts))
		return host_err();
	put64(p, ts_ns(&ts));
	return 0;
}

static uint16_t x_clock_res_get(struct ctx *c, const value_t *a)
{
	return clock_query(c, A32(0), A32(1), clock_getres);
}

/* The precision argument (a[1]) is a hint the host may ignore. */
static uint16_t x_clock_time_get(struct ctx *c, const value_t *a)
{
	return clock_query(c, A32(0), A32(2), clock_gettime);
}

static uint16_t x_random_get(struct ctx *c, const value_t *a)
{
	uint32_t len = A32(1), done = 0;
	uint8_t *p;
	ssize_t r;

	if (!len)
		return 0;
	p = ptr(c, A32(0), len);
	if (!p)
		return WASI_EFAULT;
	while (done < len) {
		r = getrandom(p + done, len - done, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return host_err();
		}
		done += (uint32_t)r;
	}
	return 0;
}

/* Not an error: a trap with exited set, which wasi_run turns into the
 * exit code. */
static uint16_t x_proc_exit(struct ctx *c, const value_t *a)
{
	struct assay_wasm_trap *t = c->call->trap;

	snprintf(t->message, sizeof(t->message), "proc_exit(%u)", A32(0));
	t->exited = 1;
	t->exit_code = (int)A32(0);
	c->trapped = 1;
	return 0;
}

/* Signals are not delivered to modules (preview1 drops proc_raise). */
static uint16_t x_proc_raise(struct ctx *c, const value_t *a)
{
	return WASI_ENOSYS;
}

static uint16_t x_sched_yield(struct ctx *c, const value_t *a)
{
	sched_yield();
	return 0;
}

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts_ns(&ts);
}

/* ---- blocking under the deadline ----
 *
 * The store's deadline bounds a module's time in the host as well as in
 * wasm: a call that could block (a read from a pipe nobody writes to, an
 * accept no client comes to, a write to a reader that stopped) first
 * waits for its fd with poll(2), no longer than the deadline, then traps
 * with the interpreter's message. Regular files and directories never
 * block, and fds the module made non-blocking answer EAGAIN themselves:
 * those go straight through. A write is capped to PIPE_BUF bytes once the
 * fd is writable, which a pipe or socket then takes without blocking (a
 * short write, which callers of fd_write loop over anyway). */

static int deadline_trap(struct ctx *c)
{
	snprintf(c->call->trap->message, sizeof(c->call->trap->message),
		 "deadline exceeded");
	c->trapped = 1;
	return -1;
}

/* Whether a call on f under a deadline must wait for it first. */
static int bounded(struct ctx *c, const struct wasi_fd *f)
{
	int fl;

	if (!assay_wasm_store_deadline(c->w->store) ||
	    f->type == WASI_FILETYPE_REGULAR_FILE ||
	    f->type == WASI_FILETYPE_DIRECTORY)
		return 0;
	fl = fcntl(f->host, F_GETFL);
	return fl >= 0 && !(fl & O_NONBLOCK);
}

/* For a call that bounded() said may block: 0 when f is ready for events
 * (or an error is, which the call itself then reports); -1 after a trap
 * when the deadline came first. */
static int wait_fd(struct ctx *c, const struct wasi_fd *f, short events)
{
	uint64_t dl = assay_wasm_store_deadline(c->w->store), now, ms;
	struct pollfd p = { .fd = f->host, .events = events };
	int r;

	for (;;) {
		now = mono_now();
		if (now >= dl)
			return deadline_trap(c);
		ms = (dl - now + 999999) / 1000000;
		r = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
		if (r > 0 || (r < 0 && errno != EINTR))
			return 0;
	}
}

/* Keeps the first max bytes of an iovec array. */
static void iovs_cap(struct iovec *v, int *n, size_t max)
{
	int i;

	for (i = 0; i < *n; i++) {
		if (v[i].iov_len >= max) {
			v[i].iov_len = max;
			*n = i + 1;
			return;
		}
		max -= v[i].iov_len;
	}
}

/* ---- fds: reading and writing ---- */

static uint16_t rw(struct ctx *c, const value_t *a, int write, int at)
{
	uint64_t need = (write ? WASI_RIGHT_FD_WRITE : WASI_RIGHT_FD_READ) |
			(at ? WASI_RIGHT_FD_SEEK : 0);
	uint64_t off = at ? A64(3) : 0;
	uint8_t *pn = ptr(c, at ? A32(4) : A32(3), 4);
	struct wasi_fd *f;
	struct iovec *v;
	uint16_t e;
	ssize_t r;
	int n;

	f = fd_get(c->w, A32(0), need, &e);
	if (!f)
		return e;
	if (!pn)
		return WASI_EFAULT;
	if (off > INT64_MAX)
		return WASI_EINVAL;
	e = get_iovs(c, A32(1), A32(2), &v, &n);
	if (e)
		return e;
	if (!at && bounded(c, f)) {
		if (wait_fd(c, f, write ? POLLOUT : POLLIN)) {
			free(v);
			return 0;
		}
		if (write)
			iovs_cap(v, &n, PIPE_BUF);
	}
	do {
		if (at)
			r = write ? pwritev(f->host, v, n, (off_t)off) :
				    preadv(f->host, v, n, (off_t)off);
		else
			r = write ? writev(f->host, v, n) :
				    readv(f->host, v, n);
	} while (r < 0 && errno == EINTR);
	e = r < 0 ? host_err() : 0;
	free(v);
	if (!e)
		put32(pn, (uint32_t)r);
	return e;
}

static uint16_t x_fd_read(struct ctx *c, const value_t *a)
{
	return rw(c, a, 0, 0);
}

static uint16_t x_fd_write(struct ctx *c, const value_t *a)
{
	return rw(c, a, 1, 0);
}

static uint16_t x_fd_pread(struct ctx *c, const value_t *a)
{
	return rw(c, a, 0, 1);
}

static uint16_t x_fd_pwrite(struct ctx *c, const value_t *a)
{
	return rw(c, a, 1, 1);
}

static uint16_t x_fd_seek(struct ctx *c, const value_t *a)
{
	int64_t off = (int64_t)A64(1);
	uint32_t whence = A32(2);
	uint8_t *p = ptr(c, A32(3), 8);
	struct wasi_fd *f;
	uint16_t e;
	off_t r;
	int how;

	/* Only asking where we are needs just the tell right. */
	f = fd_get(c->w, A32(0), off == 0 && whence == 1 ?
		   WASI_RIGHT_FD_TELL : WASI_RIGHT_FD_SEEK, &e);
	if (!f)
		return e;
	switch (whence) {
	case 0: how = SEEK_SET; break;
	case 1: how = SEEK_CUR; break;
	case 2: how = SEEK_END; break;
	default: return WASI_EINVAL;
	}
	if (!p)
		return WASI_EFAULT;
	r = lseek(f->host, (off_t)off, how);
	if (r < 0)
		return host_err();
	put64(p, (uint64_t)r);
	return 0;
}

static uint16_t x_fd_tell(struct ctx *c, const value_t *a)
{
	uint8_t *p = ptr(c, A32(1), 8);
	struct wasi_fd *f;
	uint16_t e;
	off_t r;

	f = fd_get(c->w, A32(0), WASI_RIGHT_FD_TELL, &e);
	if (!f)
		return e;
	if (!p)
		return WASI_EFAULT;
	r = lseek(f->host, 0, SEEK_CUR);
	if (r < 0)
		return host_err();
	put64(p, (uint64_t)r);
	return 0;
}

static uint16_t x_fd_close(struct ctx *c, const value_t *a)
{
	uint16_t e;

	if (!fd_get(c->w, A32(0), 0, &e))
		return e;
	fd_release(c->w, A32(0));
	return 0;
}

static uint16_t sync_fd(struct ctx *c, uint32_t fd, int data)
{
	struct wasi_fd *f;
	uint16_t e;
	int r;

	f = fd_get(c->w, fd, data ? WASI_RIGHT_FD_DATASYNC : WASI_RIGHT_FD_SYNC,
		   &e);
	if (!f)
		return e;
	r = data ? fdatasync(f->host) : fsync(f->host);
	return r ? host_err() : 0;
}

static uint16_t x_fd_sync(struct ctx *c, const value_t *a)
{
	return sync_fd(c, A32(0), 0);
}

static uint16_t x_fd_datasync(struct ctx *c, const value_t *a)
{
	return sync_fd(c, A32(0), 1);
}

static uint16_t x_fd_advise(struct ctx *c, const value_t *a)
{
	static const int advice[] = {
		POSIX_FADV_NORMAL, POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
		POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED, POSIX_FADV_NOREUSE,
	};
	uint64_t off = A64(1), len = A64(2);
	struct wasi_fd *f;
	uint16_t e;
	int r;

	f = fd_get(c->w, A32(0), WASI_RIGHT_FD_ADVISE, &e);
	if (!f)
		return e;
	if (A32(3) >= sizeof(advice) / sizeof(advice[0]) ||
	    off > INT64_MAX || len > INT64_MAX)
		return WASI_EINVAL;
	r = posix_fadvise(f->host, (off_t)off, (off_t)len, advice[A32(3)]);
	return wasi_errno_from_host(r);
}

static uint16_t x_fd_allocate(struct ctx *c, const value_t *a)
{
	uint64_t off = A64(1), len = A64(2);
	struct wasi_fd *f;
	uint16_t e;
	int r;

	f = fd_get(c->w, A32(0), WASI_RIGHT_FD_ALLOCATE, &e);
	if (!f)
		return e;
	if (off > INT64_MAX || len > INT64_MAX || off + len > INT64_MAX)
		return WASI_EINVAL;
	do
		r = posix_fallocate(f->host, (off_t)off, (off_t)len);
	while (r == EINTR);
	return wasi_errno_from_host(r);
}

/* ---- fds: status ---- */

static uint16_t x_fd_fdstat_get(struct ctx *c, const value_t *a)
{
	uint8_t *p = ptr(c, A32(1), FDSTAT_SIZE);
	struct wasi_fd *f;
	uint16_t e, flags = 0;
	int fl;

	f = fd_get(c->w, A32(0), 0, &e);
	if (!f)
		return e;
	if (!p)
		return WASI_EFAULT;
	fl = fcntl(f->host, F_GETFL);
	if (fl < 0)
		return host_err();
	if (fl & O_APPEND)
		flags |= FDFLAGS_APPEND;
	if (fl & O_DSYNC)
		flags |= FDFLAGS_DSYNC;
	if (fl & O_NONBLOCK)
		flags |= FDFLAGS_NONBLOCK;
	/* Linux's O_SYNC includes O_DSYNC, and O_RSYNC is O_SYNC. */
	if ((fl & O_SYNC) == O_SYNC)
		flags |= FDFLAGS_SYNC | FDFLAGS_RSYNC;
	memset(p, 0, FDSTAT_SIZE);
	p[0] = f->type;
	put16(p + 2, flags);
	put64(p + 8, f->base);
	put64(p + 16, f->inheriting);
	return 0;
}

static uint16_t x_fd_fdstat_set_flags(struct ctx *c, const value_t *a)
{
	uint32_t want = A32(1);
	uint32_t syncs = FDFLAGS_DSYNC | FDFLAGS_RSYNC | FDFLAGS_SYNC;
	struct wasi_fd *f;
	uint16_t e;
	int fl, now = 0;

	f = fd_get(c->w, A32(0), WASI_RIGHT_FD_FDSTAT_SET_FLAGS, &e);
	if (!f)
		return e;
	if (want & ~FDFLAGS_ALL)
		return WASI_EINVAL;
	fl = fcntl(f->host, F_GETFL);
	if (fl < 0)
		return host_err();
	if (fl & O_DSYNC)
		now |= FDFLAGS_DSYNC;
	if ((fl & O_SYNC) == O_SYNC)
		now |= FDFLAGS_SYNC | FDFLAGS_RSYNC;
	/* Linux cannot change the sync flags of an open file. */
	if ((want & syncs) && (want & syncs) != ((uint32_t)now & want & syncs))
		return WASI_ENOTSUP;
	fl &= ~(O_APPEND | O_NONBLOCK);
	if (want & FDFLAGS_APPEND)
		fl |= O_APPEND;
	if (want & FDFLAGS_NONBLOCK)
		fl |= O_NONBLOCK;
	return fcntl(f->host, F_SETFL, fl) ? host_err() : 0;
}

/* Rights can only shrink. */
static uint16_t x_fd_fdstat_set_rights(struct ctx *c, const value_t *a)
{
	uint64_t base = A64(1), inh = A64(2);
	struct wasi_fd *f;
	uint16_t e;

	f = fd_get(c->w, A32(0), 0, &e);
	if (!f)
		return e;
	if ((base & ~f->base) || (inh & ~f->inheriting))
		return WASI_ENOTCAPABLE;
	f->base = base;
	f->inheriting = inh;
	return 0;
}

static void put_filestat(uint8_t *p, const struct stat *st, uint8_t type)
{
	memset(p, 0, FILESTAT_SIZE);
	put64(p, (uint64_t)st->st_dev);
	put64(p + 8, (uint64_t)st->st_ino);
	p[16] = type;
	put64(p + 24, (uint64_t)st->st_nlink);
	put64(p + 32, (uint64_t)st->st_size);
	put64(p + 40, ts_ns(&st->st_atim));
	put64(p + 48, ts_ns(&st->st_mtim));
	put64(p + 56, ts_ns(&st->st_ctim));
}

static uint16_t x_fd_filestat_get(struct ctx *c, const value_t *a)
{
	uint8_t *p = ptr(c, A32(1), FILESTAT_SIZE);
	struct wasi_fd *f;
	struct stat st;
	uint16_t e;

	f = fd_get(c->w, A32(0), WASI_RIGHT_FD_FILESTAT_GET, &e);
	if (!f)
		return e;
	if (!p)
		return WASI_EFAULT;
	if (fstat(f->host, &st))
		return host_err();
	put_filestat(p, &st, f->type);
	return 0;
}

static uint16_t x_fd_filestat_set_size(struct ctx *c, const value_t *a)
{
	struct wasi_fd *f;
	uint16_t e;

	f = fd_get(c->w, A32(0), WASI_RIGHT_FD_FILESTAT_SET_SIZE, &e);
	if (!f)
		return e;
	if (A64(1) > INT64_MAX)
		return WASI_EINVAL;
	return ftruncate(f->host, (off_t)A64(1)) ? host_err() : 0;
}

/* preview1's fstflags as utimensat's times. */
static uint16_t times_of(uint64_t atim, uint64_t mtim, uint32_t fst,
			 struct timespec ts[2])
{
	if ((fst & ~0xfu) ||
	    ((fst & FSTFLAGS_ATIM) && (fst & FSTFLAGS_ATIM_NOW)) ||
	    ((fst & FSTFLAGS_MTIM) && (fst & FSTFLAGS_MTIM_NOW)))
		return WASI_EINVAL;
	ts[0].tv_sec = (time_t)(atim / 1000000000u);
	ts[0].tv_nsec = (long)(atim % 1000000000u);
	ts[1].tv_sec = (time_t)(mtim / 1000000000u);
	ts[1].tv_nsec = (long)(mtim % 1000000000u);
	if (fst & FSTFLAGS_ATIM_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	else if (!(fst & FSTFLAGS_ATIM))
		ts[0].tv_nsec = UTIME_OMIT;
	if (fst & FSTFLAGS_MTIM_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	else if (!(fst & FSTFLAGS_MTIM))
		ts[1].tv_nsec = UTIME_OMIT;
	return 0;
}

static uint16_t x_fd_filestat_set_times(struct ctx *c, const value_t *a)
{
	struct timespec ts[2];
	struct wasi_fd *f;
	uint16_t e;

	f = fd_get(c->w, A32(0), WASI_RIGHT_FD_FILESTAT_SET_TIMES, &e);
	if (!f)
		return e;
	e = times_of(A64(1), A64(2), A32(3), ts);
	if (e)
		return e;
	return futimens(f->host, ts) ? host_err() : 0;
}

static uint16_t x_fd_prestat_get(struct ctx *c, const value_t *a)
{
	uint8_t *p = ptr(c, A32(1), PRESTAT_SIZE);
	struct wasi_fd *f;
	uint16_t e;

	f = fd_get(c->w, A32(0), 0, &e);
	if (!f)
		return e;
	if (!f->preopen)
		return WASI_EBADF;
	if (!p)
		return WASI_EFAULT;
	memset(p, 0, PRESTAT_SIZE);
	p[0] = 0;		/* preopentype dir */
	put32(p + 4, (uint32_t)strlen(f->preopen));
	return 0;
}

static uint16_t x_fd_prestat_dir_name(struct ctx *c, const value_t *a)
{
	struct wasi_fd *f;
	size_t len;
	uint8_t *p;
	uint16_t e;

	f = fd_get(c->w, A32(0), 0, &e);
	if (!f)
		return e;
	if (!f->preopen)
		return WASI_EBADF;
	len = strlen(f->preopen);
	if (A32(2) < len)
		return WASI_ENAMETOOLONG;
	p = ptr(c, A32(1), len);
	if (!p)
		return WASI_EFAULT;
	memcpy(p, f->preopen, len);
	return 0;
}

static uint8_t dirent_type(int dirfd, const struct dirent64 *d)
{
	struct stat st;

	switch (d->d_type) {
	case DT_BLK: return WASI_FILETYPE_BLOCK_DEVICE;
	case DT_CHR: return WASI_FILETYPE_CHARACTER_DEVICE;
	case DT_DIR: return WASI_FILETYPE_DIRECTORY;
	case DT_REG: return WASI_FILETYPE_REGULAR_FILE;
	case DT_LNK: return WASI_FILETYPE_SYMBOLIC_LINK;
	case DT_SOCK: return WASI_FILETYPE_SOCKET_STREAM;
	case DT_FIFO: return WASI_FILETYPE_UNKNOWN;
	default:
		if (fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW))
			return WASI_FILETYPE_UNKNOWN;
		return filetype_of(-1, &st);
	}
}

/* Entries from cookie on, each a 24-byte dirent and its name, as many as
 * fit in the buffer; the last one cut short when it does not fit (which
 * tells the module to ask again from that entry's cookie, with a bigger
 * buffer if need be). Cookies are the kernel's directory offsets. */
static uint16_t x_fd_readdir(struct ctx *c, const value_t *a)
{
	uint32_t len = A32(2), used = 0;
	uint64_t cookie = A64(3);
	uint8_t *out = ptr(c, A32(1), len), *pused = ptr(c, A32(4), 4);
	union {
		struct dirent64 align;
		char bytes[8192];
	} buf;
	struct wasi_fd *f;
	uint16_t e;
	ssize_t n, i;

	f = fd_get(c->w, A32(0), WASI_RIGHT_FD_READDIR, &e);
	if (!f)
		return e;
	if (f->type != WASI_FILETYPE_DIRECTORY)
		return WASI_ENOTDIR;
	if (!out || !pused)
		return WASI_EFAULT;
	if (cookie > INT64_MAX)
		return WASI_EINVAL;
	if (lseek(f->host, (off_t)cookie, SEEK_SET) < 0)
		return host_err();
	while (used < len) {
		n = getdents64(f->host, buf.bytes, sizeof(buf.bytes));
		if (n < 0)
			return host_err();
		if (n == 0)
			break;
		for (i = 0; i < n && used < len;) {
			struct dirent64 *d = (struct dirent64 *)(buf.bytes + i);
			uint8_t hdr[DIRENT_SIZE];
			size_t nlen = strlen(d->d_name), take;

			memset(hdr, 0, sizeof(hdr));
			put64(hdr, (uint64_t)d->d_off);
			put64(hdr + 8, (uint64_t)d->d_ino);
			put32(hdr + 16, (uint32_t)nlen);
			hdr[20] = dirent_type(f->host, d);
			take = len - used < DIRENT_SIZE ? len - used : DIRENT_SIZE;
			memcpy(out + used, hdr, take);
			used += (uint32_t)take;
			take = len - used < nlen ? len - used : nlen;
			memcpy(out + used, d->d_name, take);
			used += (uint32_t)take;
			i += d->d_reclen;
		}
	}
	put32(pused, used);
	return 0;
}

/* Both must be open; to's file is closed and from's takes its number. */
static uint16_t x_fd_renumber(struct ctx *c, const value_t *a)
{
	uint32_t from = A32(0), to = A32(1);
	struct wasi *w = c->w;
	uint16_t e;

	if (!fd_get(w, from, 0, &e) || !fd_get(w, to, 0, &e))
		return e;
	if (from == to)
		return 0;
	fd_release(w, to);
	w->fds[to] = w->fds[from];
	w->fds[from].host = -1;
	w->fds[from].preopen = NULL;
	return 0;
}

/* ---- paths ---- */

/* The directory fd a path is relative to, with rights, and the path. */
static uint16_t dir_path(struct ctx *c, uint32_t fd, uint64_t rights,
			 uint32_t off, uint32_t len, struct wasi_fd **f,
			 char **path)
{
	uint16_t e;

	*f = fd_get(c->w, fd, rights, &e);
	if (!*f)
		return e;
	if ((*f)->type != WASI_FILETYPE_DIRECTORY)
		return WASI_ENOTDIR;
	return get_path(c, off, len, path);
}

/* The parent directory of path (an O_PATH fd in *pfd) and the entry's
 * name in base; *trailing when the path ended in '/'. */
static uint16_t parent_of(struct ctx *c, struct wasi_fd *f, const char *path,
			  int *pfd, char *base, int *trailing)
{
	int r = wasi_path_parent(f->host, path, base, trailing, c->w->resolve);

	if (r < 0)
		return path_err(r);
	*pfd = r;
	return 0;
}

/* "name/" names a directory: ENOTDIR when the entry is something else. */
static uint16_t check_trailing(int pfd, const char *base, int trailing)
{
	struct stat st;

	if (!trailing)
		return 0;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW))
		return errno == ENOENT ? 0 : host_err();
	return S_ISDIR(st.st_mode) ? 0 : WASI_ENOTDIR;
}

/* A new entry named "name/" (link, symlink): Linux refuses those. */
static uint16_t check_new_trailing(int pfd, const char *base, int trailing)
{
	struct stat st;

	if (!trailing)
		return 0;
	if (!fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW))
		return WASI_EEXIST;
	return WASI_ENOENT;
}

static uint16_t x_path_open(struct ctx *c, const value_t *a)
{
	uint32_t dirflags = A32(1), oflags = A32(4), fdflags = A32(7);
	uint64_t base = A64(5), inh = A64(6);
	uint64_t need = WASI_RIGHT_PATH_OPEN, type_base, type_inh;
	uint64_t rd = WASI_RIGHT_FD_READ | WASI_RIGHT_FD_READDIR;
	uint64_t wr = WASI_RIGHT_FD_DATASYNC | WASI_RIGHT_FD_WRITE |
		      WASI_RIGHT_FD_ALLOCATE | WASI_RIGHT_FD_FILESTAT_SET_SIZE;
	uint8_t *pfd = ptr(c, A32(8), 4);
	struct wasi_fd *f;
	struct stat st;
	uint32_t nfd;
	uint16_t e;
	char *path;
	int flags, host;
	uint8_t type;

	if (oflags & ~0xfu)
		return WASI_EINVAL;
	if (oflags & OFLAGS_CREAT)
		need |= WASI_RIGHT_PATH_CREATE_FILE;
	if (oflags & OFLAGS_TRUNC)
		need |= WASI_RIGHT_PATH_FILESTAT_SET_SIZE;
	e = dir_path(c, A32(0), need, A32(2), A32(3), &f, &path);
	if (e)
		return e;
	/* What the new fd may do is what it asks for among what its
	 * directory passes on (asking for more is no error, as in wasmtime:
	 * toolchains ask for every right; the missing ones are ENOTCAPABLE
	 * when used). */
	base &= f->inheriting;
	inh &= f->inheriting;
	if ((dirflags & ~LOOKUP_SYMLINK_FOLLOW) || (fdflags & ~FDFLAGS_ALL))
		e = WASI_EINVAL;
	else if (!pfd)
		e = WASI_EFAULT;
	if (e) {
		free(path);
		return e;
	}
	if ((base & wr) && !(oflags & OFLAGS_DIRECTORY))
		flags = base & rd ? O_RDWR : O_WRONLY;
	else
		flags = O_RDONLY;
	if (oflags & OFLAGS_CREAT)
		flags |= O_CREAT;
	if (oflags & OFLAGS_DIRECTORY)
		flags |= O_DIRECTORY;
	if (oflags & OFLAGS_EXCL)
		flags |= O_EXCL;
	if (oflags & OFLAGS_TRUNC)
		flags |= O_TRUNC;
	if (fdflags & FDFLAGS_APPEND)
		flags |= O_APPEND;
	if (fdflags & FDFLAGS_DSYNC)
		flags |= O_DSYNC;
	if (fdflags & FDFLAGS_NONBLOCK)
		flags |= O_NONBLOCK;
	if (fdflags & (FDFLAGS_RSYNC | FDFLAGS_SYNC))
		flags |= O_SYNC;
	if (!(dirflags & LOOKUP_SYMLINK_FOLLOW))
		flags |= O_NOFOLLOW;
	host = wasi_path_open(f->host, path, flags, 0666, c->w->resolve);
	free(path);
	if (host < 0)
		return path_err(host);
	if (fstat(host, &st)) {
		e = host_err();
		close(host);
		return e;
	}
	type = filetype_of(host, &st);
	rights_of(host, type, &type_base, &type_inh);
	e = fd_add(c->w, host, type, base & type_base, inh & type_inh, NULL,
		   &nfd);
	if (e)
		return e;
	put32(pfd, nfd);
	return 0;
}

/* mkdir, rmdir, unlink: one entry in a resolved parent. */
static uint16_t entry_op(struct ctx *c, const value_t *a, uint64_t right,
			 int op)
{
	char base[WASI_NAME_MAX + 1], *path;
	struct wasi_fd *f;
	int pfd = -1, trailing = 0, r;
	uint16_t e;

	e = dir_path(c, A32(0), right, A32(1), A32(2), &f, &path);
	if (e)
		return e;
	e = parent_of(c, f, path, &pfd, base, &trailing);
	free(path);
	if (e)
		return e;
	switch (op) {
	case 'm':
		r = mkdirat(pfd, base, 0777);
		break;
	case 'r':
		r = unlinkat(pfd, base, AT_REMOVEDIR);
		break;
	default:
		e = check_trailing(pfd, base, trailing);
		r = e ? 0 : unlinkat(pfd, base, 0);
		break;
	}
	if (r)
		e = host_err();
	close(pfd);
	return e;
}

static uint16_t x_path_create_directory(struct ctx *c, const value_t *a)
{
	return entry_op(c, a, WASI_RIGHT_PATH_CREATE_DIRECTORY, 'm');
}

static uint16_t x_path_remove_directory(struct ctx *c, const value_t *a)
{
	return entry_op(c, a, WASI_RIGHT_PATH_REMOVE_DIRECTORY, 'r');
}

static uint16_t x_path_unlink_file(struct ctx *c, const value_t *a)
{
	return entry_op(c, a, WASI_RIGHT_PATH_UNLINK_FILE, 'u');
}

static uint16_t x_path_filestat_get(struct ctx *c, const value_t *a)
{
	uint8_t *p = ptr(c, A32(4), FILESTAT_SIZE);
	struct wasi_fd *f;
	struct stat st;
	char *path;
	uint16_t e;
	int fd;

	e = dir_path(c, A32(0), WASI_RIGHT_PATH_FILESTAT_GET, A32(2), A32(3),
		     &f, &path);
	if (e)
		return e;
	if (!p) {
		free(path);
		return WASI_EFAULT;
	}
	fd = wasi_path_open(f->host, path, O_PATH |
			    (A32(1) & LOOKUP_SYMLINK_FOLLOW ? 0 : O_NOFOLLOW),
			    0, c->w->resolve);
	free(path);
	if (fd < 0)
		return path_err(fd);
	if (fstat(fd, &st))
		e = host_err();
	else
		put_filestat(p, &st, filetype_of(-1, &st));
	close(fd);
	return e;
}

static uint16_t x_path_filestat_set_times(struct ctx *c, const value_t *a)
{
	char base[WASI_NAME_MAX + 1], *path, proc[64];
	struct timespec ts[2];
	struct wasi_fd *f;
	int fd = -1, trailing = 0, r;
	uint16_t e;

	e = dir_path(c, A32(0), WASI_RIGHT_PATH_FILESTAT_SET_TIMES, A32(2),
		     A32(3), &f, &path);
	if (e)
		return e;
	e = times_of(A64(4), A64(5), A32(6), ts);
	if (e) {
		free(path);
		return e;
	}
	if (!(A32(1) & LOOKUP_SYMLINK_FOLLOW)) {
		/* The entry itself, in its resolved parent. */
		e = parent_of(c, f, path, &fd, base, &trailing);
		free(path);
		if (e)
			return e;
		r = utimensat(fd, base, ts, AT_SYMLINK_NOFOLLOW);
		e = r ? host_err() : 0;
		close(fd);
		return e;
	}
	/* Followed: the confined resolution opens the target itself. */
	fd = wasi_path_open(f->host, path, O_PATH, 0, c->w->resolve);
	free(path);
	if (fd < 0)
		return path_err(fd);
	r = utimensat(fd, "", ts, AT_EMPTY_PATH);
	if (r && errno == EINVAL) {
		/* Kernels without AT_EMPTY_PATH here: the fd's own name. */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		r = utimensat(AT_FDCWD, proc, ts, 0);
	}
	e = r ? host_err() : 0;
	close(fd);
	return e;
}

static uint16_t x_path_readlink(struct ctx *c, const value_t *a)
{
	char base[WASI_NAME_MAX + 1], *path, target[WASI_PATH_MAX + 1];
	uint32_t blen = A32(4);
	uint8_t *out, *pused = ptr(c, A32(5), 4);
	struct wasi_fd *f;
	int pfd = -1, trailing = 0;
	uint16_t e;
	ssize_t n;

	e = dir_path(c, A32(0), WASI_RIGHT_PATH_READLINK, A32(1), A32(2), &f,
		     &path);
	if (e)
		return e;
	out = ptr(c, A32(3), blen);
	if (!out || !pused) {
		free(path);
		return WASI_EFAULT;
	}
	e = parent_of(c, f, path, &pfd, base, &trailing);
	free(path);
	if (e)
		return e;
	/* "link/" names what the link points to, which is no link. */
	if (trailing)
		e = check_trailing(pfd, base, trailing) ? WASI_ENOTDIR :
							   WASI_EINVAL;
	if (!e) {
		n = readlinkat(pfd, base, target, sizeof(target));
		if (n < 0)
			e = host_err();
		else if ((size_t)n >= sizeof(target))
			e = WASI_ENAMETOOLONG;
		else {
			/* Cut to the buffer, as readlink(2) does. */
			if ((uint32_t)n > blen)
				n = blen;
			memcpy(out, target, (size_t)n);
			put32(pused, (uint32_t)n);
		}
	}
	close(pfd);
	return e;
}

static uint16_t x_path_symlink(struct ctx *c, const value_t *a)
{
	char base[WASI_NAME_MAX + 1], *target, *path;
	struct wasi_fd *f;
	int pfd = -1, trailing = 0;
	uint16_t e;

	e = get_path(c, A32(0), A32(1), &target);
	if (e)
		return e;
	/* An absolute target would name the host's root; a relative one
	 * that climbs out is harmless, since following it is confined. */
	if (target[0] == '/') {
		free(target);
		return WASI_ENOTCAPABLE;
	}
	e = dir_path(c, A32(2), WASI_RIGHT_PATH_SYMLINK, A32(3), A32(4), &f,
		     &path);
	if (!e) {
		e = parent_of(c, f, path, &pfd, base, &trailing);
		free(path);
	}
	if (!e) {
		e = check_new_trailing(pfd, base, trailing);
		if (!e && symlinkat(target, pfd, base))
			e = host_err();
		close(pfd);
	}
	free(target);
	return e;
}

static uint16_t x_path_link(struct ctx *c, const value_t *a)
{
	char obase[WASI_NAME_MAX + 1], nbase[WASI_NAME_MAX + 1];
	char *opath = NULL, *npath = NULL, proc[64];
	struct wasi_fd *of, *nf;
	int opfd = -1, npfd = -1, otrail = 0, ntrail = 0, r;
	uint16_t e;

	e = dir_path(c, A32(0), WASI_RIGHT_PATH_LINK_SOURCE, A32(2), A32(3),
		     &of, &opath);
	if (!e)
		e = dir_path(c, A32(4), WASI_RIGHT_PATH_LINK_TARGET, A32(5),
			     A32(6), &nf, &npath);
	if (!e && (A32(1) & ~LOOKUP_SYMLINK_FOLLOW))
		e = WASI_EINVAL;
	if (!e)
		e = parent_of(c, nf, npath, &npfd, nbase, &ntrail);
	if (!e)
		e = check_new_trailing(npfd, nbase, ntrail);
	if (e)
		goto out;
	if (A32(1) & LOOKUP_SYMLINK_FOLLOW) {
		/* The target of the old path, resolved confined. */
		opfd = wasi_path_open(of->host, opath, O_PATH, 0,
				      c->w->resolve);
		if (opfd < 0) {
			e = path_err(opfd);
			opfd = -1;
			goto out;
		}
		r = linkat(opfd, "", npfd, nbase, AT_EMPTY_PATH);
		if (r && errno == ENOENT) {
			/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH. */
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", opfd);
			r = linkat(AT_FDCWD, proc, npfd, nbase,
				   AT_SYMLINK_FOLLOW);
		}
	} else {
		e = parent_of(c, of, opath, &opfd, obase, &otrail);
		if (!e)
			e = check_trailing(opfd, obase, otrail);
		if (e)
			goto out;
		r = linkat(opfd, obase, npfd, nbase, 0);
	}
	if (r)
		e = host_err();
out:
	if (opfd >= 0)
		close(opfd);
	if (npfd >= 0)
		close(npfd);
	free(opath);
	free(npath);
	return e;
}

static uint16_t x_path_rename(struct ctx *c, const value_t *a)
{
	char obase[WASI_NAME_MAX + 1], nbase[WASI_NAME_MAX + 1];
	char *opath = NULL, *npath = NULL;
	struct wasi_fd *of, *nf;
	int opfd = -1, npfd = -1, otrail = 0, ntrail = 0;
	struct stat st;
	uint16_t e;

	e = dir_path(c, A32(0), WASI_RIGHT_PATH_RENAME_SOURCE, A32(1), A32(2),
		     &of, &opath);
	if (!e)
		e = dir_path(c, A32(3), WASI_RIGHT_PATH_RENAME_TARGET, A32(4),
			     A32(5), &nf, &npath);
	if (!e)
		e = parent_of(c, of, opath, &opfd, obase, &otrail);
	if (!e)
		e = parent_of(c, nf, npath, &npfd, nbase, &ntrail);
	/* A trailing slash on either side: the source must be a directory. */
	if (!e && (otrail || ntrail)) {
		if (fstatat(opfd, obase, &st, AT_SYMLINK_NOFOLLOW))
			e = host_err();
		else if (!S_ISDIR(st.st_mode))
			e = WASI_ENOTDIR;
	}
	if (!e && renameat(opfd, obase, npfd, nbase))
		e = host_err();
	if (opfd >= 0)
		close(opfd);
	if (npfd >= 0)
		close(npfd);
	free(opath);
	free(npath);
	return e;
}

/* ---- poll_oneoff ---- */

struct poll_sub {
	uint64_t userdata;
	uint8_t tag;
	uint16_t error;		/* known at once: an event with this error */
	int immediate;
	uint64_t due;		/* clock: CLOCK_MONOTONIC ns */
	int pidx;		/* fd: index in the pollfd array, or -1 */
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* A clock subscription's time as a CLOCK_MONOTONIC deadline. */
static uint16_t clock_due(uint32_t id, uint64_t timeout, uint16_t flags,
			  uint64_t now, uint64_t *due)
{
	struct timespec ts;
	clockid_t cid;
	uint64_t then;

	if ((id != CLOCK_ID_REALTIME && id != CLOCK_ID_MONOTONIC) ||
	    host_clock(id, &cid))
		return WASI_EINVAL;
	if (!(flags & SUBCLOCK_ABSTIME)) {
		*due = sat_add(now, timeout);
		return 0;
	}
	clock_gettime(cid, &ts);
	then = ts_ns(&ts);
	*due = timeout <= then ? now : sat_add(now, timeout - then);
	return 0;
}

/* Bytes ready to read, when the host can tell. */
static uint64_t readable_bytes(int fd)
{
	struct stat st;
	off_t pos;
	int n;

	if (!fstat(fd, &st) && S_ISREG(st.st_mode)) {
		pos = lseek(fd, 0, SEEK_CUR);
		return pos >= 0 && st.st_size > pos ?
			(uint64_t)(st.st_size - pos) : 0;
	}
	if (!ioctl(fd, FIONREAD, &n) && n > 0)
		return (uint64_t)n;
	return 0;
}

static void put_event(uint8_t *p, const struct poll_sub *s, uint16_t error,
		      uint64_t nbytes, uint16_t rwflags)
{
	memset(p, 0, EVENT_SIZE);
	put64(p, s->userdata);
	put16(p + 8, error);
	p[10] = s->tag;
	if (s->tag != EVENTTYPE_CLOCK) {
		put64(p + 16, nbytes);
		put16(p + 24, rwflags);
	}
}

static uint16_t parse_subs(struct ctx *c, const uint8_t *in, uint32_t n,
			   struct poll_sub *subs, struct pollfd *pfds,
			   int *npfd)
{
	uint64_t now = mono_now();
	struct wasi_fd *f;
	uint32_t i;

	for (i = 0; i < n; i++) {
		const uint8_t *p = in + (size_t)i * SUB_SIZE;
		struct poll_sub *s = &subs[i];

		s->userdata = get64(p);
		s->tag = p[8];
		s->pidx = -1;
		switch (s->tag) {
		case EVENTTYPE_CLOCK:
			s->error = clock_due(get32(p + 16), get64(p + 24),
					     get16(p + 40), now, &s->due);
			s->immediate = s->error != 0;
			break;
		case EVENTTYPE_FD_READ:
		case EVENTTYPE_FD_WRITE:
			f = fd_get(c->w, get32(p + 16),
				   WASI_RIGHT_POLL_FD_READWRITE, &s->error);
			if (!f) {
				s->immediate = 1;
				break;
			}
			pfds[*npfd].fd = f->host;
			pfds[*npfd].events = s->tag == EVENTTYPE_FD_READ ?
					     POLLIN : POLLOUT;
			s->pidx = (*npfd)++;
			break;
		default:
			return WASI_EINVAL;
		}
	}
	return 0;
}

/* Fills events for what is ready; returns how many. */
static uint32_t collect(const struct poll_sub *subs, uint32_t n,
			const struct pollfd *pfds, uint64_t now, uint8_t *ev)
{
	uint32_t i, k = 0;

	for (i = 0; i < n; i++) {
		const struct poll_sub *s = &subs[i];
		short re;

		if (s->immediate) {
			put_event(ev + (size_t)k++ * EVENT_SIZE, s, s->error,
				  0, 0);
		} else if (s->tag == EVENTTYPE_CLOCK) {
			if (s->due <= now)
				put_event(ev + (size_t)k++ * EVENT_SIZE, s,
					  0, 0, 0);
		} else if ((re = pfds[s->pidx].revents)) {
			uint16_t err = re & POLLNVAL ? WASI_EBADF : 0;
			uint64_t nb = 0;

			if (!err && s->tag == EVENTTYPE_FD_READ)
				nb = readable_bytes(pfds[s->pidx].fd);
			put_event(ev + (size_t)k++ * EVENT_SIZE, s, err, nb,
				  re & POLLHUP ? EVENTRW_HANGUP : 0);
		}
	}
	return k;
}

static uint16_t x_poll_oneoff(struct ctx *c, const value_t *a)
{
	uint32_t n = A32(2), i, nev = 0;
	uint8_t *in, *out, *pn;
	struct poll_sub *subs = NULL;
	struct pollfd *pfds = NULL;
	int npfd = 0, any;
	uint16_t e;

	/* The host's copy costs more than the module's: a bound keeps a
	 * module from making the host allocate gigabytes (EINVAL, as poll(2)
	 * for more fds than it takes). */
	if (!n || n > MAX_POLL_SUBS)
		return WASI_EINVAL;
	in = ptr(c, A32(0), (uint64_t)n * SUB_SIZE);
	out = ptr(c, A32(1), (uint64_t)n * EVENT_SIZE);
	pn = ptr(c, A32(3), 4);
	if (!in || !out || !pn)
		return WASI_EFAULT;
	subs = calloc(n, sizeof(*subs));
	pfds = calloc(n, sizeof(*pfds));
	if (!subs || !pfds) {
		e = WASI_ENOMEM;
		goto out;
	}
	e = parse_subs(c, in, n, subs, pfds, &npfd);
	if (e)
		goto out;
	for (;;) {
		uint64_t now = mono_now(), wait = UINT64_MAX;
		uint64_t dl = assay_wasm_store_deadline(c->w->store);
		struct timespec ts;
		int r;

		if (dl && now >= dl) {
			deadline_trap(c);
			goto out;
		}
		any = 0;
		for (i = 0; i < n; i++) {
			if (subs[i].immediate)
				wait = 0;
			else if (subs[i].tag == EVENTTYPE_CLOCK) {
				any = 1;
				if (subs[i].due <= now)
					wait = 0;
				else if (subs[i].due - now < wait)
					wait = subs[i].due - now;
			}
		}
		if (dl && dl - now < wait) {
			wait = dl - now;
			any = 1;
		}
		ts.tv_sec = (time_t)(wait / 1000000000u);
		ts.tv_nsec = (long)(wait % 1000000000u);
		r = ppoll(pfds, (nfds_t)npfd,
			  wait == UINT64_MAX && !any ? NULL : &ts, NULL);
		if (r < 0 && errno != EINTR) {
			e = host_err();
			goto out;
		}
		/* Straight into the module's buffer: what collect needs of
		 * the subscriptions (which may share it) is in subs by now,
		 * and it writes only when something is ready. */
		nev = collect(subs, n, pfds, mono_now(), out);
		if (nev)
			break;
	}
	put32(pn, nev);
out:
	free(subs);
	free(pfds);
	return e;
}

/* ---- sockets ---- */

/* A socket fd with rights, or NULL: EBADF, ENOTSOCK, then ENOTCAPABLE. */
static struct wasi_fd *sock_get(struct ctx *c, uint32_t fd, uint64_t rights,
				uint16_t *e)
{
	struct wasi_fd *f = fd_get(c->w, fd, 0, e);

	if (!f)
		return NULL;
	if (!is_socket(f)) {
		*e = WASI_ENOTSOCK;
		return NULL;
	}
	if ((f->base & rights) != rights) {
		*e = WASI_ENOTCAPABLE;
		return NULL;
	}
	return f;
}

static uint16_t x_sock_accept(struct ctx *c, const value_t *a)
{
	uint8_t *pfd = ptr(c, A32(2), 4);
	uint64_t base, inh;
	struct wasi_fd *f;
	struct stat st;
	uint32_t nfd;
	uint16_t e;
	int host;
	uint8_t type;

	f = sock_get(c, A32(0), WASI_RIGHT_SOCK_ACCEPT, &e);
	if (!f)
		return e;
	if (A32(1) & ~FDFLAGS_NONBLOCK)
		return WASI_EINVAL;
	if (!pfd)
		return WASI_EFAULT;
	if (bounded(c, f) && wait_fd(c, f, POLLIN))
		return 0;
	do
		host = accept4(f->host, NULL, NULL, SOCK_CLOEXEC |
			       (A32(1) & FDFLAGS_NONBLOCK ? SOCK_NONBLOCK : 0));
	while (host < 0 && errno == EINTR);
	if (host < 0)
		return host_err();
	if (fstat(host, &st)) {
		e = host_err();
		close(host);
		return e;
	}
	type = filetype_of(host, &st);
	rights_of(host, type, &base, &inh);
	/* A connection accepts nothing itself. */
	e = fd_add(c->w, host, type, base & ~WASI_RIGHT_SOCK_ACCEPT, inh, NULL,
		   &nfd);
	if (e)
		return e;
	put32(pfd, nfd);
	return 0;
}

/* recvmsg under the deadline: waits for data, takes what is there, and
 * with WAITALL goes on until the buffers are full or the peer is done.
 * The iovecs are advanced in place as they fill. */
static ssize_t recv_bounded(struct ctx *c, const struct wasi_fd *f,
			    struct msghdr *msg, uint32_t ri)
{
	int flags = MSG_DONTWAIT | (ri & RIFLAGS_PEEK ? MSG_PEEK : 0);
	size_t got = 0, want = 0, i;
	ssize_t r;

	for (i = 0; i < msg->msg_iovlen; i++)
		want += msg->msg_iov[i].iov_len;
	for (;;) {
		if (wait_fd(c, f, POLLIN))
			return -1;
		r = recvmsg(f->host, msg, flags);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return got ? (ssize_t)got : -1;
		got += (size_t)r;
		/* A peek looks at the same bytes again: one is enough. */
		if (!r || got >= want || !(ri & RIFLAGS_WAITALL) ||
		    (ri & RIFLAGS_PEEK))
			return (ssize_t)got;
		while (r > 0) {
			size_t take = (size_t)r < msg->msg_iov->iov_len ?
				      (size_t)r : msg->msg_iov->iov_len;

			msg->msg_iov->iov_base = (uint8_t *)msg->msg_iov->iov_base + take;
			msg->msg_iov->iov_len -= take;
			r -= (ssize_t)take;
			if (!msg->msg_iov->iov_len) {
				msg->msg_iov++;
				msg->msg_iovlen--;
			}
		}
	}
}

static uint16_t x_sock_recv(struct ctx *c, const value_t *a)
{
	uint32_t ri = A32(3);
	uint8_t *plen = ptr(c, A32(4), 4), *pflags = ptr(c, A32(5), 2);
	struct msghdr msg;
	struct wasi_fd *f;
	struct iovec *v;
	ssize_t r;
	uint16_t e;
	int n;

	f = sock_get(c, A32(0), WASI_RIGHT_FD_READ, &e);
	if (!f)
		return e;
	if (ri & ~(RIFLAGS_PEEK | RIFLAGS_WAITALL))
		return WASI_EINVAL;
	if (!plen || !pflags)
		return WASI_EFAULT;
	e = get_iovs(c, A32(1), A32(2), &v, &n);
	if (e)
		return e;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = v;
	msg.msg_iovlen = (size_t)n;
	if (bounded(c, f))
		r = recv_bounded(c, f, &msg, ri);
	else
		do
			r = recvmsg(f->host, &msg,
				    (ri & RIFLAGS_PEEK ? MSG_PEEK : 0) |
				    (ri & RIFLAGS_WAITALL ? MSG_WAITALL : 0));
		while (r < 0 && errno == EINTR);
	if (c->trapped) {
		free(v);
		return 0;
	}
	e = r < 0 ? host_err() : 0;
	free(v);
	if (!e) {
		put32(plen, (uint32_t)r);
		put16(pflags, msg.msg_flags & MSG_TRUNC ? ROFLAGS_TRUNCATED : 0);
	}
	return e;
}

static uint16_t x_sock_send(struct ctx *c, const value_t *a)
{
	uint8_t *plen = ptr(c, A32(4), 4);
	struct msghdr msg;
	struct wasi_fd *f;
	struct iovec *v;
	ssize_t r;
	uint16_t e;
	int n;

	f = sock_get(c, A32(0), WASI_RIGHT_FD_WRITE, &e);
	if (!f)
		return e;
	if (A32(3))		/* preview1 defines no siflags */
		return WASI_EINVAL;
	if (!plen)
		return WASI_EFAULT;
	e = get_iovs(c, A32(1), A32(2), &v, &n);
	if (e)
		return e;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = v;
	msg.msg_iovlen = (size_t)n;
	/* EPIPE to the module, not SIGPIPE to the host. Under a deadline,
	 * what fits once the socket is writable: a short send. */
	if (bounded(c, f)) {
		do {
			if (wait_fd(c, f, POLLOUT)) {
				free(v);
				return 0;
			}
			r = sendmsg(f->host, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (r < 0 && (errno == EINTR || errno == EAGAIN));
	} else {
		do
			r = sendmsg(f->host, &msg, MSG_NOSIGNAL);
		while (r < 0 && errno == EINTR);
	}
	e = r < 0 ? host_err() : 0;
	free(v);
	if (!e)
		put32(plen, (uint32_t)r);
	return e;
}

static uint16_t x_sock_shutdown(struct ctx *c, const value_t *a)
{
	struct wasi_fd *f;
	uint16_t e;
	int how;

	f = sock_get(c, A32(0), WASI_RIGHT_SOCK_SHUTDOWN, &e);
	if (!f)
		return e;
	switch (A32(1)) {
	case SDFLAGS_RD: how = SHUT_RD; break;
	case SDFLAGS_WR: how = SHUT_WR; break;
	case SDFLAGS_RD | SDFLAGS_WR: how = SHUT_RDWR; break;
	default: return WASI_EINVAL;
	}
	return shutdown(f->host, how) ? host_err() : 0;
}

/* ---- the import table ---- */

#define I ASSAY_WASM_I32
#define L ASSAY_WASM_I64
#define P(...) ((const enum assay_wasm_type[]){ __VA_ARGS__ })
#define NP(...) (sizeof(P(__VA_ARGS__)) / sizeof(enum assay_wasm_type))
#define DEF(name, ...) { #name, NP(__VA_ARGS__), P(__VA_ARGS__), 1, x_##name }

/* The core types are the witx signatures lowered as wasi-libc declares
 * them: pointers, sizes, u8/u16/u32 as i32; 64-bit values as i64; the
 * errno as the one i32 result. */
static const struct wasi_def defs[] = {
	DEF(args_get, I, I),
	DEF(args_sizes_get, I, I),
	DEF(environ_get, I, I),
	DEF(environ_sizes_get, I, I),
	DEF(clock_res_get, I, I),
	DEF(clock_time_get, I, L, I),
	DEF(fd_advise, I, L, L, I),
	DEF(fd_allocate, I, L, L),
	DEF(fd_close, I),
	DEF(fd_datasync, I),
	DEF(fd_fdstat_get, I, I),
	DEF(fd_fdstat_set_flags, I, I),
	DEF(fd_fdstat_set_rights, I, L, L),
	DEF(fd_filestat_get, I, I),
	DEF(fd_filestat_set_size, I, L),
	DEF(fd_filestat_set_times, I, L, L, I),
	DEF(fd_pread, I, I, I, L, I),
	DEF(fd_prestat_get, I, I),
	DEF(fd_prestat_dir_name, I, I, I),
	DEF(fd_pwrite, I, I, I, L, I),
	DEF(fd_read, I, I, I, I),
	DEF(fd_readdir, I, I, I, L, I),
	DEF(fd_renumber, I, I),
	DEF(fd_seek, I, L, I, I),
	DEF(fd_sync, I),
	DEF(fd_tell, I, I),
	DEF(fd_write, I, I, I, I),
	DEF(path_create_directory, I, I, I),
	DEF(path_filestat_get, I, I, I, I, I),
	DEF(path_filestat_set_times, I, I, I, I, L, L, I),
	DEF(path_link, I, I, I, I, I, I, I),
	DEF(path_open, I, I, I, I, I, L, L, I, I),
	DEF(path_readlink, I, I, I, I, I, I),
	DEF(path_remove_directory, I, I, I),
	DEF(path_rename, I, I, I, I, I, I),
	DEF(path_symlink, I, I, I, I, I),
	DEF(path_unlink_file, I, I, I),
	DEF(poll_oneoff, I, I, I, I),
	{ "proc_exit", 1, P(I), 0, x_proc_exit },
	DEF(proc_raise, I),
	{ "sched_yield", 0, NULL, 1, x_sched_yield },
	DEF(random_get, I, I),
	DEF(sock_accept, I, I, I),
	DEF(sock_recv, I, I, I, I, I, I),
	DEF(sock_send, I, I, I, I, I),
	DEF(sock_shutdown, I, I),
};

#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

static const enum assay_wasm_type errno_result[] = { ASSAY_WASM_I32 };

static int dispatch(struct assay_wasm_call *call, void *env,
		    const struct assay_wasm_value *args,
		    struct assay_wasm_value *results)
{
	struct wasi_bind *b = env;
	struct ctx c = { b->w, call, NULL, 0 };
	uint16_t e = b->def->impl(&c, args);

	if (c.trapped)
		return -1;
	if (b->def->n_results) {
		results[0].type = ASSAY_WASM_I32;
		results[0].of.i32 = e;
	}
	return 0;
}

static const struct wasi_def *def_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_DEFS; i++)
		if (!strcmp(defs[i].name, name))
			return &defs[i];
	return NULL;
}

int wasi_provides(const char *module, const char *name)
{
	return module && name && !strcmp(module, WASI_MODULE) &&
	       def_find(name) != NULL;
}

static void def_type(const struct wasi_def *d, struct assay_wasm_functype *t)
{
	t->n_params = d->n_params;
	t->params = d->params;
	t->n_results = d->n_results;
	t->results = d->n_results ? errno_result : NULL;
}

static int same_type(const struct assay_wasm_functype *a,
		     const struct assay_wasm_functype *b)
{
	uint32_t i;

	if (a->n_params != b->n_params || a->n_results != b->n_results)
		return 0;
	for (i = 0; i < a->n_params; i++)
		if (a->params[i] != b->params[i])
			return 0;
	for (i = 0; i < a->n_results; i++)
		if (a->results[i] != b->results[i])
			return 0;
	return 1;
}

int wasi_imports(struct wasi *w, const struct assay_wasm_module *m,
		 struct assay_wasm_extern *imports, char *err, size_t errlen)
{
	uint32_t i, n = assay_wasm_module_import_count(m);
	struct assay_wasm_import_desc d;
	struct assay_wasm_functype t;
	const struct wasi_def *def;
	struct wasi_bind *b;

	for (i = 0; i < n; i++) {
		assay_wasm_module_import(m, i, &d);
		if (strcmp(d.module, WASI_MODULE))
			continue;
		def = def_find(d.name);
		if (!def) {
			error_set(err, errlen, "unknown import %s.%s",
				  d.module, d.name);
			return -1;
		}
		def_type(def, &t);
		if (d.kind != ASSAY_WASM_EXTERN_FUNC || !same_type(&d.func, &t)) {
			error_set(err, errlen,
				  "incompatible import type for %s.%s",
				  d.module, d.name);
			return -1;
		}
		b = &w->binds[def - defs];
		if (!b->func) {
			b->func = assay_wasm_func_new_host(w->store, &t,
							   dispatch, b);
			if (!b->func) {
				error_set(err, errlen, "%s.%s: out of memory",
					  d.module, d.name);
				return -1;
			}
		}
		imports[i].kind = ASSAY_WASM_EXTERN_FUNC;
		imports[i].of.func = b->func;
	}
	return 0;
}

/* ---- setup ---- */

void wasi_config_init(struct wasi_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->stdin_fd = 0;
	cfg->stdout_fd = 1;
	cfg->stderr_fd = 2;
}

static int copy_strings(const char *const *in, size_t n, char ***out,
			uint32_t *bytes, const char *what, char *err,
			size_t errlen)
{
	uint64_t total = 0;
	size_t i;

	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		goto nomem;
	for (i = 0; i < n; i++) {
		(*out)[i] = strdup(in[i] ? in[i] : "");
		if (!(*out)[i])
			goto nomem;
		total += strlen((*out)[i]) + 1;
	}
	/* Both the strings and the pointers must fit a 32-bit memory. */
	if (total + (uint64_t)n * 4 > UINT32_MAX / 2) {
		error_set(err, errlen, "%s: too large", what);
		return -1;
	}
	*bytes = (uint32_t)total;
	return 0;
nomem:
	error_set(err, errlen, "%s: out of memory", what);
	return -1;
}

static void free_strings(char **s, size_t n)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

/* One of the host's fds, duplicated, into the next free slot: the slot,
 * -2 for a closed stdio fd, -1 with err filled. */
static int add_host_fd(struct wasi *w, int fd, int want_socket,
		       const char *what, char *err, size_t errlen)
{
	uint64_t base, inh;
	struct stat st;
	uint32_t slot;
	uint8_t type;
	int dup;

	dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	/* A closed stdio fd stays closed for the module (EBADF when used),
	 * as for a native program started with it closed. */
	if (dup < 0 && errno == EBADF && !want_socket)
		return -2;
	if (dup < 0) {
		error_set(err, errlen, "%s (fd %d): %s", what, fd,
			  strerror(errno));
		return -1;
	}
	if (fstat(dup, &st) || (want_socket && !S_ISSOCK(st.st_mode))) {
		error_set(err, errlen, "%s (fd %d): %s", what, fd,
			  want_socket ? "not a socket" : strerror(errno));
		close(dup);
		return -1;
	}
	type = filetype_of(dup, &st);
	rights_of(dup, type, &base, &inh);
	if (fd_add(w, dup, type, base, inh, NULL, &slot)) {
		error_set(err, errlen, "%s: too many fds", what);
		return -1;
	}
	return (int)slot;
}

static int setup_stdio(struct wasi *w, const struct wasi_config *cfg,
		       char *err, size_t errlen)
{
	static const char *const names[] = { "stdin", "stdout", "stderr" };
	int fds[3] = { cfg->stdin_fd, cfg->stdout_fd, cfg->stderr_fd };
	uint32_t i;
	int slot;

	w->fds = calloc(16, sizeof(*w->fds));
	if (!w->fds) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	w->cap_fds = 16;
	w->n_fds = 3;
	for (i = 0; i < 3; i++)
		w->fds[i].host = -1;
	for (i = 0; i < 3; i++) {
		if (fds[i] < 0)
			continue;
		/* Added at 3 and up, then moved down to its own number. */
		slot = add_host_fd(w, fds[i], 0, names[i], err, errlen);
		if (slot == -2)
			continue;
		if (slot < 0)
			return -1;
		w->fds[i] = w->fds[slot];
		w->fds[slot].host = -1;
	}
	return 0;
}

static int setup_preopens(struct wasi *w, const struct wasi_config *cfg,
			  char *err, size_t errlen)
{
	size_t i;
	uint32_t slot;
	char *name;
	int fd;

	for (i = 0; i < cfg->n_preopens; i++) {
		const struct wasi_preopen *p = &cfg->preopens[i];

		if (!p->host || !p->guest || !*p->guest) {
			error_set(err, errlen, "preopen %zu: host and guest "
				  "names are needed", i + 1);
			return -1;
		}
		fd = open(p->host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			error_set(err, errlen, "preopen %s: %s", p->host,
				  strerror(errno));
			return -1;
		}
		name = strdup(p->guest);
		if (!name || fd_add(w, fd, WASI_FILETYPE_DIRECTORY, R_DIR,
				    R_DIR | R_FILE, name, &slot)) {
			if (!name)
				close(fd);
			error_set(err, errlen, "preopen %s: out of memory or "
				  "too many fds", p->host);
			return -1;
		}
	}
	return 0;
}

struct wasi *wasi_new(struct assay_wasm_store *s, const struct wasi_config *cfg,
		      char *err, size_t errlen)
{
	struct wasi *w = calloc(1, sizeof(*w));
	size_t i;

	if (!w) {
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	w->store = s;
	w->resolve = cfg->resolve_walk ? WASI_RESOLVE_WALK : WASI_RESOLVE_AUTO;
	w->max_fds = cfg->max_fds ? cfg->max_fds : DEFAULT_MAX_FDS;
	w->argc = cfg->argc;
	w->n_env = cfg->n_env;
	w->binds = calloc(N_DEFS, sizeof(*w->binds));
	if (!w->binds) {
		error_set(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < N_DEFS; i++) {
		w->binds[i].w = w;
		w->binds[i].def = &defs[i];
	}
	if (copy_strings(cfg->argv, cfg->argc, &w->argv, &w->argv_bytes,
			 "arguments", err, errlen) ||
	    copy_strings(cfg->env, cfg->n_env, &w->env, &w->env_bytes,
			 "environment", err, errlen) ||
	    setup_stdio(w, cfg, err, errlen) ||
	    setup_preopens(w, cfg, err, errlen))
		goto fail;
	for (i = 0; i < cfg->n_sockets; i++)
		if (add_host_fd(w, cfg->sockets[i], 1, "socket", err,
				errlen) < 0)
			goto fail;
	return w;
fail:
	wasi_free(w);
	return NULL;
}

void wasi_free(struct wasi *w)
{
	uint32_t i;

	if (!w)
		return;
	for (i = 0; i < w->n_fds; i++)
		fd_release(w, i);
	free(w->fds);
	free_strings(w->argv, w->argc);
	free_strings(w->env, w->n_env);
	free(w->binds);
	free(w);
}

int wasi_run(struct wasi *w, struct assay_wasm_instance *inst, int *exit_code,
	     struct assay_wasm_trap *trap, char *err, size_t errlen)
{
	struct assay_wasm_functype t;
	struct assay_wasm_extern ext;

	*exit_code = 0;
	memset(trap, 0, sizeof(*trap));
	if (assay_wasm_instance_export(inst, "_start", &ext) ||
	    ext.kind != ASSAY_WASM_EXTERN_FUNC) {
		error_set(err, errlen, "no _start function: not a WASI command");
		return -1;
	}
	assay_wasm_func_type(ext.of.func, &t);
	if (t.n_params || t.n_results) {
		error_set(err, errlen, "_start takes or returns values");
		return -1;
	}
	if (!assay_wasm_call(w->store, ext.of.func, NULL, 0, NULL, 0, trap))
		return 0;
	if (trap->exited) {
		*exit_code = trap->exit_code;
		return 0;
	}
	return 1;
}
