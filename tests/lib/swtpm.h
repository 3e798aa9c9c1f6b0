/* swtpm: a throw-away software TPM for end-to-end tests, started through
 * scripts/swtpm-env.sh. */
#ifndef ASSAY_TESTS_SWTPM_H
#define ASSAY_TESTS_SWTPM_H

#include <stddef.h>

/* 1 when swtpm and swtpm_setup are installed. */
int swtpm_available(void);
/* Manufactures and starts a TPM in dir; tcti gets the TCTI string. */
int swtpm_start(const char *dir, char *tcti, size_t n);
void swtpm_stop(const char *dir);

#endif
