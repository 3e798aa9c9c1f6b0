/* Fuzz target: uefi_log_parse(), uefi_log_replay(), uefi_boot_state_build()
 * and mb_refstate_create() on arbitrary bytes.
 *
 * Promises checked: refusals carry a message; a parsed log stays within
 * its bounds (events inside the input, one digest per bank, PCR < 24);
 * the replay has one bank per algorithm with its digest size; a log
 * compares equal with its own replay; the boot state only points into the
 * log; a reference state created from the log loads and passes it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/mb_policy.h"
#include "attest/uefi.h"
#include "tpm/tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_log(const struct uefi_log *log, size_t size)
{
	const struct uefi_event *ev;
	size_t i, b;

	if (log->raw.len != size || log->nevents < 1 ||
	    log->nevents > UEFI_MAX_EVENTS || log->nalgs < 1 ||
	    log->nalgs > UEFI_MAX_BANKS)
		abort();
	for (i = 0; i < log->nevents; i++) {
		ev = &log->events[i];
		if (ev->pcr >= QUOTE_PCR_COUNT || ev->size > UEFI_EVENT_MAX ||
		    ev->data < log->raw.data ||
		    ev->data + ev->size > log->raw.data + log->raw.len)
			abort();
		for (b = 0; i && b < log->nalgs; b++)
			if (!ev->digest[b] || ev->digest[b] < log->raw.data ||
			    ev->digest[b] + log->alg_size[b] >
			    log->raw.data + log->raw.len)
				abort();
	}
}

static void check_items(const struct uefi_log *log,
			const struct uefi_items *it)
{
	size_t i;

	for (i = 0; i < it->n; i++)
		if (it->v[i].event >= log->nevents ||
		    (it->v[i].data && (it->v[i].data < log->raw.data ||
		     it->v[i].data + it->v[i].len >
		     log->raw.data + log->raw.len)))
			abort();
}

static void check_state(const struct uefi_log *log,
			const struct uefi_boot_state *st)
{
	check_items(log, &st->scrtm);
	check_items(log, &st->firmware);
	check_items(log, &st->apps);
	check_items(log, &st->fv_apps);
	check_items(log, &st->kernel_cmdline);
	check_items(log, &st->vmlinuz);
	check_items(log, &st->initrd);
	check_items(log, &st->moklist);
	if (st->unexpected >= log->nevents || st->bad_separator >= log->nevents)
		abort();
}

static void policy_roundtrip(const struct uefi_boot_state *st, bool without)
{
	struct buf json = BUF_INIT;
	struct mb_refstate *rs;
	char err[512] = "";

	if (mb_refstate_create(st, without, &json, err, sizeof(err))) {
		if (!err[0] || json.len)
			abort();
		return;
	}
	rs = mb_refstate_load((const char *)json.data, json.len, err,
			      sizeof(err));
	if (!rs || mb_refstate_evaluate(rs, st, err, sizeof(err)))
		abort();
	mb_refstate_free(rs);
	buf_free(&json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uefi_boot_state st;
	struct pcr_values v;
	struct uefi_log log;
	char err[512] = "";
	size_t b;

	if (uefi_log_parse(data, size, &log, err, sizeof(err))) {
		if (!err[0])
			abort();
		uefi_log_free(&log);
		return 0;
	}
	check_log(&log, size);
	if (uefi_log_replay(&log, &v, err, sizeof(err)))
		abort();
	if (v.nbanks != log.nalgs)
		abort();
	for (b = 0; b < v.nbanks; b++)
		if (v.bank[b].size != tpm_hash_size(v.bank[b].alg) ||
		    v.bank[b].mask != UEFI_PCR_MASK)
			abort();
	if (uefi_pcrs_compare(&v, &v, UEFI_PCR_MASK, err, sizeof(err)))
		abort();
	err[0] = 0;
	if (uefi_boot_state_build(&log, &st, err, sizeof(err)) == 0) {
		check_state(&log, &st);
		policy_roundtrip(&st, true);
		policy_roundtrip(&st, false);
	} else if (!err[0]) {
		abort();
	}
	uefi_boot_state_free(&st);
	uefi_log_free(&log);
	return 0;
}
