/* ima: IMA measurement lists: parsing, template hashes, PCR 10 replay and
 * runtime policy evaluation. See ima.h for the rules and their sources. */
#include "attest/ima.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "tpm/tpm.h"
#include "tpm/tpm_public.h"
#include "util/buf.h"
#include "util/encode.h"
#include "util/error.h"

#define IMA_NAME_LEN_MAX 255	/* kernel IMA_EVENT_NAME_LEN_MAX */
#define IMA_ALG_LEN_MAX 31
#define SHOW_LEN 256		/* a name or digest in a message */

enum ima_template { TPL_IMA, TPL_NG, TPL_SIG, TPL_BUF, TPL_COUNT };

static const char *const tpl_names[TPL_COUNT] = { "ima", "ima-ng",
						  "ima-sig", "ima-buf" };

/* One parsed line. Pointers are into the caller's text. */
struct ima_entry {
	unsigned pcr;
	enum ima_template tpl;
	uint8_t thash[IMA_DIGEST_MAX];
	size_t thash_len;
	const char *alg;	/* "sha256", or "sha1"/"md5" when not listed */
	size_t alg_len;
	uint8_t digest[IMA_DIGEST_MAX];
	size_t digest_len;
	const char *name;
	size_t name_len;
};

/* Everything one ima_verify call needs. */
struct ima_run {
	const struct ima_input *in;
	const EVP_MD *bank_md, *log_md;
	size_t bank_size, log_size;
	EVP_MD_CTX *bank_ctx, *log_ctx;
	int hash_err;
	struct buf tmp;		/* hex decoding */
	struct buf extra;	/* the signature or buffer, decoded */
	char *name;		/* the entry's name, NUL-terminated */
	uint64_t entry;		/* absolute number of the current entry */
	uint64_t violations;
	char msg[512];		/* the first entry failure */
};

void ima_state_init(struct ima_state *st)
{
	memset(st, 0, sizeof(*st));
}

static size_t printable_width(unsigned char c)
{
	return c < 0x20 || c > 0x7e || c == '\\' ? 4 : 1;
}

void ima_printable(char *out, size_t outlen, const char *s, size_t n)
{
	size_t o = 0, i, w = 0, lim;

	if (outlen < 8) {
		if (outlen)
			out[0] = 0;
		return;
	}
	for (i = 0; i < n; i++)
		w += printable_width((unsigned char)s[i]);
	/* When it does not all fit, keep room for "...". */
	lim = w < outlen ? outlen - 1 : outlen - 4;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + printable_width(c) > lim)
			break;
		if (printable_width(c) > 1)
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = 0;
}

/* ----------------------------------------------------------------- parse */

/* Splits the next space-terminated field off *s. */
static int field(const char **s, size_t *n, const char **f, size_t *fn)
{
	const char *sp = memchr(*s, ' ', *n);

	if (!sp)
		return -1;
	*f = *s;
	*fn = (size_t)(sp - *s);
	*n -= *fn + 1;
	*s = sp + 1;
	return 0;
}

/* Hex (either case) of 1 to IMA_DIGEST_MAX bytes into out. */
static int hex_fixed(struct ima_run *r, const char *s, size_t n,
		     uint8_t *out, size_t *len)
{
	buf_reset(&r->tmp);
	if (!n || n > 2 * IMA_DIGEST_MAX || hex_decode(&r->tmp, s, n))
		return -1;
	memcpy(out, r->tmp.data, r->tmp.len);
	*len = r->tmp.len;
	return 0;
}

/* "alg:hex" or "hex" (sha1 or md5 by length), as Keylime's ast.Digest. */
static int digest_field(struct ima_run *r, const char *f, size_t n,
			struct ima_entry *e)
{
	const char *colon = memchr(f, ':', n);

	if (colon) {
		e->alg = f;
		e->alg_len = (size_t)(colon - f);
		n -= e->alg_len + 1;
		f = colon + 1;
		if (!e->alg_len || e->alg_len > IMA_ALG_LEN_MAX ||
		    memchr(f, ':', n))
			return -1;
		return hex_fixed(r, f, n, e->digest, &e->digest_len);
	}
	if (hex_fixed(r, f, n, e->digest, &e->digest_len))
		return -1;
	if (e->digest_len == 20)
		e->alg = "sha1";
	else if (e->digest_len == 16)
		e->alg = "md5";
	else
		return -1;
	e->alg_len = strlen(e->alg);
	return 0;
}

static int entry_parse(struct ima_run *r, const char *s, size_t n,
		       struct ima_entry *e, char *why, size_t whylen)
{
	const char *f, *extra = NULL;
	size_t fn, extra_len = 0, i;
	char shown[SHOW_LEN];

