/* WASI preview1 ("wasi_snapshot_preview1") for Assay's WebAssembly engine.
 *
 * The host side of the system interface that wasi-libc and other WASI
 * toolchains compile against: arguments, environment, clocks, randomness,
 * files under preopened directories, sockets handed in by the host,
 * poll_oneoff and proc_exit. Built on the public embedding API only
 * (assay/wasm.h): every pointer a module passes is checked with
 * assay_wasm_memory_range() before it is touched.
 *
 * Typical use (see keep/main.c):
 *
 *	struct wasi_config cfg;
 *	wasi_config_init(&cfg);
 *	cfg.argv = ...; cfg.preopens = ...;
 *	w = wasi_new(store, &cfg, err, sizeof(err));
 *	wasi_imports(w, module, imports, err, sizeof(err));
 *	inst = assay_wasm_instantiate(store, module, imports, n, &trap, ...);
 *	r = wasi_run(w, inst, &code, &trap, err, sizeof(err));
 *	wasi_free(w);
 *
 * File descriptors: the module sees 0, 1, 2 (the configured stdio), then
 * one per preopened directory (3, 4, ...: wasi-libc finds them with
 * fd_prestat_get), then the inherited sockets, then whatever it opens.
 * Host fds given in the config are duplicated: the caller keeps its own
 * (a closed stdio fd stays closed for the module). Writing to a pipe or
 * socket whose reader is gone raises SIGPIPE in the host: embedders
 * ignore it (assay-keep does) so the module gets EPIPE instead.
 *
 * Confinement: a module reaches the host's files only beneath its
 * preopened directories; see wasi_path.h for how paths are resolved.
 * Rights (preview1's capabilities) are tracked per fd and inherited as
 * the witx describes: a missing right is ENOTCAPABLE.
 *
 * Results: WASI functions return the preview1 errno to the module (the
 * values of wasi/api.h; EFAULT for a pointer outside its memory); only
 * proc_exit stops it (a trap with exited set). */
#ifndef ASSAY_WASM_WASI_H
#define ASSAY_WASM_WASI_H

#include <stddef.h>
#include <stdint.h>

#include "assay/wasm.h"

#define WASI_MODULE "wasi_snapshot_preview1"

/* A directory of the host the module may use, and the name it sees it
 * by ("/", ".", "data", ...). */
struct wasi_preopen {
	const char *host;
	const char *guest;
};

struct wasi_config {
	const char *const *argv;	/* argv[0]: the program's name */
	size_t argc;
	const char *const *env;		/* "NAME=value" strings */
	size_t n_env;
	const struct wasi_preopen *preopens;
	size_t n_preopens;
	/* Host sockets (listening or connected) the module gets after the
	 * preopens, e.g. from systemd socket activation. */
	const int *sockets;
	size_t n_sockets;
	int stdin_fd, stdout_fd, stderr_fd;	/* host fds; -1: closed */
	uint32_t max_fds;	/* open fds at once; 0: 1024 */
	/* Tests: resolve paths with the portable walk even where the kernel
	 * has openat2 (see wasi_path.h). */
	int resolve_walk;
};

struct wasi;

/* Zero everything, stdio 0, 1, 2. */
void wasi_config_init(struct wasi_config *cfg);

/* A WASI environment whose functions live in store s. Copies what cfg
 * points to; opens the preopened directories (an error names the one
 * that failed). NULL with err filled on failure. */
struct wasi *wasi_new(struct assay_wasm_store *s, const struct wasi_config *cfg,
		      char *err, size_t errlen);
/* Closes every fd it holds. The host functions stay in the store (freed
 * with it) and must not be called any more. */
void wasi_free(struct wasi *w);

/* Fills imports[i] (the module's import count of them) for every import
 * of m from wasi_snapshot_preview1; leaves the others untouched. -1 with
 * err filled for a name preview1 does not have ("unknown import
 * wasi_snapshot_preview1.foo") or a type that differs from preview1's. */
int wasi_imports(struct wasi *w, const struct assay_wasm_module *m,
		 struct assay_wasm_extern *imports, char *err, size_t errlen);

/* Whether module.name is a function this WASI provides. */
int wasi_provides(const char *module, const char *name);

/* Calls the instance's _start. Returns 0 when the program finished, by
 * returning (*exit_code 0) or by proc_exit (its code); 1 when it trapped
 * (trap filled); -1 with err filled when there is no _start of type
 * [] -> []. */
int wasi_run(struct wasi *w, struct assay_wasm_instance *inst, int *exit_code,
	     struct assay_wasm_trap *trap, char *err, size_t errlen);

/* ---- preview1's numbers (wasi/api.h), for the implementation and tests ---- */

