#include "tests/lib/swtpm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/file.h"

int swtpm_available(void)
{
	return system("command -v swtpm >/dev/null 2>&1 && "
		      "command -v swtpm_setup >/dev/null 2>&1") == 0;
}

static int run_script(const char *fn, const char *dir)
{
	char cmd[PATH_MAX * 2 + 64];
	const char *src = getenv("ASSAY_SOURCE_ROOT");
	snprintf(cmd, sizeof cmd, "bash -c '. \"%s/scripts/swtpm-env.sh\" && %s \"%s\"'"
		 " >>\"%s/swtpm.out\" 2>&1", src ? src : ".", fn, dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

int swtpm_start(const char *dir, char *tcti, size_t n)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT;
	if (run_script("swtpm_start", dir) < 0 ||
	    path_join(path, sizeof path, dir, "tcti") < 0 ||
	    file_read(path, 256, &b) < 0) {
		buf_free(&b);
		return -1;
	}
	size_t len = strcspn((char *)b.data, "\n");
	snprintf(tcti, n, "%.*s", (int)len, (char *)b.data);
	buf_free(&b);
	return 0;
}

void swtpm_stop(const char *dir)
{
	run_script("swtpm_stop", dir);
}
