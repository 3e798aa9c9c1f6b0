/* policy_create: runtime (IMA) policies made from what a node runs. */
#ifndef ASSAY_CLI_POLICY_CREATE_H
#define ASSAY_CLI_POLICY_CREATE_H

#include <jansson.h>
#include <regex.h>

#include "config/config.h"

/* From --ima-log (the entries' file digests) or --dir (sha256 of every
 * regular file, named as absolute paths below the directory), leaving
 * out --exclude. Writes Keylime's runtime policy JSON to --output or
 * standard output. Returns the exit status (0, 1 failed, 2 usage). */
int policy_create_runtime(const struct config *cfg);

/* Adds the file digests of an IMA ASCII measurement list (NUL-terminated,
 * changed in place) to digests ({path: [hex, ...]}), leaving out paths
 * that match exclude (may be NULL). Returns 0, or -1 with "line N: ...". */
int policy_digests_from_ima(char *text, json_t *digests, const regex_t *exclude,
			    char *err, size_t errlen);

/* A measured-boot reference state from --uefi-log (Keylime's
 * create_mb_policy); --without-secureboot allows a log with secure boot
 * off. Same output and exit statuses. */
int policy_create_mb(const struct config *cfg);

#endif