	memset(e, 0, sizeof(*e));
	buf_reset(&r->extra);
	if (memchr(s, 0, n)) {
		error_set(why, whylen, "NUL byte");
		return -1;
	}
	if (field(&s, &n, &f, &fn) || !fn || fn > 2 ||
	    (fn == 2 && f[0] == '0')) {
		error_set(why, whylen, "bad PCR field");
		return -1;
	}
	for (i = 0; i < fn; i++) {
		if (f[i] < '0' || f[i] > '9') {
			error_set(why, whylen, "bad PCR field");
			return -1;
		}
		e->pcr = e->pcr * 10 + (unsigned)(f[i] - '0');
	}
	if (field(&s, &n, &f, &fn) ||
	    hex_fixed(r, f, fn, e->thash, &e->thash_len)) {
		error_set(why, whylen, "bad template hash field");
		return -1;
	}
	if (field(&s, &n, &f, &fn)) {
		error_set(why, whylen, "no template data");
		return -1;
	}
	for (e->tpl = 0; e->tpl < TPL_COUNT; e->tpl++)
		if (strlen(tpl_names[e->tpl]) == fn &&
		    !memcmp(tpl_names[e->tpl], f, fn))
			break;
	if (e->tpl == TPL_COUNT) {
		ima_printable(shown, sizeof(shown), f, fn);
		error_set(why, whylen, "unknown template \"%s\"", shown);
		return -1;
	}
	if (field(&s, &n, &f, &fn) || digest_field(r, f, fn, e)) {
		error_set(why, whylen, "bad file digest field");
		return -1;
	}
	if (e->tpl == TPL_IMA || e->tpl == TPL_NG) {
		e->name = s;	/* the rest: n-ng names may hold spaces */
		e->name_len = n;
	} else if (field(&s, &n, &e->name, &e->name_len)) {
		error_set(why, whylen, "no %s field",
			  e->tpl == TPL_SIG ? "signature" : "buffer");
		return -1;
	} else {
		extra = s;
		extra_len = n;
	}
	if (e->tpl == TPL_IMA && e->name_len > IMA_NAME_LEN_MAX) {
		error_set(why, whylen, "name longer than %d bytes",
			  IMA_NAME_LEN_MAX);
		return -1;
	}
	if (extra_len && hex_decode(&r->extra, extra, extra_len)) {
		error_set(why, whylen, "bad hex in the %s field",
			  e->tpl == TPL_SIG ? "signature" : "buffer");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ hash */

static void feed(struct ima_run *r, const void *p, size_t n)
{
	if (!EVP_DigestUpdate(r->log_ctx, p, n) ||
	    !EVP_DigestUpdate(r->bank_ctx, p, n))
		r->hash_err = 1;
}

static void feed_le32(struct ima_run *r, size_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };

	feed(r, b, sizeof(b));
}

/* The template data as the kernel serializes it for hashing, hashed with
 * the log's algorithm (thash) and the bank's (bank). */
static int entry_hash(struct ima_run *r, const struct ima_entry *e,
		      uint8_t *thash, uint8_t *bank)
{
	static const uint8_t zeros[IMA_NAME_LEN_MAX + 1];

	r->hash_err = !EVP_DigestInit_ex(r->log_ctx, r->log_md, NULL) ||
		      !EVP_DigestInit_ex(r->bank_ctx, r->bank_md, NULL);
	if (e->tpl == TPL_IMA) {
		feed(r, e->digest, e->digest_len);
		feed(r, e->name, e->name_len);
		feed(r, zeros, sizeof(zeros) - e->name_len);
	} else {
		feed_le32(r, e->alg_len + 2 + e->digest_len);
		feed(r, e->alg, e->alg_len);
		feed(r, ":", 2);	/* the colon and a NUL */
		feed(r, e->digest, e->digest_len);
		feed_le32(r, e->name_len + 1);
		feed(r, e->name, e->name_len);
		feed(r, zeros, 1);
		if (e->tpl != TPL_NG) {
			feed_le32(r, r->extra.len);
			feed(r, r->extra.data ? r->extra.data : zeros,
			     r->extra.len);
		}
	}
	if (r->hash_err || !EVP_DigestFinal_ex(r->log_ctx, thash, NULL) ||
	    !EVP_DigestFinal_ex(r->bank_ctx, bank, NULL))
		return -1;
	return 0;
}

static int extend(struct ima_run *r, uint8_t *pcr, const uint8_t *digest)
{
	if (!EVP_DigestInit_ex(r->bank_ctx, r->bank_md, NULL) ||
	    !EVP_DigestUpdate(r->bank_ctx, pcr, r->bank_size) ||
	    !EVP_DigestUpdate(r->bank_ctx, digest, r->bank_size) ||
	    !EVP_DigestFinal_ex(r->bank_ctx, pcr, NULL))
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- policy */

static int entry_fail(struct ima_run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Records the entry's failure; the first message is kept. Returns 1. */
static int entry_fail(struct ima_run *r, const char *fmt, ...)
{
	char reason[sizeof(r->msg) - 32];	/* room for " at entry N" */
	va_list ap;

	if (r->msg[0])
		return 1;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(r->msg, sizeof(r->msg), "%s at entry %" PRIu64, reason,
		 r->entry);
	return 1;
}

static int no_password(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* Keylime's file_signatures.get_pubkey: is the buffer a key? 0 no, 1 an
 * RSA or EC key, -1 another kind of key. */
static int buffer_key(const uint8_t *p, size_t n)
{
	const unsigned char *q;
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	BIO *b = NULL;
	int i, type = 0;

	if (!n || n > INT_MAX)
		return 0;
	for (i = 0; i < 6 && !k; i++) {
		q = p;
		if (i % 2) {
			BIO_free(b);
			b = BIO_new_mem_buf(p, (int)n);
			if (!b)
				break;
		}
		switch (i) {
		case 0:
			x = d2i_X509(NULL, &q, (long)n);
			break;
		case 1:
			x = PEM_read_bio_X509(b, NULL, no_password, NULL);
			break;
		case 2:
			k = d2i_PUBKEY(NULL, &q, (long)n);
			if (!k) {
				q = p;
				k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q,
						  (long)n);
			}
			break;
		case 3:
			k = PEM_read_bio_PUBKEY(b, NULL, no_password, NULL);
			break;
		case 4:
			k = d2i_AutoPrivateKey(NULL, &q, (long)n);
			break;
		case 5:
			k = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
			break;
		}
		/* DER must fill the buffer, as Python's loaders insist. */
		if (i % 2 == 0 && q != p + n) {
			X509_free(x);
			EVP_PKEY_free(k);
			x = NULL;
			k = NULL;
		}
		if (x) {
			k = X509_get_pubkey(x);
			X509_free(x);
			x = NULL;
		}
	}
	BIO_free(b);
	if (k)
		type = EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "RSA-PSS") ||
		       EVP_PKEY_is_a(k, "EC") ? 1 : -1;
	EVP_PKEY_free(k);
	ERR_clear_error();
	return type;
}

static bool boot_aggregate_extra(const struct ima_run *r,
				 const struct ima_entry *e)
{
	size_t i;

	if (strcmp(r->name, "boot_aggregate"))
		return false;
	for (i = 0; i < r->in->nboot_aggregates; i++)
		if (r->in->boot_aggregates[i].len == e->digest_len &&
		    !memcmp(r->in->boot_aggregates[i].v, e->digest,
			    e->digest_len))
			return true;
	return false;
}

/* Keylime's _validate_ima_ng over one table; kind names it in messages. */
static int check_table(struct ima_run *r, const struct ima_entry *e,
		       enum runtime_policy_table table, const char *kind)
{
	const struct runtime_policy *pol = r->in->policy;
	char name[SHOW_LEN], alg[2 * IMA_ALG_LEN_MAX + 8];
	char hex[2 * IMA_DIGEST_MAX + 1];
	const char *note = "";
	enum runtime_policy_match m;
	size_t i;

	if (runtime_policy_excluded(pol, r->name))
		return 0;
	m = runtime_policy_lookup(pol, table, r->name, e->digest,
				  e->digest_len);
	if (m == RUNTIME_POLICY_ALLOWED ||
	    (table == RUNTIME_POLICY_DIGESTS && boot_aggregate_extra(r, e)))
		return 0;
	ima_printable(name, sizeof(name), e->name, e->name_len);
	if (e->tpl == TPL_SIG && r->extra.len)
		note = " (file signatures are not checked yet)";
	if (m == RUNTIME_POLICY_NOT_LISTED)
		return entry_fail(r, "%s %s not in policy%s", kind, name, note);
	ima_printable(alg, sizeof(alg), e->alg, e->alg_len);
	for (i = 0; i < e->digest_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", e->digest[i]);
	hex[2 * e->digest_len] = 0;
	return entry_fail(r, "%s %s: digest %s:%s not in policy%s", kind, name,
			  alg, hex, note);
}

static int check_policy(struct ima_run *r, const struct ima_entry *e)
{
	const struct runtime_policy *pol = r->in->policy;
	char name[SHOW_LEN];
	int key;

	memcpy(r->name, e->name, e->name_len);
	r->name[e->name_len] = 0;
	if (e->tpl != TPL_BUF)
		return check_table(r, e, RUNTIME_POLICY_DIGESTS, "file");
	key = buffer_key(r->extra.data, r->extra.len);
	if (key < 0) {
		ima_printable(name, sizeof(name), e->name, e->name_len);
		return entry_fail(r, "keyring %s: key of an unsupported type "
				  "(RSA and EC only)", name);
	}
	if (key > 0)
		return runtime_policy_keyring_ignored(pol, r->name) ? 0 :
		       check_table(r, e, RUNTIME_POLICY_KEYRINGS, "keyring");
	return check_table(r, e, RUNTIME_POLICY_IMA_BUF, "buffer");
}

/* One line: 0 passed, 1 failed a check (r->msg), -1 malformed (err).
 * bank receives the digest to extend PCR 10 with. */
static int entry_check(struct ima_run *r, const char *line, size_t n,
		       uint8_t *bank, char *err, size_t errlen)
{
	static const uint8_t zeros[IMA_DIGEST_MAX];
	uint8_t thash[IMA_DIGEST_MAX];
	struct ima_entry e;
	char why[300];
	bool violation;

	if (entry_parse(r, line, n, &e, why, sizeof(why))) {
		error_set(err, errlen, "malformed entry %" PRIu64 ": %s",
			  r->entry, why);
		return -1;
	}
	if (entry_hash(r, &e, thash, bank)) {
		error_set(err, errlen, "hashing failed at entry %" PRIu64,
			  r->entry);
		return -1;
	}
	violation = e.thash_len == r->log_size &&
		    !memcmp(e.thash, zeros, r->log_size);
	if (violation) {
		memset(bank, 0xff, r->bank_size);
		r->violations++;
	}
	if (e.pcr != IMA_PCR)
		return entry_fail(r, "PCR %u instead of %d", e.pcr, IMA_PCR);
	if (violation)
		return r->in->flags & IMA_VIOLATIONS_FAIL ?
		       entry_fail(r, "measurement violation") : 0;
	if (e.thash_len != r->log_size ||
	    memcmp(e.thash, thash, r->log_size))
		return entry_fail(r, "template hash mismatch");
	return r->in->policy ? check_policy(r, &e) : 0;
}

/* ------------------------------------------------------------------ list */

static int run_init(struct ima_run *r, const struct ima_input *in,
		    char *err, size_t errlen)
{
	uint16_t log_alg = in->policy ?
		runtime_policy_log_hash_alg(in->policy) : TPM2_ALG_SHA1;

	memset(r, 0, sizeof(*r));
	r->in = in;
	r->bank_md = tpm_alg_md(in->bank);
	r->log_md = tpm_alg_md(log_alg);
	if (!r->bank_md || !r->log_md) {
		error_set(err, errlen, "unsupported PCR bank 0x%04x", in->bank);
		return -1;
	}
	r->bank_size = (size_t)EVP_MD_get_size(r->bank_md);
	r->log_size = (size_t)EVP_MD_get_size(r->log_md);
	if (!in->pcr10 || (in->len && !in->text)) {
		error_set(err, errlen, "no PCR 10 value or no list");
		return -1;
	}
	if (in->len > IMA_MAX_TEXT || in->first_entry > IMA_MAX_TOTAL) {
		error_set(err, errlen, "measurement list larger than %zu bytes "
			  "or beyond entry %" PRIu64, IMA_MAX_TEXT,
			  IMA_MAX_TOTAL);
		return -1;
	}
	r->bank_ctx = EVP_MD_CTX_new();
	r->log_ctx = EVP_MD_CTX_new();
	r->name = malloc(IMA_MAX_LINE + 1);
	if (!r->bank_ctx || !r->log_ctx || !r->name) {
		error_set(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void run_free(struct ima_run *r)
{
	EVP_MD_CTX_free(r->bank_ctx);
	EVP_MD_CTX_free(r->log_ctx);
	buf_free(&r->tmp);
	buf_free(&r->extra);
	free(r->name);
}

static const char *bank_name(uint16_t alg)
{
	const char *s = tpm_alg_name(alg);

	return s ? s : "unknown";
}

/* Where the replay starts: zeros at entry 0, else the saved state, which
 * must be for this list (keylime/cloud_verifier_common.py). */
static int replay_start(const struct ima_state *st, const struct ima_input *in,
			size_t size, uint8_t *pcr, uint64_t *prev_lag,
			struct ima_result *res, char *err, size_t errlen)
{
	*prev_lag = 0;
	memset(pcr, 0, size);
	if (!in->first_entry)
		return 0;
	res->restart = true;
	if (!st->bank || in->first_entry != st->next_entry) {
		error_set(err, errlen, "measurement list starts at entry %"
			  PRIu64 ", expected %" PRIu64, in->first_entry,
			  st->bank ? st->next_entry : 0);
		return -1;
	}
	if (st->bank != in->bank) {
		error_set(err, errlen, "PCR bank changed from %s to %s",
			  bank_name(st->bank), bank_name(in->bank));
		return -1;
	}
	if (st->boottime != in->boottime) {
		error_set(err, errlen, "agent rebooted (boottime %" PRIu64
			  ", was %" PRIu64 ")", in->boottime, st->boottime);
		return -1;
	}
	res->restart = false;
	memcpy(pcr, st->pcr10, size);
	*prev_lag = st->lag;
	return 0;
}

int ima_verify(struct ima_state *st, const struct ima_input *in,
	       struct ima_result *res, char *err, size_t errlen)
{
	uint8_t pcr[IMA_DIGEST_MAX], at_match[IMA_DIGEST_MAX];
	uint8_t digest[IMA_DIGEST_MAX];
	uint64_t prev_lag, match = UINT64_MAX;
	const char *p, *nl;
	struct ima_run r;
	size_t left, n;
	int rc = -1, c;

	memset(res, 0, sizeof(*res));
	if (run_init(&r, in, err, errlen) ||
	    replay_start(st, in, r.bank_size, pcr, &prev_lag, res, err,
			 errlen))
		goto out;
	if (!memcmp(pcr, in->pcr10, r.bank_size)) {
		match = 0;
		memcpy(at_match, pcr, r.bank_size);
	}
	p = in->text;
	left = in->len;
	while (left && (nl = memchr(p, '\n', left)) != NULL) {
		n = (size_t)(nl - p);
		r.entry = in->first_entry + res->entries;
		if (res->entries >= IMA_MAX_ENTRIES || r.entry >= IMA_MAX_TOTAL ||
		    n > IMA_MAX_LINE) {
			error_set(err, errlen, "entry %" PRIu64 ": more than %"
				  PRIu64 " entries or a line longer than %d "
				  "bytes", r.entry, IMA_MAX_ENTRIES,
				  IMA_MAX_LINE);
			goto out;
		}
		c = entry_check(&r, p, n, digest, err, errlen);
		if (c < 0 || extend(&r, pcr, digest)) {
			if (c >= 0)
				error_set(err, errlen, "hashing failed");
			goto out;
		}
		res->failed += (uint64_t)c;
		res->entries++;
		res->consumed += n + 1;
		if (match == UINT64_MAX &&
		    !memcmp(pcr, in->pcr10, r.bank_size)) {
			match = res->entries;
			memcpy(at_match, pcr, r.bank_size);
		}
		p = nl + 1;
		left -= n + 1;
	}
	memcpy(res->pcr10, pcr, r.bank_size);
	res->violations = r.violations;
	if (match == UINT64_MAX) {
		error_set(err, errlen, "%s%sIMA measurement list does not match "
			  "the quoted PCR 10 (%s) after any of entries %" PRIu64
			  " to %" PRIu64 "%s", r.msg, r.msg[0] ? "; " : "",
			  bank_name(in->bank), in->first_entry,
			  in->first_entry + res->entries,
			  left ? " (a last line without LF was left out)" : "");
		goto out;
	}
	res->matched = match;
	if (match != res->entries && prev_lag && match < prev_lag) {
		error_set(err, errlen, "%s%sPCR 10 quote did not catch up with "
			  "the list: it covers %" PRIu64 " new entries, %" PRIu64
			  " were pending", r.msg, r.msg[0] ? "; " : "", match,
			  prev_lag);
		goto out;
	}
	if (res->failed) {
		if (res->failed > 1)
			error_set(err, errlen, "%s (and %" PRIu64 " more "
				  "failing entries)", r.msg, res->failed - 1);
		else
			error_set(err, errlen, "%s", r.msg);
		goto out;
	}
	st->next_entry = in->first_entry + match;
	st->boottime = in->boottime;
	st->lag = res->entries - match;
	st->bank = in->bank;
	memset(st->pcr10, 0, sizeof(st->pcr10));
	memcpy(st->pcr10, at_match, r.bank_size);
	rc = 0;
out:
	run_free(&r);
	return rc;
}
