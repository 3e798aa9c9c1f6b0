/* The checks on a quote reply, in Keylime's order: algorithms accepted,
 * payload key known, quote signed by the AK over our nonce with a PCR
 * digest that matches the values, TPM clock moving forward, PCR 16 bound
 * to the payload key, then the TPM policy's PCRs. The first failure
 * decides, with a reason a person can act on. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/quote.h"
#include "crypto/crypto.h"
#include "tpm/tpm.h"
#include "util/encode.h"
#include "verifier/verifier.h"

static int fail(struct agent *a, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct agent *a, const char *event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->reason, sizeof a->reason, fmt, ap);
	va_end(ap);
	snprintf(a->last_event_id, sizeof a->last_event_id, "%s", event);
	return -1;
}

/* Keylime's aliases: "rsa" is rsa2048, "ecc" is ecc256. */
static const char *normal(const char *alg)
{
	if (strcmp(alg, "rsa") == 0)
		return "rsa2048";
	if (strcmp(alg, "ecc") == 0)
		return "ecc256";
	return alg;
}

static int accepted(char *const *list, const char *alg)
{
	for (int i = 0; i < ALGS_MAX && list[i]; i++)
		if (strcmp(normal(list[i]), normal(alg)) == 0)
			return 1;
	return 0;
}

static int check_algs(struct agent *a, json_t *res)
{
	static const char *const names[3] = { "hash_alg", "enc_alg", "sign_alg" };
	static const char *const events[3] = {
		"qoute_validation.invalid_hash_alg", "qoute_validation.invalid_enc_alg",
		"qoute_validation.invalid_sign_alg" };
	char *dst[3] = { a->hash_alg, a->enc_alg, a->sign_alg };
	for (int k = 0; k < 3; k++) {
		const char *s = json_string_value(json_object_get(res, names[k]));
		if (!s || strlen(s) >= sizeof a->hash_alg || !accepted(a->accept[k], s))
			return fail(a, events[k], "%s '%.32s' is not accepted for this agent",
				    names[k], s ? s : "(missing)");
		snprintf(dst[k], sizeof a->hash_alg, "%s", s);
	}
	return 0;
}

static int check_clock(struct agent *a, const TPMS_CLOCK_INFO *c)
{
	if (!c->safe)
		return fail(a, "qoute_validation.quote_validation",
			    "TPM clock is not marked safe");
	if (c->resetCount < a->tpm_reset || c->restartCount < a->tpm_restart)
		return fail(a, "qoute_validation.quote_validation",
			    "TPM reset or restart count went backwards (replayed quote?)");
	int rebooted = c->resetCount > a->tpm_reset && c->restartCount > a->tpm_restart;
	if (!rebooted && c->resetCount == a->tpm_reset && c->clock <= a->tpm_clock &&
	    a->attestation_count > 0)
		return fail(a, "qoute_validation.quote_validation",
			    "TPM clock did not advance since the last quote (replayed quote?)");
	a->tpm_clock = c->clock;
	a->tpm_reset = c->resetCount;
	a->tpm_restart = c->restartCount;
	return 0;
}

static int check_policy(struct agent *a, const struct pcr_bank *b)
{
	const struct tpm_policy *p = &a->tpm_policy;
	for (int pcr = 0; pcr < 24; pcr++) {
		if (!p->n_values[pcr])
			continue;
		if (!(b->mask & 1u << pcr))
			return fail(a, "pcr_validation.missing_pcrs",
				    "PCR %d is in the TPM policy but not in the quote", pcr);
		char hex[2 * 64 + 1];
		for (size_t i = 0; i < b->size; i++)
			snprintf(hex + 2 * i, 3, "%02x", b->value[pcr][i]);
		int ok = 0;
		for (int k = 0; k < p->n_values[pcr]; k++)
			ok |= strcmp(p->values[pcr][k], hex) == 0;
		if (!ok) {
			char event[48];
			snprintf(event, sizeof event, "pcr_validation.invalid_pcr_%d", pcr);
			return fail(a, event, "PCR %d is %s, which the TPM policy does not "
				    "allow", pcr, hex);
		}
	}
	return 0;
}

