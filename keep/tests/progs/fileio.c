/* File I/O in the working directory (natively) or the preopened "/"
 * (under assay-keep): the same results either way. Errors are printed by
 * name, since errno values and strerror texts differ between libcs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static const char *ename(int e)
{
	switch (e) {
	case 0: return "ok";
	case ENOENT: return "ENOENT";
	case EEXIST: return "EEXIST";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case ENOTEMPTY: return "ENOTEMPTY";
	case EBADF: return "EBADF";
	case EINVAL: return "EINVAL";
	case ELOOP: return "ELOOP";
	case ESPIPE: return "ESPIPE";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	default: return "other";
	}
}

#define TRY(what, expr)                                                 \
	do {                                                            \
		errno = 0;                                              \
		int r_ = (expr);                                        \
		printf("%s: %s\n", what, r_ < 0 ? ename(errno) : "ok"); \
	} while (0)

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *dir)
{
	char *names[64];
	struct dirent *e;
	int n = 0, i;
	DIR *d = opendir(dir);

	if (!d) {
		printf("opendir %s: %s\n", dir, ename(errno));
		return;
	}
	while ((e = readdir(d)) && n < 64)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), cmp);
	printf("%s:", dir);
	for (i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

int main(void)
{
	/* Static: wasm32-wasi programs have a 64 KiB stack by default. */
	static char big[100000];
	char line[256], buf[64];
	struct stat st;
	struct timeval tv[2];
	FILE *f;
	int fd, i, lines = 0;
	ssize_t n;
	long pos;

	TRY("mkdir work", mkdir("work", 0755));
	TRY("mkdir work again", mkdir("work", 0755));
	TRY("mkdir work/sub/deep", mkdir("work/sub/deep", 0755));
	TRY("mkdir work/sub", mkdir("work/sub", 0755));

	f = fopen("work/a.txt", "w");
	printf("fopen w: %s\n", f ? "ok" : ename(errno));
	if (!f)
		return 1;
	for (i = 0; i < 20; i++)
		fprintf(f, "line %d of the file, squared %d\n", i, i * i);
	fclose(f);

	f = fopen("work/a.txt", "r");
	while (f && fgets(line, sizeof(line), f))
		lines++;
	printf("read back %d lines\n", lines);
	if (f) {
		fseek(f, 10, SEEK_SET);
		pos = ftell(f);
		printf("ftell %ld, next '%c'\n", pos, fgetc(f));
		fseek(f, -8, SEEK_END);
		printf("tail '%s'", fgets(line, sizeof(line), f) ? line : "");
		fclose(f);
	}

	f = fopen("work/a.txt", "a");
	if (f) {
		fputs("appended\n", f);
		fclose(f);
	}
	TRY("stat a.txt", stat("work/a.txt", &st));
	printf("size %lld, regular %d, dir %d\n", (long long)st.st_size,
	       S_ISREG(st.st_mode), S_ISDIR(st.st_mode));

	/* Big write and read through read/write/lseek/pread/pwrite. */
	for (i = 0; i < (int)sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	fd = open("work/big.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
	printf("open big: %s\n", fd >= 0 ? "ok" : ename(errno));
	n = write(fd, big, sizeof(big));
	printf("wrote %zd\n", n);
	printf("lseek end %lld\n", (long long)lseek(fd, 0, SEEK_END));
	n = pread(fd, buf, 5, 26 * 100 + 3);
	buf[n > 0 ? n : 0] = '\0';
	printf("pread '%s'\n", buf);
	n = pwrite(fd, "XYZ", 3, 1);
	printf("pwrite %zd, offset still %lld\n", n,
	       (long long)lseek(fd, 0, SEEK_CUR));
	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, 6);
	buf[n > 0 ? n : 0] = '\0';
	printf("read '%s'\n", buf);
	TRY("ftruncate", ftruncate(fd, 1000));
	fstat(fd, &st);
	printf("truncated size %lld\n", (long long)st.st_size);
	TRY("fsync", fsync(fd));
	close(fd);
	TRY("read closed fd", (int)read(fd, buf, 1));

	/* Times. */
	tv[0].tv_sec = 1000000000;
	tv[0].tv_usec = 0;
	tv[1].tv_sec = 1234567890;
	tv[1].tv_usec = 500000;
	TRY("utimes", utimes("work/a.txt", tv));
	stat("work/a.txt", &st);
	printf("mtime %lld.%09ld atime %lld\n", (long long)st.st_mtim.tv_sec,
	       st.st_mtim.tv_nsec, (long long)st.st_atim.tv_sec);

	/* Names: rename, links, symlinks. */
	TRY("rename a b", rename("work/a.txt", "work/b.txt"));
	TRY("rename missing", rename("work/nope", "work/x"));
	TRY("link", link("work/b.txt", "work/hard.txt"));
	stat("work/b.txt", &st);
	printf("nlink %d\n", (int)st.st_nlink);
	TRY("symlink", symlink("b.txt", "work/soft"));
	n = readlink("work/soft", buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	printf("readlink '%s'\n", buf);
	TRY("lstat soft", lstat("work/soft", &st));
	printf("is link %d\n", S_ISLNK(st.st_mode));
	f = fopen("work/soft", "r");
	printf("through symlink: %s\n",
	       f && fgets(line, sizeof(line), f) ? line : "(nothing)\n");
	if (f)
		fclose(f);
	TRY("symlink to dir", symlink("sub", "work/subl"));
	TRY("open via dir link", fd = open("work/subl/../b.txt", O_RDONLY));
	if (fd >= 0)
		close(fd);

	list("work");
	list("work/sub");

	/* Errors. */
	TRY("open missing", open("work/missing", O_RDONLY));
	TRY("open O_EXCL existing", open("work/b.txt", O_WRONLY | O_CREAT | O_EXCL, 0644));
	TRY("open file as dir", open("work/b.txt/x", O_RDONLY));
	TRY("open dir for write", open("work", O_WRONLY));
	TRY("rmdir nonempty", rmdir("work"));
	TRY("rmdir file", rmdir("work/b.txt"));
	TRY("unlink dir", unlink("work/sub"));
	TRY("lseek pipe-less", (int)lseek(99, 0, SEEK_SET));

	/* Clean up part of it. */
	TRY("unlink b", unlink("work/b.txt"));
	TRY("unlink soft", unlink("work/soft"));
	TRY("unlink subl", unlink("work/subl"));
	TRY("rmdir sub", rmdir("work/sub"));
	list("work");
	return 0;
}
