/* soft_quote: TPM quotes made in software, for simulated agents.
 *
 * The verifier's fleet simulator serves thousands of agents without TPMs;
 * its quotes must pass the same checks as real ones. A soft quote is a
 * TPMS_ATTEST built as a TPM builds it, signed with an AK held as an
 * OpenSSL key (ECDSA P-256 or RSASSA, SHA-256), with the PCR values in
 * tpm2-tools' blob layout. Nothing in the daemons uses this. */
#ifndef ASSAY_ATTEST_SOFT_QUOTE_H
#define ASSAY_ATTEST_SOFT_QUOTE_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/quote.h"
#include "util/buf.h"

/* Appends a quote string ("r<attest>:<sig>:<pcrs>") over the PCRs of bank
 * (one bank; its mask says which PCRs) to out. ak_name is the AK's TPM
 * Name (tpm_public's name). Returns 0 or -1. */
int soft_quote(EVP_PKEY *ak, const uint8_t *ak_name, size_t ak_name_len,
	       const uint8_t *nonce, size_t nonce_len,
	       const struct pcr_bank *bank, uint64_t clock, struct buf *out);

/* Appends an IMA entry (template ima-ng, sha256 file digest of content)
 * for path to log, as ascii_runtime_measurements shows it, and gives what
 * the kernel extends PCR 10 with: sha256 of the template data for the
 * sha256 bank, the template hash (sha1) for the sha1 bank. Returns 0 or -1. */
int soft_ima_entry(struct buf *log, const char *path, const void *content,
		   size_t len, uint8_t sha256_event[32], uint8_t sha1_event[20]);

#endif