/* The UEFI event log: its replay must give the quoted PCRs the policy
 * reads, and the boot it describes must satisfy the reference state. The
 * evaluation runs once per boot of the node (TPM reset count), as
 * Keylime's measured_boot_evaluate = once; the PCR comparison every time. */
static int check_mb(struct agent *a, json_t *res, const struct pcr_values *pv)
{
	char err[512];
	struct buf raw = BUF_INIT;
	struct uefi_log log;
	struct uefi_boot_state st;
	struct pcr_values rep;
	int r = -1;
	memset(&log, 0, sizeof log);
	const char *b64 = json_string_value(json_object_get(res, "mb_measurement_list"));
	if (!b64)
		return fail(a, "pcr_validation.unused_pcr_0", "the agent sent no UEFI event log");
	/* Within one boot the log and the quoted PCRs do not change: when both
	 * are what passed last time, the result is the same. */
	uint8_t key[32];
	struct buf seen = BUF_INIT, d = BUF_INIT;
	buf_append_str(&seen, b64);
	for (size_t i = 0; i < pv->nbanks; i++)
		for (int pcr = 0; pcr < 24; pcr++)
			if (MB_POLICY_PCRS & pv->bank[i].mask & 1u << pcr)
				buf_append(&seen, pv->bank[i].value[pcr], pv->bank[i].size);
	crypto_digest(EVP_sha256(), seen.data, seen.len, &d);
	memcpy(key, d.data, sizeof key);
	buf_free(&seen);
	buf_free(&d);
	if (a->mb_evaluated && a->mb_reset == a->tpm_reset &&
	    memcmp(key, a->mb_checked, sizeof key) == 0)
		return 0;
	if (strlen(b64) > 4 * ((size_t)16 << 20) / 3 + 4 ||
	    b64_decode(&raw, b64, strlen(b64)) < 0)
		return fail(a, "measured_boot.invalid_log",
			    "the UEFI event log is not base64 (or too large)");
	if (uefi_log_parse(raw.data, raw.len, &log, err, sizeof err) < 0 ||
	    uefi_log_replay(&log, &rep, err, sizeof err) < 0) {
		fail(a, "measured_boot.invalid_log", "UEFI event log: %s", err);
		goto out;
	}
	if (uefi_pcrs_compare(&rep, pv, MB_POLICY_PCRS, err, sizeof err) < 0) {
		fail(a, "measured_boot.invalid_pcr", "%s", err);
		goto out;
	}
	if (!a->mb_evaluated || a->mb_reset != a->tpm_reset) {
		if (uefi_boot_state_build(&log, &st, err, sizeof err) < 0) {
			uefi_boot_state_free(&st);
			fail(a, "measured_boot.invalid_log", "UEFI event log: %s", err);
			goto out;
		}
		int ok = mb_refstate_evaluate(a->mbpolicy, &st, err, sizeof err);
		uefi_boot_state_free(&st);
		if (ok < 0) {
			fail(a, "measured_boot.policy", "measured boot: %s", err);
			goto out;
		}
		a->mb_evaluated = 1;
		a->mb_reset = a->tpm_reset;
	}
	memcpy(a->mb_checked, key, sizeof key);
	r = 0;
out:
	uefi_log_free(&log);
	buf_free(&raw);
	return r;
}

/* The IMA list against the quoted PCR 10 and the runtime policy. The state
 * advances only when all of it passed (ima_verify commits nothing else). */
