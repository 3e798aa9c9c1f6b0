/* runner: what the assay-keep tests share: running a program with given
 * arguments, environment, directory and input and collecting what it
 * prints and how it ends; copying and removing directory trees. */
#ifndef ASSAY_KEEP_TESTS_RUNNER_H
#define ASSAY_KEEP_TESTS_RUNNER_H

#include <stddef.h>

#include "util/buf.h"

struct run_result {
	int status;		/* exit code, 128 + signal, or -1 (timed out) */
	struct buf out, err;	/* NUL-terminated */
};

/* Runs argv[0] (a path) with envp (NULL: this process's environment) in
 * cwd (NULL: here), input on its standard input. Kills it after
 * timeout_s seconds. 0, or -1 when it could not be started. */
int run_program(const char *const *argv, const char *const *envp,
		const char *cwd, const char *input, int timeout_s,
		struct run_result *res);
void run_result_free(struct run_result *res);

/* A fresh directory under $TMPDIR (or /tmp) into buf (n bytes). */
int run_tmpdir(char *buf, size_t n, const char *tag);
/* Copies the tree src to dst (created; files, directories, symlinks),
 * every copy writable by its owner. 0 or -1 with a message printed. */
int run_copy_tree(const char *src, const char *dst);
/* rm -rf path. */
int run_remove_tree(const char *path);
/* Appends a sorted listing of the tree ("path type size" lines; for
 * symlinks their target) to out. */
int run_list_tree(const char *dir, struct buf *out);

/* The directory the hostile module (progs/escape.c) runs against, in
 * top: root/ (its "/": file, sub/, link_out -> /etc, rel_out ->
 * ../outside/secret, rel_dir_out -> ../outside, dangling_out ->
 * ../outside/created) and outside/secret. */
int run_escape_prepare(const char *top);
/* run_list_tree of top after the module: the two harmless links it may
 * make inside, nothing else changed. */
extern const char run_escape_tree[];

#endif