enum wasi_errno {
	WASI_ESUCCESS = 0, WASI_E2BIG = 1, WASI_EACCES = 2, WASI_EADDRINUSE = 3,
	WASI_EADDRNOTAVAIL = 4, WASI_EAFNOSUPPORT = 5, WASI_EAGAIN = 6,
	WASI_EALREADY = 7, WASI_EBADF = 8, WASI_EBADMSG = 9, WASI_EBUSY = 10,
	WASI_ECANCELED = 11, WASI_ECHILD = 12, WASI_ECONNABORTED = 13,
	WASI_ECONNREFUSED = 14, WASI_ECONNRESET = 15, WASI_EDEADLK = 16,
	WASI_EDESTADDRREQ = 17, WASI_EDOM = 18, WASI_EDQUOT = 19,
	WASI_EEXIST = 20, WASI_EFAULT = 21, WASI_EFBIG = 22,
	WASI_EHOSTUNREACH = 23, WASI_EIDRM = 24, WASI_EILSEQ = 25,
	WASI_EINPROGRESS = 26, WASI_EINTR = 27, WASI_EINVAL = 28, WASI_EIO = 29,
	WASI_EISCONN = 30, WASI_EISDIR = 31, WASI_ELOOP = 32, WASI_EMFILE = 33,
	WASI_EMLINK = 34, WASI_EMSGSIZE = 35, WASI_EMULTIHOP = 36,
	WASI_ENAMETOOLONG = 37, WASI_ENETDOWN = 38, WASI_ENETRESET = 39,
	WASI_ENETUNREACH = 40, WASI_ENFILE = 41, WASI_ENOBUFS = 42,
	WASI_ENODEV = 43, WASI_ENOENT = 44, WASI_ENOEXEC = 45, WASI_ENOLCK = 46,
	WASI_ENOLINK = 47, WASI_ENOMEM = 48, WASI_ENOMSG = 49,
	WASI_ENOPROTOOPT = 50, WASI_ENOSPC = 51, WASI_ENOSYS = 52,
	WASI_ENOTCONN = 53, WASI_ENOTDIR = 54, WASI_ENOTEMPTY = 55,
	WASI_ENOTRECOVERABLE = 56, WASI_ENOTSOCK = 57, WASI_ENOTSUP = 58,
	WASI_ENOTTY = 59, WASI_ENXIO = 60, WASI_EOVERFLOW = 61,
	WASI_EOWNERDEAD = 62, WASI_EPERM = 63, WASI_EPIPE = 64,
	WASI_EPROTO = 65, WASI_EPROTONOSUPPORT = 66, WASI_EPROTOTYPE = 67,
	WASI_ERANGE = 68, WASI_EROFS = 69, WASI_ESPIPE = 70, WASI_ESRCH = 71,
	WASI_ESTALE = 72, WASI_ETIMEDOUT = 73, WASI_ETXTBSY = 74,
	WASI_EXDEV = 75, WASI_ENOTCAPABLE = 76,
};

/* A host errno as preview1's (EIO for one it has no name for). */
uint16_t wasi_errno_from_host(int e);
/* Preview1's name of an errno ("ENOTCAPABLE"), or NULL. */
const char *wasi_errno_name(uint16_t e);

enum wasi_filetype {
	WASI_FILETYPE_UNKNOWN = 0,
	WASI_FILETYPE_BLOCK_DEVICE = 1,
	WASI_FILETYPE_CHARACTER_DEVICE = 2,
	WASI_FILETYPE_DIRECTORY = 3,
	WASI_FILETYPE_REGULAR_FILE = 4,
	WASI_FILETYPE_SOCKET_DGRAM = 5,
	WASI_FILETYPE_SOCKET_STREAM = 6,
	WASI_FILETYPE_SYMBOLIC_LINK = 7,
};

#define WASI_RIGHT_FD_DATASYNC			(UINT64_C(1) << 0)
#define WASI_RIGHT_FD_READ			(UINT64_C(1) << 1)
#define WASI_RIGHT_FD_SEEK			(UINT64_C(1) << 2)
#define WASI_RIGHT_FD_FDSTAT_SET_FLAGS		(UINT64_C(1) << 3)
#define WASI_RIGHT_FD_SYNC			(UINT64_C(1) << 4)
#define WASI_RIGHT_FD_TELL			(UINT64_C(1) << 5)
#define WASI_RIGHT_FD_WRITE			(UINT64_C(1) << 6)
#define WASI_RIGHT_FD_ADVISE			(UINT64_C(1) << 7)
#define WASI_RIGHT_FD_ALLOCATE			(UINT64_C(1) << 8)
#define WASI_RIGHT_PATH_CREATE_DIRECTORY	(UINT64_C(1) << 9)
#define WASI_RIGHT_PATH_CREATE_FILE		(UINT64_C(1) << 10)
#define WASI_RIGHT_PATH_LINK_SOURCE		(UINT64_C(1) << 11)
#define WASI_RIGHT_PATH_LINK_TARGET		(UINT64_C(1) << 12)
#define WASI_RIGHT_PATH_OPEN			(UINT64_C(1) << 13)
#define WASI_RIGHT_FD_READDIR			(UINT64_C(1) << 14)
#define WASI_RIGHT_PATH_READLINK		(UINT64_C(1) << 15)
#define WASI_RIGHT_PATH_RENAME_SOURCE		(UINT64_C(1) << 16)
#define WASI_RIGHT_PATH_RENAME_TARGET		(UINT64_C(1) << 17)
#define WASI_RIGHT_PATH_FILESTAT_GET		(UINT64_C(1) << 18)
#define WASI_RIGHT_PATH_FILESTAT_SET_SIZE	(UINT64_C(1) << 19)
#define WASI_RIGHT_PATH_FILESTAT_SET_TIMES	(UINT64_C(1) << 20)
#define WASI_RIGHT_FD_FILESTAT_GET		(UINT64_C(1) << 21)
#define WASI_RIGHT_FD_FILESTAT_SET_SIZE		(UINT64_C(1) << 22)
#define WASI_RIGHT_FD_FILESTAT_SET_TIMES	(UINT64_C(1) << 23)
#define WASI_RIGHT_PATH_SYMLINK			(UINT64_C(1) << 24)
#define WASI_RIGHT_PATH_REMOVE_DIRECTORY	(UINT64_C(1) << 25)
#define WASI_RIGHT_PATH_UNLINK_FILE		(UINT64_C(1) << 26)
#define WASI_RIGHT_POLL_FD_READWRITE		(UINT64_C(1) << 27)
#define WASI_RIGHT_SOCK_SHUTDOWN		(UINT64_C(1) << 28)
#define WASI_RIGHT_SOCK_ACCEPT			(UINT64_C(1) << 29)
#define WASI_RIGHTS_ALL				((UINT64_C(1) << 30) - 1)

#endif