static int check_ima(struct agent *a, json_t *res, const struct pcr_bank *b)
{
	char err[512];
	json_t *list = json_object_get(res, "ima_measurement_list");
	json_t *entry = json_object_get(res, "ima_measurement_list_entry");
	json_t *boot = json_object_get(res, "boottime");
	if (!(b->mask & 1u << IMA_PCR))
		return fail(a, "pcr_validation.missing_pcrs", "PCR 10 is not in the quote");
	if (!json_is_string(list))
		return fail(a, "pcr_validation.unused_pcr_10",
			    "the agent sent no IMA measurement list");
	if ((entry && !json_is_integer(entry)) || (boot && !json_is_integer(boot)))
		return fail(a, "qoute_validation.invalid_data",
			    "ima_measurement_list_entry and boottime must be integers");
	struct ima_input in = {
		json_string_value(list), json_string_length(list),
		entry ? (uint64_t)json_integer_value(entry) : 0,
		boot ? (uint64_t)json_integer_value(boot) : 0,
		b->alg, b->value[IMA_PCR], a->rpolicy, NULL, 0, 0,
	};
	struct ima_result out;
	if (ima_verify(&a->ima, &in, &out, err, sizeof err) == 0)
		return 0;
	if (out.restart && in.first_entry != 0)
		return 1;
	return fail(a, "ima.validation", "%s", err);
}

int check_quote_reply(struct agent *a, json_t *res, int full)
{
	char err[256];
	struct quote q;
	struct pcr_values pv;
	int r = -1;
	memset(&q, 0, sizeof q);
	const char *qs = json_string_value(json_object_get(res, "quote"));
	if (!qs)
		return fail(a, "qoute_validation.invalid_data", "the reply has no quote");
	if (check_algs(a, res) < 0)
		return -1;
	const char *pub = json_string_value(json_object_get(res, "pubkey"));
	if (full && !pub)
		return fail(a, "qoute_validation.no_pubkey",
			    "a full quote came without the agent's public key");
	if (pub && pub[0] && (!a->nk_pem || strcmp(a->nk_pem, pub) != 0)) {
		if (json_string_length(json_object_get(res, "pubkey")) > 4096)
			return fail(a, "qoute_validation.invalid_data", "pubkey too long");
		free(a->nk_pem);
		a->nk_pem = strdup(pub);
		/* A new payload key (the agent restarted without its state)
		 * needs V again. */
		a->provide_v = a->v_len > 0;
	}
	if (!a->nk_pem)
		return fail(a, "qoute_validation.no_pubkey",
			    "no public key known for the agent");

	TPM2_ALG_ID bank;
	tpm_alg_from_name(a->hash_alg, &bank);
	if (quote_parse(qs, &q, err, sizeof err) < 0) {
		fail(a, "qoute_validation.quote_validation", "malformed quote: %s", err);
		goto out;
	}
	if (quote_verify(&q, a->ak, (const uint8_t *)a->nonce, strlen(a->nonce), &pv,
			 err, sizeof err) < 0) {
		fail(a, "qoute_validation.quote_validation", "quote rejected: %s", err);
		goto out;
	}
	if (q.hash_alg != bank) {
		fail(a, "qoute_validation.quote_validation",
		     "quote signed with %s, the agent said %s", tpm_alg_name(q.hash_alg)
		     ? tpm_alg_name(q.hash_alg) : "?", a->hash_alg);
		goto out;
	}
	if (check_clock(a, &q.att.clockInfo) < 0)
		goto out;
	if (quote_check_data_pcr(&pv, bank, a->nk_pem, strlen(a->nk_pem), err,
				 sizeof err) < 0) {
		fail(a, "pcr_validation.invalid_pcr_16", "%s", err);
		goto out;
	}
	const struct pcr_bank *b = quote_pcr_bank(&pv, bank);
	if (!b || check_policy(a, b) < 0) {
		if (!b)
			fail(a, "pcr_validation.missing_pcrs", "the quote has no %s bank",
			     a->hash_alg);
		goto out;
	}
	if (a->mbpolicy && check_mb(a, res, &pv) < 0)
		goto out;
	r = a->rpolicy ? check_ima(a, res, b) : 0;
out:
	quote_free(&q);
	return r;
}
