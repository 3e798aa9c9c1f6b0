#define _GNU_SOURCE /* setresuid, setresgid */
#include "util/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int privdrop(const char *user, const char *const *paths, char *err,
	     size_t errlen)
{
	if (geteuid() != 0)
		return 0;
	if (!user || !*user) {
		snprintf(err, errlen, "running as root: set the user to drop "
			 "privileges to (option 'user')");
		return -1;
	}
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errlen, "user '%s' does not exist", user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "user '%s' is root; refusing to run as root",
			 user);
		return -1;
	}
	for (const char *const *p = paths; p && *p; p++) {
		if (chown(*p, pw->pw_uid, pw->pw_gid) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "chown %s: %s", *p, strerror(errno));
			return -1;
		}
	}
	if (setgroups(1, &pw->pw_gid) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		snprintf(err, errlen, "cannot switch to user '%s': %s", user,
			 strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || seteuid(0) == 0) {
		snprintf(err, errlen, "root could be regained after dropping to '%s'",
			 user);
		return -1;
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return 0;
}
