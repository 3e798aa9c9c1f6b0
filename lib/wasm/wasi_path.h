/* wasi_path: path resolution confined beneath a directory, for WASI.
 *
 * Every path a module names is relative to one of its directory file
 * descriptors, and must never reach outside that directory: not by "..",
 * not by an absolute path, not by a symlink (whatever its target), not by
 * a /proc "magic link", and not by a race with someone renaming things
 * while we resolve.
 *
 * Two implementations, same rules:
 *   - openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS (Linux 5.6+):
 *     the kernel does the walk and refuses any step above the directory;
 *   - when openat2 is missing (ENOSYS: older kernels, some seccomp
 *     filters), a walk one component at a time from the directory, each
 *     step an openat(O_PATH | O_NOFOLLOW) on the real parent fd (so ".."
 *     is the physical parent we came from, and can be refused at the top),
 *     symlinks read with readlinkat and spliced into the rest of the path
 *     (absolute targets refused, at most 40 of them), and the final open
 *     done with O_NOFOLLOW so a symlink swapped in meanwhile fails instead
 *     of being followed.
 *
 * Operations that act on a directory entry rather than open it (mkdir,
 * unlink, rename, link, symlink, readlink, utimes without following) use
 * wasi_path_parent(): the parent directory is resolved as above and the
 * operation gets that fd and one final component without '/', which the
 * kernel never follows for these calls.
 *
 * Errors are negative errno values. An attempt to leave the directory is
 * -EXDEV (openat2's own code for it); callers report it to the module as
 * ENOTCAPABLE. */
#ifndef ASSAY_WASM_WASI_PATH_H
#define ASSAY_WASM_WASI_PATH_H

#include <stddef.h>
#include <sys/types.h>

/* Longest path accepted from a module, and longest final component. */
#define WASI_PATH_MAX 4096
#define WASI_NAME_MAX 255

/* Which implementation: WASI_RESOLVE_AUTO uses openat2 when the kernel
 * has it; WASI_RESOLVE_WALK always walks (tests exercise both). */
enum wasi_resolve_mode {
	WASI_RESOLVE_AUTO = 0,
	WASI_RESOLVE_WALK = 1,
};

/* Opens path beneath dirfd with open(2) flags (O_CLOEXEC and O_NOCTTY are
 * added; O_NOFOLLOW applies to the last component only, as with open) and
 * mode for O_CREAT. Returns the new fd or a negative errno. */
int wasi_path_open(int dirfd, const char *path, int flags, mode_t mode,
		   enum wasi_resolve_mode how);

/* Resolves everything but the last component of path beneath dirfd.
 * Returns an O_PATH fd of that directory and copies the last component
 * (never containing '/', never empty) into base (WASI_NAME_MAX + 1
 * bytes), or a negative errno. Trailing slashes are removed; *trailing
 * tells whether there were any (the entry must then be a directory).
 * When the last component is "." or "..", the whole path is first checked
 * to stay beneath dirfd. */
int wasi_path_parent(int dirfd, const char *path, char *base, int *trailing,
		     enum wasi_resolve_mode how);

/* Whether openat2 is in use (1), or the walk (0), after the first call. */
int wasi_path_has_openat2(void);

#endif
