/* The PKCS#11 provider: keys live on a token (an HSM, a smart card,
 * SoftHSM) and never leave it.
 *
 * The module named by pkcs11_library is loaded with dlopen and driven
 * through its function list only; p11-kit provides the header, not a
 * library. One slot is chosen at open (pkcs11_slot, pkcs11_token_serial,
 * or the only slot holding an initialised token) and the user logs in
 * once, on a session kept open for the provider's lifetime: a token keeps
 * the login for the whole application as long as one session stays open.
 *
 * Operations take a read-write session from a small pool (opening a new
 * one when the pool is empty, closing it afterwards when the pool is
 * full), so several threads use the token at once, each on its own
 * session; the module was initialised with CKF_OS_LOCKING_OK and does its
 * own locking. A session that saw a backend failure is closed rather than
 * pooled.
 *
 * A key is found by its CKA_ID, the provider's reference: 16 random bytes
 * chosen before the key exists (plan). A key pair is two objects, private
 * and public, with the same CKA_ID; a secret key or an imported public key
 * is one. Private and secret objects are token objects, private and
 * sensitive; CKA_EXTRACTABLE follows the PSA export flag (so a key that
 * may be exported can at least be wrapped); keyd never reads secret key
 * material back, so export_key is not offered. */
#include "keyd/provider.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include <p11-kit/pkcs11.h>

#include "config/config.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/secure.h"

#define P11_REF_LEN	16	/* bytes of a planned CKA_ID */
#define P11_POOL_MAX	8	/* idle sessions kept open */
#define P11_PIN_MAX	256	/* longest PIN read from a file */
#define P11_LABEL	"assay-keyd"

/* ---- CK_RV: names for messages, PSA statuses for replies ---- */

#define CKR_ENTRY(x) { x, #x }
static const struct {
	CK_RV rv;
	const char *name;
} ckr_names[] = {
	CKR_ENTRY(CKR_OK), CKR_ENTRY(CKR_CANCEL), CKR_ENTRY(CKR_HOST_MEMORY),
	CKR_ENTRY(CKR_SLOT_ID_INVALID), CKR_ENTRY(CKR_GENERAL_ERROR),
	CKR_ENTRY(CKR_FUNCTION_FAILED), CKR_ENTRY(CKR_ARGUMENTS_BAD),
	CKR_ENTRY(CKR_NO_EVENT), CKR_ENTRY(CKR_NEED_TO_CREATE_THREADS),
	CKR_ENTRY(CKR_CANT_LOCK), CKR_ENTRY(CKR_ATTRIBUTE_READ_ONLY),
	CKR_ENTRY(CKR_ATTRIBUTE_SENSITIVE), CKR_ENTRY(CKR_ATTRIBUTE_TYPE_INVALID),
	CKR_ENTRY(CKR_ATTRIBUTE_VALUE_INVALID), CKR_ENTRY(CKR_ACTION_PROHIBITED),
	CKR_ENTRY(CKR_DATA_INVALID), CKR_ENTRY(CKR_DATA_LEN_RANGE),
	CKR_ENTRY(CKR_DEVICE_ERROR), CKR_ENTRY(CKR_DEVICE_MEMORY),
	CKR_ENTRY(CKR_DEVICE_REMOVED), CKR_ENTRY(CKR_ENCRYPTED_DATA_INVALID),
	CKR_ENTRY(CKR_ENCRYPTED_DATA_LEN_RANGE), CKR_ENTRY(CKR_FUNCTION_CANCELED),
	CKR_ENTRY(CKR_FUNCTION_NOT_PARALLEL), CKR_ENTRY(CKR_FUNCTION_NOT_SUPPORTED),
	CKR_ENTRY(CKR_KEY_HANDLE_INVALID), CKR_ENTRY(CKR_KEY_SIZE_RANGE),
	CKR_ENTRY(CKR_KEY_TYPE_INCONSISTENT), CKR_ENTRY(CKR_KEY_NOT_NEEDED),
	CKR_ENTRY(CKR_KEY_CHANGED), CKR_ENTRY(CKR_KEY_NEEDED),
	CKR_ENTRY(CKR_KEY_INDIGESTIBLE), CKR_ENTRY(CKR_KEY_FUNCTION_NOT_PERMITTED),
	CKR_ENTRY(CKR_KEY_NOT_WRAPPABLE), CKR_ENTRY(CKR_KEY_UNEXTRACTABLE),
	CKR_ENTRY(CKR_MECHANISM_INVALID), CKR_ENTRY(CKR_MECHANISM_PARAM_INVALID),
	CKR_ENTRY(CKR_OBJECT_HANDLE_INVALID), CKR_ENTRY(CKR_OPERATION_ACTIVE),
	CKR_ENTRY(CKR_OPERATION_NOT_INITIALIZED), CKR_ENTRY(CKR_PIN_INCORRECT),
	CKR_ENTRY(CKR_PIN_INVALID), CKR_ENTRY(CKR_PIN_LEN_RANGE),
	CKR_ENTRY(CKR_PIN_EXPIRED), CKR_ENTRY(CKR_PIN_LOCKED),
	CKR_ENTRY(CKR_SESSION_CLOSED), CKR_ENTRY(CKR_SESSION_COUNT),
	CKR_ENTRY(CKR_SESSION_HANDLE_INVALID),
	CKR_ENTRY(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
	CKR_ENTRY(CKR_SESSION_READ_ONLY), CKR_ENTRY(CKR_SESSION_EXISTS),
	CKR_ENTRY(CKR_SESSION_READ_ONLY_EXISTS),
	CKR_ENTRY(CKR_SESSION_READ_WRITE_SO_EXISTS),
	CKR_ENTRY(CKR_SIGNATURE_INVALID), CKR_ENTRY(CKR_SIGNATURE_LEN_RANGE),
	CKR_ENTRY(CKR_TEMPLATE_INCOMPLETE), CKR_ENTRY(CKR_TEMPLATE_INCONSISTENT),
	CKR_ENTRY(CKR_TOKEN_NOT_PRESENT), CKR_ENTRY(CKR_TOKEN_NOT_RECOGNIZED),
	CKR_ENTRY(CKR_TOKEN_WRITE_PROTECTED),
	CKR_ENTRY(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
	CKR_ENTRY(CKR_UNWRAPPING_KEY_SIZE_RANGE),
	CKR_ENTRY(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
	CKR_ENTRY(CKR_USER_ALREADY_LOGGED_IN), CKR_ENTRY(CKR_USER_NOT_LOGGED_IN),
	CKR_ENTRY(CKR_USER_PIN_NOT_INITIALIZED), CKR_ENTRY(CKR_USER_TYPE_INVALID),
	CKR_ENTRY(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	CKR_ENTRY(CKR_USER_TOO_MANY_TYPES), CKR_ENTRY(CKR_WRAPPED_KEY_INVALID),
	CKR_ENTRY(CKR_WRAPPED_KEY_LEN_RANGE),
	CKR_ENTRY(CKR_WRAPPING_KEY_HANDLE_INVALID),
	CKR_ENTRY(CKR_WRAPPING_KEY_SIZE_RANGE),
	CKR_ENTRY(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
	CKR_ENTRY(CKR_RANDOM_SEED_NOT_SUPPORTED), CKR_ENTRY(CKR_RANDOM_NO_RNG),
	CKR_ENTRY(CKR_DOMAIN_PARAMS_INVALID), CKR_ENTRY(CKR_CURVE_NOT_SUPPORTED),
	CKR_ENTRY(CKR_BUFFER_TOO_SMALL), CKR_ENTRY(CKR_SAVED_STATE_INVALID),
	CKR_ENTRY(CKR_INFORMATION_SENSITIVE), CKR_ENTRY(CKR_STATE_UNSAVEABLE),
	CKR_ENTRY(CKR_CRYPTOKI_NOT_INITIALIZED),
	CKR_ENTRY(CKR_CRYPTOKI_ALREADY_INITIALIZED), CKR_ENTRY(CKR_MUTEX_BAD),
	CKR_ENTRY(CKR_MUTEX_NOT_LOCKED), CKR_ENTRY(CKR_NEW_PIN_MODE),
	CKR_ENTRY(CKR_NEXT_OTP), CKR_ENTRY(CKR_EXCEEDED_MAX_ITERATIONS),
	CKR_ENTRY(CKR_FIPS_SELF_TEST_FAILED), CKR_ENTRY(CKR_LIBRARY_LOAD_FAILED),
	CKR_ENTRY(CKR_PIN_TOO_WEAK), CKR_ENTRY(CKR_PUBLIC_KEY_INVALID),
	CKR_ENTRY(CKR_FUNCTION_REJECTED),
};

/* "CKR_PIN_INCORRECT"; unknown values as hex (vendor codes included). */
static const char *ckr_name(CK_RV rv)
{
	static __thread char other[40];

	for (size_t i = 0; i < sizeof ckr_names / sizeof *ckr_names; i++)
		if (ckr_names[i].rv == rv)
			return ckr_names[i].name;
	snprintf(other, sizeof other, "%s 0x%lx",
		 rv >= CKR_VENDOR_DEFINED ? "CKR_VENDOR_DEFINED" : "CK_RV",
		 (unsigned long)rv);
	return other;
}

/* The status a failed call gives the client. Errors caused by what the
 * client sent get the matching PSA error; errors that only mean "the
 * token cannot do this" are NOT_SUPPORTED; a token that fails in a way we
 * did not foresee is a COMMUNICATION_FAILURE (as upstream Parsec). */
static int ckr_to_psa(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
		return PSA_OK;
	case CKR_HOST_MEMORY:
		return PSA_ERR_INSUFFICIENT_MEMORY;
	case CKR_DEVICE_MEMORY:
		return PSA_ERR_INSUFFICIENT_STORAGE;
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_FIPS_SELF_TEST_FAILED:
		return PSA_ERR_HARDWARE_FAILURE;
	case CKR_KEY_HANDLE_INVALID:
	case CKR_OBJECT_HANDLE_INVALID:
		return PSA_ERR_DOES_NOT_EXIST;
	case CKR_SIGNATURE_INVALID:
	case CKR_SIGNATURE_LEN_RANGE:
		return PSA_ERR_INVALID_SIGNATURE;
	case CKR_DATA_INVALID:
	case CKR_DATA_LEN_RANGE:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
	case CKR_ATTRIBUTE_VALUE_INVALID:
	case CKR_PUBLIC_KEY_INVALID:
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_ARGUMENTS_BAD:
		return PSA_ERR_INVALID_ARGUMENT;
	case CKR_ENCRYPTED_DATA_INVALID:
		return PSA_ERR_INVALID_PADDING;
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_FUNCTION_NOT_SUPPORTED:
	case CKR_CURVE_NOT_SUPPORTED:
	case CKR_DOMAIN_PARAMS_INVALID:
	case CKR_KEY_SIZE_RANGE:
	case CKR_ATTRIBUTE_TYPE_INVALID:
	case CKR_TEMPLATE_INCONSISTENT:
	case CKR_TEMPLATE_INCOMPLETE:
		return PSA_ERR_NOT_SUPPORTED;
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
	case CKR_KEY_UNEXTRACTABLE:
	case CKR_ATTRIBUTE_SENSITIVE:
	case CKR_ACTION_PROHIBITED:
	case CKR_TOKEN_WRITE_PROTECTED:
	case CKR_SESSION_READ_ONLY:
		return PSA_ERR_NOT_PERMITTED;
	case CKR_RANDOM_NO_RNG:
		return PSA_ERR_INSUFFICIENT_ENTROPY;
	case CKR_BUFFER_TOO_SMALL:
		return PSA_ERR_BUFFER_TOO_SMALL;
	default:
		return PSA_ERR_COMMUNICATION_FAILURE;
	}
}

/* ---- State ---- */

/* Mechanisms the provider uses, probed once at open. */
enum p11_mech {
	MECH_RSA_GEN, MECH_EC_GEN, MECH_AES_GEN, MECH_RSA_PKCS, MECH_RSA_PSS,
	MECH_RSA_OAEP, MECH_ECDSA, MECH_AES_GCM, MECH_ECDH, MECH_COUNT
};

static const struct {
	CK_MECHANISM_TYPE type;
	CK_FLAGS flags;		/* what the token must be able to do with it */
	const char *name;
} p11_mechs[MECH_COUNT] = {
	[MECH_RSA_GEN] = { CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR,
			   "CKM_RSA_PKCS_KEY_PAIR_GEN" },
	[MECH_EC_GEN] = { CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR,
			  "CKM_EC_KEY_PAIR_GEN" },
	[MECH_AES_GEN] = { CKM_AES_KEY_GEN, CKF_GENERATE, "CKM_AES_KEY_GEN" },
	[MECH_RSA_PKCS] = { CKM_RSA_PKCS, CKF_SIGN | CKF_VERIFY, "CKM_RSA_PKCS" },
	[MECH_RSA_PSS] = { CKM_RSA_PKCS_PSS, CKF_SIGN | CKF_VERIFY,
			   "CKM_RSA_PKCS_PSS" },
	[MECH_RSA_OAEP] = { CKM_RSA_PKCS_OAEP, CKF_ENCRYPT | CKF_DECRYPT,
			    "CKM_RSA_PKCS_OAEP" },
	[MECH_ECDSA] = { CKM_ECDSA, CKF_SIGN | CKF_VERIFY, "CKM_ECDSA" },
	[MECH_AES_GCM] = { CKM_AES_GCM, CKF_ENCRYPT | CKF_DECRYPT, "CKM_AES_GCM" },
	[MECH_ECDH] = { CKM_ECDH1_DERIVE, CKF_DERIVE, "CKM_ECDH1_DERIVE" },
};

struct p11 {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	int finalize;		/* we initialised the module: finalise at close */
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE login;	/* holds the login; never used for operations */
	int has_login;
	unsigned mechs;		/* 1 << MECH_* for what the token offers */
	int oaep_label_ignored;	/* the token decrypts as if the label were empty */
	pthread_mutex_t lock;	/* guards idle/nidle */
	CK_SESSION_HANDLE idle[P11_POOL_MAX];
	size_t nidle;
};

static int has_mech(const struct p11 *st, enum p11_mech m)
{
	return (st->mechs >> m) & 1;
}

/* ---- Opening: configuration, library, slot, PIN, login ---- */

/* Space-padded token fields as C strings, trailing spaces trimmed. */
static void p11_field(char *out, size_t outlen, const unsigned char *f, size_t n)
{
	while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\0'))
		n--;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, f, n);
	out[n] = '\0';
}

/* The PIN from pkcs11_pin or from the file pkcs11_pin_file (trailing
 * newline stripped), which nobody but its owner may read or write. */
static int read_pin(const struct config *cfg, struct buf *pin, char *err, size_t errlen)
{
	int has_pin = config_isset(cfg, "pkcs11_pin");
	int has_file = config_isset(cfg, "pkcs11_pin_file");

	if (has_pin && has_file) {
		error_set(err, errlen, "pkcs11_pin and pkcs11_pin_file are both set "
			  "(%s, %s): set only one of them",
			  config_source(cfg, "pkcs11_pin"),
			  config_source(cfg, "pkcs11_pin_file"));
		return -1;
	}
	if (has_pin) {
		const char *s = config_str(cfg, "pkcs11_pin");

		if (!*s) {
			error_set(err, errlen, "pkcs11_pin is empty");
			return -1;
		}
		if (buf_append_str(pin, s) < 0) {
			error_set(err, errlen, "out of memory");
			return -1;
		}
		return 0;
	}
	if (!has_file) {
		error_set(err, errlen, "no user PIN for the PKCS#11 token: set "
			  "pkcs11_pin_file (preferred) or pkcs11_pin");
		return -1;
	}

	const char *path = config_str(cfg, "pkcs11_pin_file");
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat sb;

	if (fd < 0) {
		error_set(err, errlen, "pkcs11_pin_file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		error_set(err, errlen, "pkcs11_pin_file %s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
		error_set(err, errlen, "pkcs11_pin_file %s: mode %04o lets group or "
			  "others access the PIN; make it 0600 (chmod 600 %s)",
			  path, (unsigned)(sb.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	if (buf_reserve(pin, P11_PIN_MAX + 1) < 0) {
		close(fd);
		error_set(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, pin->data + pin->len, P11_PIN_MAX + 1 - pin->len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			error_set(err, errlen, "pkcs11_pin_file %s: %s", path,
				  strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		pin->len += (size_t)r;
		if (pin->len > P11_PIN_MAX) {
			error_set(err, errlen, "pkcs11_pin_file %s: longer than %d "
				  "bytes: not a PIN", path, P11_PIN_MAX);
			close(fd);
			return -1;
		}
	}
	close(fd);
	while (pin->len > 0 && (pin->data[pin->len - 1] == '\n' ||
				pin->data[pin->len - 1] == '\r'))
		pin->len--;
	pin->data[pin->len] = 0;
	if (pin->len == 0) {
		error_set(err, errlen, "pkcs11_pin_file %s is empty", path);
		return -1;
	}
	return 0;
}

static int load_module(struct p11 *st, const char *lib, char *err, size_t errlen)
{
	CK_C_GetFunctionList get;
	CK_RV rv;

	dlerror();
	st->dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!st->dl) {
		const char *why = dlerror();

		error_set(err, errlen, "pkcs11_library %s: cannot load it: %s", lib,
			  why ? why : "unknown dlopen error");
		return -1;
	}
	get = (CK_C_GetFunctionList)dlsym(st->dl, "C_GetFunctionList");
	if (!get) {
		error_set(err, errlen, "pkcs11_library %s is not a PKCS#11 module: "
			  "it has no C_GetFunctionList", lib);
		return -1;
	}
	rv = get(&st->f);
	if (rv != CKR_OK || !st->f) {
		error_set(err, errlen, "pkcs11_library %s: C_GetFunctionList failed: %s",
			  lib, rv != CKR_OK ? ckr_name(rv) : "no function list");
		return -1;
	}
	if (st->f->version.major < 2) {
		error_set(err, errlen, "pkcs11_library %s implements PKCS#11 %u.%u; "
			  "2.x or later is needed", lib, st->f->version.major,
			  st->f->version.minor);
		return -1;
	}

	CK_C_INITIALIZE_ARGS args;

	memset(&args, 0, sizeof args);
	args.flags = CKF_OS_LOCKING_OK;
	rv = st->f->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		/* Someone else in this process uses the module; it stays
		 * initialised for them when we close. */
		log_warn("pkcs11: %s was already initialised in this process", lib);
	} else if (rv != CKR_OK) {
		error_set(err, errlen, "pkcs11_library %s: C_Initialize failed: %s",
			  lib, ckr_name(rv));
		return -1;
	} else {
		st->finalize = 1;
	}
	return 0;
}

/* Every slot id, present token or not. */
static int slot_list(struct p11 *st, CK_SLOT_ID **out, CK_ULONG *n, char *err,
		     size_t errlen)
{
	CK_RV rv;

	for (int tries = 0; tries < 4; tries++) {
		CK_ULONG count = 0;
		CK_SLOT_ID *list;

		rv = st->f->C_GetSlotList(CK_FALSE, NULL, &count);
		if (rv != CKR_OK)
			break;
		list = calloc(count ? count : 1, sizeof *list);
		if (!list) {
			error_set(err, errlen, "out of memory");
			return -1;
		}
		rv = st->f->C_GetSlotList(CK_FALSE, list, &count);
		if (rv == CKR_OK) {
			*out = list;
			*n = count;
			return 0;
		}
		free(list);
		if (rv != CKR_BUFFER_TOO_SMALL)
			break;
	}
	error_set(err, errlen, "C_GetSlotList failed: %s", ckr_name(rv));
	return -1;
}

static int slot_has_token(struct p11 *st, CK_SLOT_ID id)
{
	CK_SLOT_INFO si;

	return st->f->C_GetSlotInfo(id, &si) == CKR_OK &&
	       (si.flags & CKF_TOKEN_PRESENT);
}

static void slot_ids_text(struct buf *b, const CK_SLOT_ID *list, CK_ULONG n)
{
	for (CK_ULONG i = 0; i < n; i++)
		buf_printf(b, "%s%lu", i ? ", " : "", (unsigned long)list[i]);
	if (n == 0)
		buf_append_str(b, "none");
}

static int select_by_number(struct p11 *st, long long want, const CK_SLOT_ID *list,
			    CK_ULONG n, char *err, size_t errlen)
{
	for (CK_ULONG i = 0; i < n; i++) {
		if ((long long)list[i] != want)
			continue;
		if (!slot_has_token(st, list[i])) {
			error_set(err, errlen, "pkcs11_slot %lld: no token in the "
				  "slot", want);
			return -1;
		}
		st->slot = list[i];
		return 0;
	}

	struct buf ids = BUF_INIT;

	slot_ids_text(&ids, list, n);
	error_set(err, errlen, "pkcs11_slot %lld: no such slot (slots: %s)", want,
		  ids.data ? (char *)ids.data : "none");
	buf_free(&ids);
	return -1;
}

static int select_by_serial(struct p11 *st, const char *want, const CK_SLOT_ID *list,
			    CK_ULONG n, char *err, size_t errlen)
{
	struct buf seen = BUF_INIT;
	char want_t[64];
	int found = 0;

	p11_field(want_t, sizeof want_t, (const unsigned char *)want, strlen(want));
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char serial[sizeof ti.serialNumber + 1];

		if (!slot_has_token(st, list[i]) ||
		    st->f->C_GetTokenInfo(list[i], &ti) != CKR_OK)
			continue;
		p11_field(serial, sizeof serial, ti.serialNumber, sizeof ti.serialNumber);
		if (!strcmp(serial, want_t)) {
			st->slot = list[i];
			found = 1;
			break;
		}
		buf_printf(&seen, "%s'%s' (slot %lu)", seen.len ? ", " : "", serial,
			   (unsigned long)list[i]);
	}
	if (!found)
		error_set(err, errlen, "pkcs11_token_serial '%s': no token has this "
			  "serial (serials seen: %s)", want_t,
			  seen.len ? (char *)seen.data : "none, no token present");
	buf_free(&seen);
	return found ? 0 : -1;
}

/* Neither slot nor serial given: the one slot with an initialised token.
 * (Uninitialised tokens do not count: SoftHSM always offers a free one.) */
static int select_only(struct p11 *st, const CK_SLOT_ID *list, CK_ULONG n,
		       char *err, size_t errlen)
{
	struct buf which = BUF_INIT;
	int count = 0;

	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char serial[sizeof ti.serialNumber + 1];

		if (!slot_has_token(st, list[i]) ||
		    st->f->C_GetTokenInfo(list[i], &ti) != CKR_OK ||
		    !(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		p11_field(serial, sizeof serial, ti.serialNumber, sizeof ti.serialNumber);
		buf_printf(&which, "%sslot %lu serial '%s'", count ? ", " : "",
			   (unsigned long)list[i], serial);
		st->slot = list[i];
		count++;
	}
	if (count == 0) {
		struct buf ids = BUF_INIT;

		slot_ids_text(&ids, list, n);
		error_set(err, errlen, "no slot holds an initialised PKCS#11 token "
			  "(slots: %s); initialise one or set pkcs11_slot",
			  (char *)ids.data);
		buf_free(&ids);
	} else if (count > 1) {
		error_set(err, errlen, "several slots hold initialised tokens (%s): "
			  "set pkcs11_token_serial or pkcs11_slot",
			  (char *)which.data);
	}
	buf_free(&which);
	return count == 1 ? 0 : -1;
}

static int select_slot(struct p11 *st, const struct config *cfg, char *err,
		       size_t errlen)
{
	long long want_slot = config_isset(cfg, "pkcs11_slot") ?
			      config_int(cfg, "pkcs11_slot") : -1;
	const char *serial = config_isset(cfg, "pkcs11_token_serial") ?
			     config_str(cfg, "pkcs11_token_serial") : NULL;
	CK_SLOT_ID *list = NULL;
	CK_ULONG n = 0;
	int r;

	if (serial && !*serial)
		serial = NULL;
	if (slot_list(st, &list, &n, err, errlen) < 0)
		return -1;
	if (want_slot >= 0)
		r = select_by_number(st, want_slot, list, n, err, errlen);
	else if (serial)
		r = select_by_serial(st, serial, list, n, err, errlen);
	else
		r = select_only(st, list, n, err, errlen);
	free(list);
	return r;
}

/* The token must be ready for a user login. */
static int check_token(struct p11 *st, CK_TOKEN_INFO *ti, char *label, size_t ln,
		       char *err, size_t errlen)
{
	CK_RV rv = st->f->C_GetTokenInfo(st->slot, ti);

	if (rv != CKR_OK) {
		error_set(err, errlen, "slot %lu: C_GetTokenInfo failed: %s",
			  (unsigned long)st->slot, ckr_name(rv));
		return -1;
	}
	p11_field(label, ln, ti->label, sizeof ti->label);
	if (!(ti->flags & CKF_TOKEN_INITIALIZED)) {
		error_set(err, errlen, "the token in slot %lu is not initialised: "
			  "initialise it first (e.g. softhsm2-util --init-token)",
			  (unsigned long)st->slot);
		return -1;
	}
	if (ti->flags & CKF_USER_PIN_LOCKED) {
		error_set(err, errlen, "token '%s' (slot %lu): the user PIN is "
			  "locked; unlock it with the SO PIN", label,
			  (unsigned long)st->slot);
		return -1;
	}
	if (!(ti->flags & CKF_USER_PIN_INITIALIZED)) {
		error_set(err, errlen, "token '%s' (slot %lu): the user PIN is not "
			  "initialised", label, (unsigned long)st->slot);
		return -1;
	}
	return 0;
}

static int login(struct p11 *st, const struct config *cfg, const char *label,
		 const CK_TOKEN_INFO *ti, struct buf *pin, char *err, size_t errlen)
{
	const char *src = config_isset(cfg, "pkcs11_pin_file") ? "pkcs11_pin_file"
							       : "pkcs11_pin";
	CK_RV rv;

	rv = st->f->C_OpenSession(st->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				  NULL, NULL, &st->login);
	if (rv != CKR_OK) {
		error_set(err, errlen, "token '%s' (slot %lu): C_OpenSession failed: %s",
			  label, (unsigned long)st->slot, ckr_name(rv));
		return -1;
	}
	st->has_login = 1;
	rv = st->f->C_Login(st->login, CKU_USER, pin->data, pin->len);
	switch (rv) {
	case CKR_OK:
	case CKR_USER_ALREADY_LOGGED_IN:
		return 0;
	case CKR_PIN_INCORRECT:
		error_set(err, errlen, "token '%s' (slot %lu): wrong PIN (%s, from "
			  "%s)%s", label, (unsigned long)st->slot, ckr_name(rv), src,
			  "; repeated failures may lock the PIN");
		return -1;
	case CKR_PIN_LOCKED:
		error_set(err, errlen, "token '%s' (slot %lu): the user PIN is locked "
			  "(%s); unlock it with the SO PIN", label,
			  (unsigned long)st->slot, ckr_name(rv));
		return -1;
	case CKR_PIN_LEN_RANGE:
		error_set(err, errlen, "token '%s' (slot %lu): the PIN from %s has %zu "
			  "characters; the token takes %lu to %lu (%s)", label,
			  (unsigned long)st->slot, src, pin->len,
			  (unsigned long)ti->ulMinPinLen, (unsigned long)ti->ulMaxPinLen,
			  ckr_name(rv));
		return -1;
	case CKR_USER_PIN_NOT_INITIALIZED:
		error_set(err, errlen, "token '%s' (slot %lu): the user PIN is not "
			  "initialised (%s)", label, (unsigned long)st->slot,
			  ckr_name(rv));
		return -1;
	default:
		error_set(err, errlen, "token '%s' (slot %lu): C_Login failed: %s",
			  label, (unsigned long)st->slot, ckr_name(rv));
		return -1;
	}
}

static void probe_mechs(struct p11 *st)
{
	for (int m = 0; m < MECH_COUNT; m++) {
		CK_MECHANISM_INFO mi;

		if (st->f->C_GetMechanismInfo(st->slot, p11_mechs[m].type, &mi) == CKR_OK &&
		    (mi.flags & p11_mechs[m].flags) == p11_mechs[m].flags)
			st->mechs |= 1u << m;
		else
			log_info("pkcs11: the token lacks %s: operations that need "
				 "it answer NOT_SUPPORTED", p11_mechs[m].name);
	}
}

static void p11_teardown(struct p11 *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->nidle; i++)
		st->f->C_CloseSession(st->idle[i]);
	st->nidle = 0;
	if (st->has_login) {
		st->f->C_Logout(st->login);
		st->f->C_CloseSession(st->login);
	}
	if (st->finalize)
		st->f->C_Finalize(NULL);
	if (st->dl)
		dlclose(st->dl);
	free(st);
}

static int p11_open(struct provider *p, const struct config *cfg, char *err,
		    size_t errlen)
{
	const char *lib = config_isset(cfg, "pkcs11_library") ?
			  config_str(cfg, "pkcs11_library") : NULL;
	struct buf pin = BUF_INIT;
	CK_TOKEN_INFO ti;
	char label[sizeof ti.label + 1], serial[sizeof ti.serialNumber + 1];
	struct p11 *st;

	if (!lib || !*lib) {
		error_set(err, errlen, "pkcs11_library is not set: name the token's "
			  "PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so)");
		return -1;
	}
	if (config_isset(cfg, "pkcs11_slot") && config_int(cfg, "pkcs11_slot") >= 0 &&
	    config_isset(cfg, "pkcs11_token_serial") &&
	    *config_str(cfg, "pkcs11_token_serial")) {
		error_set(err, errlen, "pkcs11_slot (%s) and pkcs11_token_serial (%s) "
			  "are both set: set only one (the serial survives "
			  "re-plugging, slot numbers may not)",
			  config_source(cfg, "pkcs11_slot"),
			  config_source(cfg, "pkcs11_token_serial"));
		return -1;
	}
	if (read_pin(cfg, &pin, err, errlen) < 0) {
		buf_free(&pin);
		return -1;
	}
	st = calloc(1, sizeof *st);
	if (!st) {
		buf_free(&pin);
		error_set(err, errlen, "out of memory");
		return -1;
	}
	if (load_module(st, lib, err, errlen) < 0 ||
	    select_slot(st, cfg, err, errlen) < 0 ||
	    check_token(st, &ti, label, sizeof label, err, errlen) < 0 ||
	    login(st, cfg, label, &ti, &pin, err, errlen) < 0) {
		buf_free(&pin);
		p11_teardown(st);
		return -1;
	}
	buf_free(&pin);
	if (pthread_mutex_init(&st->lock, NULL) != 0) {
		error_set(err, errlen, "pthread_mutex_init failed");
		p11_teardown(st);
		return -1;
	}
	p11_field(serial, sizeof serial, ti.serialNumber, sizeof ti.serialNumber);
	log_info("pkcs11: token '%s' serial '%s' in slot %lu", label, serial,
		 (unsigned long)st->slot);
	probe_mechs(st);
	/* SoftHSM (2.6 and its main branch) refuses an OAEP label when
	 * encrypting but ignores it when decrypting: a wrong label would
	 * pass unnoticed, so labels are refused there for decryption too. */
	{
		char maker[sizeof ti.manufacturerID + 1];

		p11_field(maker, sizeof maker, ti.manufacturerID, sizeof ti.manufacturerID);
		st->oaep_label_ignored = !strcmp(maker, "SoftHSM project");
	}
	p->state = st;
	return 0;
}

static void p11_close(struct provider *p)
{
	struct p11 *st = p->state;

	if (!st)
		return;
	pthread_mutex_destroy(&st->lock);
	p11_teardown(st);
	p->state = NULL;
}

/* ---- Sessions ---- */

struct op {
	struct p11 *st;
	CK_FUNCTION_LIST_PTR f;
	CK_SESSION_HANDLE s;
	int bad;		/* the session saw a backend failure: close it */
};

static int op_begin(struct provider *p, struct op *o)
{
	struct p11 *st = p->state;
	CK_RV rv;

	o->st = st;
	o->f = st->f;
	o->bad = 0;
	pthread_mutex_lock(&st->lock);
	if (st->nidle > 0) {
		o->s = st->idle[--st->nidle];
		pthread_mutex_unlock(&st->lock);
		return PSA_OK;
	}
	pthread_mutex_unlock(&st->lock);
	rv = st->f->C_OpenSession(st->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				  NULL, NULL, &o->s);
	if (rv != CKR_OK) {
		log_error("pkcs11: C_OpenSession failed: %s", ckr_name(rv));
		return rv == CKR_SESSION_COUNT ? PSA_ERR_INSUFFICIENT_MEMORY
					       : ckr_to_psa(rv);
	}
	return PSA_OK;
}

static void op_end(struct op *o)
{
	struct p11 *st = o->st;

	if (!o->bad) {
		pthread_mutex_lock(&st->lock);
		if (st->nidle < P11_POOL_MAX) {
			st->idle[st->nidle++] = o->s;
			pthread_mutex_unlock(&st->lock);
			return;
		}
		pthread_mutex_unlock(&st->lock);
	}
	o->f->C_CloseSession(o->s);
}

/* A failed call: its status, logged by how surprising it is. Failures
 * that say something about the request leave the session usable (the
 * token ends the operation); any other marks it for closing. */
static int op_fail(struct op *o, const char *fn, CK_RV rv)
{
	int status = ckr_to_psa(rv);

	switch (status) {
	case PSA_ERR_INVALID_SIGNATURE:
	case PSA_ERR_INVALID_PADDING:
	case PSA_ERR_INVALID_ARGUMENT:
	case PSA_ERR_DOES_NOT_EXIST:
	case PSA_ERR_NOT_SUPPORTED:
	case PSA_ERR_NOT_PERMITTED:
		log_debug("pkcs11: %s: %s", fn, ckr_name(rv));
		break;
	default:
		log_error("pkcs11: %s failed: %s", fn, ckr_name(rv));
		o->bad = 1;
	}
	return status;
}

/* A failed *Init: the mechanism parameters we built are fine, so a token
 * refusing them (SoftHSM answers CKR_ARGUMENTS_BAD, others
 * CKR_MECHANISM_PARAM_INVALID) cannot do what was asked. */
static int op_init_fail(struct op *o, const char *fn, CK_RV rv)
{
	if (rv == CKR_ARGUMENTS_BAD)
		rv = CKR_MECHANISM_PARAM_INVALID;
	return op_fail(o, fn, rv);
}

/* C_Sign, C_Encrypt and C_Decrypt share one shape: run one of them into
 * out (appended), growing the buffer if the guess was short. */
static int op_run(struct op *o, const char *fn, CK_C_Sign call, const uint8_t *in,
		  size_t n, size_t guess, struct buf *out, int decrypting)
{
	for (int tries = 0; tries < 2; tries++) {
		CK_ULONG len = guess;
		CK_RV rv;

		if (buf_reserve(out, guess) < 0)
			return PSA_ERR_INSUFFICIENT_MEMORY;
		rv = call(o->s, (CK_BYTE_PTR)in, n, out->data + out->len, &len);
		if (rv == CKR_OK) {
			if (len > guess) {
				o->bad = 1;
				return PSA_ERR_CORRUPTION_DETECTED;
			}
			out->len += len;
			out->data[out->len] = 0;
			return PSA_OK;
		}
		/* A failed decryption may have left part of a plaintext. */
		if (decrypting)
			secure_wipe(out->data + out->len, guess);
		/* Everything but the ciphertext was checked before: a
		 * decryption that fails is bad padding or a tag that does
		 * not match, which SoftHSM reports as CKR_GENERAL_ERROR. */
		if (decrypting && (rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED))
			rv = CKR_ENCRYPTED_DATA_INVALID;
		/* The operation is still active: call again with room. */
		if (rv != CKR_BUFFER_TOO_SMALL || len <= guess || len > BUF_MAX / 2) {
			if (rv == CKR_BUFFER_TOO_SMALL)
				o->bad = 1;
			return op_fail(o, fn, rv);
		}
		guess = len;
	}
	o->bad = 1;
	return PSA_ERR_COMMUNICATION_FAILURE;
}

/* ---- Objects ---- */

struct tmpl {
	CK_ATTRIBUTE a[24];
	CK_ULONG ul[8];
	CK_ULONG n, nul;
};

static const CK_BBOOL ck_true = CK_TRUE, ck_false = CK_FALSE;

static void t_add(struct tmpl *t, CK_ATTRIBUTE_TYPE type, const void *p, size_t len)
{
	if (t->n >= sizeof t->a / sizeof *t->a)
		abort();	/* a template larger than any we build */
	t->a[t->n].type = type;
	t->a[t->n].pValue = (void *)p;
	t->a[t->n].ulValueLen = len;
	t->n++;
}

static void t_bool(struct tmpl *t, CK_ATTRIBUTE_TYPE type, int v)
{
	t_add(t, type, v ? &ck_true : &ck_false, sizeof(CK_BBOOL));
}

static void t_ulong(struct tmpl *t, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	if (t->nul >= sizeof t->ul / sizeof *t->ul)
		abort();
	t->ul[t->nul] = v;
	t_add(t, type, &t->ul[t->nul], sizeof(CK_ULONG));
	t->nul++;
}

/* What every object of ours carries. */
static void t_common(struct tmpl *t, CK_OBJECT_CLASS cls, const struct buf *ref)
{
	t_ulong(t, CKA_CLASS, cls);
	t_add(t, CKA_ID, ref->data, ref->len);
	t_add(t, CKA_LABEL, P11_LABEL, strlen(P11_LABEL));
	t_bool(t, CKA_TOKEN, 1);
}

/* Private half: private, sensitive, and only the uses the policy names. */
static void t_private(struct tmpl *t, const struct psa_attrs *a, const struct buf *ref)
{
	int rsa = a->type == PSA_KEY_RSA_PAIR;

	t_common(t, CKO_PRIVATE_KEY, ref);
	t_bool(t, CKA_PRIVATE, 1);
	t_bool(t, CKA_SENSITIVE, 1);
	t_bool(t, CKA_EXTRACTABLE, a->usage & PSA_USAGE_EXPORT);
	t_bool(t, CKA_SIGN, a->usage & (PSA_USAGE_SIGN_HASH | PSA_USAGE_SIGN_MESSAGE));
	if (rsa)
		t_bool(t, CKA_DECRYPT, a->usage & PSA_USAGE_DECRYPT);
	else
		t_bool(t, CKA_DERIVE, a->usage & PSA_USAGE_DERIVE);
}

static void t_public(struct tmpl *t, const struct psa_attrs *a, const struct buf *ref)
{
	int rsa = a->type == PSA_KEY_RSA_PAIR || a->type == PSA_KEY_RSA_PUBLIC;

	t_common(t, CKO_PUBLIC_KEY, ref);
	t_bool(t, CKA_PRIVATE, 0);
	t_bool(t, CKA_VERIFY, a->usage & (PSA_USAGE_VERIFY_HASH |
					   PSA_USAGE_VERIFY_MESSAGE));
	if (rsa)
		t_bool(t, CKA_ENCRYPT, a->usage & PSA_USAGE_ENCRYPT);
}

static void t_secret(struct tmpl *t, const struct psa_attrs *a, const struct buf *ref)
{
	t_common(t, CKO_SECRET_KEY, ref);
	t_ulong(t, CKA_KEY_TYPE, CKK_AES);
	t_bool(t, CKA_PRIVATE, 1);
	t_bool(t, CKA_SENSITIVE, 1);
	t_bool(t, CKA_EXTRACTABLE, a->usage & PSA_USAGE_EXPORT);
	t_bool(t, CKA_ENCRYPT, a->usage & PSA_USAGE_ENCRYPT);
	t_bool(t, CKA_DECRYPT, a->usage & PSA_USAGE_DECRYPT);
}

/* Up to max objects matching the template. */
static int find_objects(struct op *o, CK_ATTRIBUTE *t, CK_ULONG tn,
			CK_OBJECT_HANDLE *h, CK_ULONG max, CK_ULONG *count)
{
	CK_RV rv = o->f->C_FindObjectsInit(o->s, t, tn);

	*count = 0;
	if (rv != CKR_OK)
		return op_fail(o, "C_FindObjectsInit", rv);
	while (*count < max) {
		CK_ULONG got = 0;

		rv = o->f->C_FindObjects(o->s, h + *count, max - *count, &got);
		if (rv != CKR_OK || got == 0)
			break;
		*count += got;
	}
	CK_RV rv2 = o->f->C_FindObjectsFinal(o->s);

	if (rv != CKR_OK)
		return op_fail(o, "C_FindObjects", rv);
	if (rv2 != CKR_OK)
		return op_fail(o, "C_FindObjectsFinal", rv2);
	return PSA_OK;
}

static int find_key(struct op *o, const struct buf *ref, CK_OBJECT_CLASS cls,
		    CK_OBJECT_HANDLE *h)
{
	struct tmpl t = { 0 };
	CK_ULONG n;
	int r;

	if (!ref->len)
		return PSA_ERR_DOES_NOT_EXIST;
	t_ulong(&t, CKA_CLASS, cls);
	t_add(&t, CKA_ID, ref->data, ref->len);
	r = find_objects(o, t.a, t.n, h, 1, &n);
	if (r != PSA_OK)
		return r;
	return n ? PSA_OK : PSA_ERR_DOES_NOT_EXIST;
}

/* One attribute's value, appended to out. */
static int get_attr(struct op *o, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
		    struct buf *out)
{
	CK_ATTRIBUTE at = { type, NULL, 0 };
	CK_RV rv = o->f->C_GetAttributeValue(o->s, h, &at, 1);

	if (rv != CKR_OK)
		return op_fail(o, "C_GetAttributeValue", rv);
	if (at.ulValueLen == CK_UNAVAILABLE_INFORMATION || at.ulValueLen > 65536)
		return PSA_ERR_COMMUNICATION_FAILURE;
	if (buf_reserve(out, at.ulValueLen) < 0)
		return PSA_ERR_INSUFFICIENT_MEMORY;
	at.pValue = out->data + out->len;
	rv = o->f->C_GetAttributeValue(o->s, h, &at, 1);
	if (rv != CKR_OK)
		return op_fail(o, "C_GetAttributeValue", rv);
	out->len += at.ulValueLen;
	out->data[out->len] = 0;
	return PSA_OK;
}

static int new_ref(struct buf *ref)
{
	uint8_t id[P11_REF_LEN];

	if (RAND_bytes(id, sizeof id) != 1)
		return PSA_ERR_INSUFFICIENT_ENTROPY;
	buf_reset(ref);
	if (buf_append(ref, id, sizeof id) < 0)
		return PSA_ERR_INSUFFICIENT_MEMORY;
	return PSA_OK;
}

/* ---- DER: the few structures PKCS#11 and PSA formats need ---- */

/* One TLV of the given tag; definite lengths up to 64 KiB, minimal only. */
static int der_get(struct cursor *c, uint8_t tag, const uint8_t **val, size_t *len)
{
	size_t l;
	uint8_t b;

	if (cursor_u8(c) != tag || c->err)
		return -1;
	b = cursor_u8(c);
	if (b < 0x80) {
		l = b;
	} else if (b == 0x81) {
		l = cursor_u8(c);
		if (l < 0x80)
			return -1;
	} else if (b == 0x82) {
		l = cursor_be16(c);
		if (l < 0x100)
			return -1;
	} else {
		return -1;
	}
	*val = cursor_bytes(c, l);
	*len = l;
	return c->err ? -1 : 0;
}

/* A non-negative INTEGER's magnitude, without the sign byte. */
static int der_uint(struct cursor *c, const uint8_t **val, size_t *len)
{
	const uint8_t *v;
	size_t n;

	if (der_get(c, 0x02, &v, &n) < 0 || n == 0 || (v[0] & 0x80))
		return -1;
	if (v[0] == 0 && n > 1) {
		if (!(v[1] & 0x80))
			return -1;	/* not minimal */
		v++;
		n--;
	} else if (v[0] == 0) {
		n = 0;			/* the value 0 */
	}
	*val = v;
	*len = n;
	return 0;
}

static int der_put_len(struct buf *b, size_t n)
{
	if (n < 0x80)
		return buf_append_u8(b, (uint8_t)n);
	if (n < 0x100)
		return buf_append_u8(b, 0x81) | buf_append_u8(b, (uint8_t)n);
	if (n < 0x10000)
		return buf_append_u8(b, 0x82) | buf_append_be16(b, (uint16_t)n);
	return -1;
}

static int der_put_uint(struct buf *b, const uint8_t *v, size_t n)
{
	while (n > 0 && v[0] == 0) {
		v++;
		n--;
	}
	int pad = n == 0 || (v[0] & 0x80);

	if (buf_append_u8(b, 0x02) < 0 || der_put_len(b, n + (size_t)pad) < 0 ||
	    (pad && buf_append_u8(b, 0)) || buf_append(b, v, n) < 0)
		return -1;
	return 0;
}

/* Bits in a big-endian magnitude without leading zeros. */
static uint32_t uint_bits(const uint8_t *v, size_t n)
{
	uint32_t bits;

	if (n == 0)
		return 0;
	bits = (uint32_t)(n - 1) * 8;
	for (uint8_t top = v[0]; top; top >>= 1)
		bits++;
	return bits;
}

/* DigestInfo (RFC 8017, 9.2) for PKCS#1 v1.5 signatures: the token signs
 * what we give it, so the hash's algorithm identifier is ours to add. */
static int digest_info(enum psa_hash h, const uint8_t *hash, size_t n, struct buf *out)
{
	static const uint8_t nist[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02 };
	static const uint8_t sha1[] = { 0x2b, 0x0e, 0x03, 0x02, 0x1a };
	static const uint8_t ripemd[] = { 0x2b, 0x24, 0x03, 0x02, 0x01 };
	uint8_t oid[9];
	size_t on;
	int arc;

	switch (h) {
	case PSA_HASH_SHA_256: arc = 1; break;
	case PSA_HASH_SHA_384: arc = 2; break;
	case PSA_HASH_SHA_512: arc = 3; break;
	case PSA_HASH_SHA_224: arc = 4; break;
	case PSA_HASH_SHA_512_224: arc = 5; break;
	case PSA_HASH_SHA_512_256: arc = 6; break;
	case PSA_HASH_SHA3_224: arc = 7; break;
	case PSA_HASH_SHA3_256: arc = 8; break;
	case PSA_HASH_SHA3_384: arc = 9; break;
	case PSA_HASH_SHA3_512: arc = 10; break;
	case PSA_HASH_SHA_1: arc = -1; break;
	case PSA_HASH_RIPEMD160: arc = -2; break;
	default: return -1;
	}
	if (arc > 0) {
		memcpy(oid, nist, sizeof nist);
		oid[sizeof nist] = (uint8_t)arc;
		on = sizeof nist + 1;
	} else {
		memcpy(oid, arc == -1 ? sha1 : ripemd, sizeof sha1);
		on = sizeof sha1;
	}
	/* SEQUENCE { SEQUENCE { OID, NULL }, OCTET STRING hash }: all short
	 * lengths, the largest being 2 + 13 + 2 + 64. */
	size_t alg_len = 2 + on + 2;

	if (buf_append_u8(out, 0x30) ||
	    buf_append_u8(out, (uint8_t)(2 + alg_len + 2 + n)) ||
	    buf_append_u8(out, 0x30) || buf_append_u8(out, (uint8_t)alg_len) ||
	    buf_append_u8(out, 0x06) || buf_append_u8(out, (uint8_t)on) ||
	    buf_append(out, oid, on) || buf_append_u8(out, 0x05) ||
	    buf_append_u8(out, 0x00) || buf_append_u8(out, 0x04) ||
	    buf_append_u8(out, (uint8_t)n) || buf_append(out, hash, n))
		return -1;
	return 0;
}

/* ---- Curves ---- */

static const struct curve {
	int family;
	uint32_t bits;
	int nid;
	uint8_t oid[11];	/* DER OBJECT IDENTIFIER: CKA_EC_PARAMS */
} curves[] = {
	{ PSA_ECC_SECP_R1, 224, NID_secp224r1,
	  { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21 } },
	{ PSA_ECC_SECP_R1, 256, NID_X9_62_prime256v1,
	  { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 } },
	{ PSA_ECC_SECP_R1, 384, NID_secp384r1,
	  { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 } },
	{ PSA_ECC_SECP_R1, 521, NID_secp521r1,
	  { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 } },
	{ PSA_ECC_SECP_K1, 256, NID_secp256k1,
	  { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a } },
	{ PSA_ECC_BRAINPOOL_P_R1, 256, NID_brainpoolP256r1,
	  { 0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07 } },
	{ PSA_ECC_BRAINPOOL_P_R1, 384, NID_brainpoolP384r1,
	  { 0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0b } },
	{ PSA_ECC_BRAINPOOL_P_R1, 512, NID_brainpoolP512r1,
	  { 0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0d } },
};

/* The curve of (family, bits); bits 0 with a point or scalar length n
 * picks the family's curve of that size. */
static const struct curve *curve_find(int family, uint32_t bits, size_t n, int point)
{
	for (size_t i = 0; i < sizeof curves / sizeof *curves; i++) {
		const struct curve *c = &curves[i];
		size_t flen = (c->bits + 7) / 8;

		if (c->family != family)
			continue;
		if (bits ? c->bits == bits : n == (point ? 1 + 2 * flen : flen))
			return c;
	}
	return NULL;
}

static size_t curve_flen(const struct curve *c)
{
	return (c->bits + 7) / 8;
}

static size_t curve_oid_len(const struct curve *c)
{
	return 2u + c->oid[1];
}

/* Whether 04||X||Y is a point on the curve (not trusting every token to
 * check what it is given). */
static int point_valid(const struct curve *c, const uint8_t *pt, size_t n)
{
	EC_GROUP *g;
	EC_POINT *q;
	int ok = 0;

	if (n != 1 + 2 * curve_flen(c) || pt[0] != 0x04)
		return 0;
	g = EC_GROUP_new_by_curve_name(c->nid);
	q = g ? EC_POINT_new(g) : NULL;
	if (q && EC_POINT_oct2point(g, q, pt, n, NULL) == 1 &&
	    EC_POINT_is_on_curve(g, q, NULL) == 1 && !EC_POINT_is_at_infinity(g, q))
		ok = 1;
	EC_POINT_free(q);
	EC_GROUP_free(g);
	return ok;
}

/* The public point d*G of a private scalar, 04||X||Y; checks 0 < d < n. */
static int point_of_scalar(const struct curve *c, const uint8_t *d, size_t dn,
			   struct buf *out)
{
	size_t plen = 1 + 2 * curve_flen(c);
	EC_GROUP *g = EC_GROUP_new_by_curve_name(c->nid);
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *k = BN_secure_new();
	EC_POINT *q = g ? EC_POINT_new(g) : NULL;
	int r = PSA_ERR_INSUFFICIENT_MEMORY;

	if (!g || !ctx || !k || !q || buf_reserve(out, plen) < 0)
		goto done;
	r = PSA_ERR_INVALID_ARGUMENT;
	if (!BN_bin2bn(d, (int)dn, k) || BN_is_zero(k) ||
	    BN_cmp(k, EC_GROUP_get0_order(g)) >= 0)
		goto done;
	r = PSA_ERR_GENERIC;
	if (EC_POINT_mul(g, q, k, NULL, NULL, ctx) != 1 ||
	    EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED,
			       out->data + out->len, plen, ctx) != plen)
		goto done;
	out->len += plen;
	out->data[out->len] = 0;
	r = PSA_OK;
done:
	EC_POINT_free(q);
	BN_clear_free(k);
	BN_CTX_free(ctx);
	EC_GROUP_free(g);
	return r;
}

/* The key's curve: from its attributes, or, when they leave the size
 * open, from the object's CKA_EC_PARAMS. */
static const struct curve *curve_of(struct op *o, CK_OBJECT_HANDLE h,
				    const struct psa_attrs *a)
{
	struct buf params = BUF_INIT;
	const struct curve *c = NULL;

	if (a->bits)
		return curve_find(a->family, a->bits, 0, 0);
	if (get_attr(o, h, CKA_EC_PARAMS, &params) == PSA_OK)
		for (size_t i = 0; i < sizeof curves / sizeof *curves; i++)
			if (curves[i].family == a->family &&
			    params.len == curve_oid_len(&curves[i]) &&
			    !memcmp(params.data, curves[i].oid, params.len))
				c = &curves[i];
	buf_free(&params);
	return c;
}

/* A signature's (or an RSA block's) size for the key: from the
 * attributes' bits, or from the object itself when they are 0. */
static int key_block_size(struct op *o, CK_OBJECT_HANDLE h, const struct psa_attrs *a,
			  size_t *size)
{
	if (a->type == PSA_KEY_ECC_PAIR || a->type == PSA_KEY_ECC_PUBLIC) {
		const struct curve *c = curve_of(o, h, a);

		if (!c)
			return PSA_ERR_NOT_SUPPORTED;
		*size = 2 * curve_flen(c);
		return PSA_OK;
	}
	if (a->bits) {
		*size = (a->bits + 7) / 8;
		return PSA_OK;
	}

	struct buf mod = BUF_INIT;
	int r = get_attr(o, h, CKA_MODULUS, &mod);
	size_t i = 0;

	while (i < mod.len && mod.data[i] == 0)
		i++;
	*size = mod.len - i;
	buf_free(&mod);
	if (r == PSA_OK && *size == 0)
		r = PSA_ERR_COMMUNICATION_FAILURE;
	return r;
}

/* ---- Key management ---- */

static int p11_plan(struct provider *p, struct buf *ref)
{
	return new_ref(ref);
}

static int gen_pair(struct op *o, CK_MECHANISM_TYPE mt, struct tmpl *pub,
		    struct tmpl *priv)
{
	CK_MECHANISM m = { mt, NULL, 0 };
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_RV rv = o->f->C_GenerateKeyPair(o->s, &m, pub->a, pub->n, priv->a, priv->n,
					   &hpub, &hpriv);

	return rv == CKR_OK ? PSA_OK : op_fail(o, "C_GenerateKeyPair", rv);
}

static int gen_rsa(struct op *o, const struct psa_attrs *a, const struct buf *ref)
{
	static const uint8_t e65537[] = { 0x01, 0x00, 0x01 };
	struct tmpl pub = { 0 }, priv = { 0 };

	if (!has_mech(o->st, MECH_RSA_GEN))
		return PSA_ERR_NOT_SUPPORTED;
	if (a->bits == 0)
		return PSA_ERR_INVALID_ARGUMENT;
	t_public(&pub, a, ref);
	t_ulong(&pub, CKA_MODULUS_BITS, a->bits);
	t_add(&pub, CKA_PUBLIC_EXPONENT, e65537, sizeof e65537);
	t_private(&priv, a, ref);
	return gen_pair(o, CKM_RSA_PKCS_KEY_PAIR_GEN, &pub, &priv);
}

static int gen_ec(struct op *o, const struct psa_attrs *a, const struct buf *ref)
{
	const struct curve *c = a->bits ? curve_find(a->family, a->bits, 0, 0) : NULL;
	struct tmpl pub = { 0 }, priv = { 0 };

	if (!c || !has_mech(o->st, MECH_EC_GEN))
		return PSA_ERR_NOT_SUPPORTED;
	t_public(&pub, a, ref);
	t_add(&pub, CKA_EC_PARAMS, c->oid, curve_oid_len(c));
	t_private(&priv, a, ref);
	return gen_pair(o, CKM_EC_KEY_PAIR_GEN, &pub, &priv);
}

static int gen_aes(struct op *o, const struct psa_attrs *a, const struct buf *ref)
{
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
	struct tmpl t = { 0 };
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	if (a->bits != 128 && a->bits != 192 && a->bits != 256)
		return PSA_ERR_INVALID_ARGUMENT;
	if (!has_mech(o->st, MECH_AES_GEN))
		return PSA_ERR_NOT_SUPPORTED;
	t_secret(&t, a, ref);
	t_ulong(&t, CKA_VALUE_LEN, a->bits / 8);
	rv = o->f->C_GenerateKey(o->s, &m, t.a, t.n, &h);
	return rv == CKR_OK ? PSA_OK : op_fail(o, "C_GenerateKey", rv);
}

static int p11_generate(struct provider *p, const struct psa_attrs *a, struct buf *ref)
{
	struct op o;
	int r;

	switch (a->type) {
	case PSA_KEY_RSA_PAIR:
	case PSA_KEY_ECC_PAIR:
	case PSA_KEY_AES:
		break;
	case PSA_KEY_RSA_PUBLIC:
	case PSA_KEY_ECC_PUBLIC:
		return PSA_ERR_INVALID_ARGUMENT;	/* a public key is imported */
	default:
		return PSA_ERR_NOT_SUPPORTED;
	}
	if (!ref->len && (r = new_ref(ref)) != PSA_OK)
		return r;
	if ((r = op_begin(p, &o)) != PSA_OK)
		return r;
	if (a->type == PSA_KEY_RSA_PAIR)
		r = gen_rsa(&o, a, ref);
	else if (a->type == PSA_KEY_ECC_PAIR)
		r = gen_ec(&o, a, ref);
	else
		r = gen_aes(&o, a, ref);
	op_end(&o);
	return r;
}

static int create(struct op *o, struct tmpl *t, CK_OBJECT_HANDLE *h)
{
	CK_RV rv = o->f->C_CreateObject(o->s, t->a, t->n, h);

	return rv == CKR_OK ? PSA_OK : op_fail(o, "C_CreateObject", rv);
}

/* A private and a public object; neither is left alone on failure. */
static int create_pair(struct op *o, struct tmpl *priv, struct tmpl *pub)
{
	CK_OBJECT_HANDLE hpriv, hpub;
	int r = create(o, priv, &hpriv);

	if (r != PSA_OK)
		return r;
	r = create(o, pub, &hpub);
	if (r != PSA_OK)
		o->f->C_DestroyObject(o->s, hpriv);
	return r;
}

/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } */
static int parse_rsa_public(const uint8_t *d, size_t n, const uint8_t **mod,
			    size_t *mn, const uint8_t **exp, size_t *en)
{
	struct cursor top = cursor_init(d, n), seq;
	const uint8_t *body;
	size_t bn;

	if (der_get(&top, 0x30, &body, &bn) < 0 || top.left)
		return -1;
	seq = cursor_init(body, bn);
	if (der_uint(&seq, mod, mn) < 0 || der_uint(&seq, exp, en) < 0 || seq.left)
		return -1;
	return 0;
}

/* RSAPrivateKey (RFC 8017, A.1.2), two primes: version 0, n, e, d, p, q,
 * dP, dQ, qInv. The parts point into d. */
static int parse_rsa_private(const uint8_t *d, size_t n, const uint8_t *v[9],
			     size_t vn[9])
{
	struct cursor top = cursor_init(d, n), seq;
	const uint8_t *body;
	size_t bn;

	if (der_get(&top, 0x30, &body, &bn) < 0 || top.left)
		return -1;
	seq = cursor_init(body, bn);
	for (int i = 0; i < 9; i++)
		if (der_uint(&seq, &v[i], &vn[i]) < 0)
			return -1;
	if (seq.left || vn[0] != 0)
		return -1;	/* multi-prime keys have version 1 */
	for (int i = 1; i < 9; i++)
		if (vn[i] == 0)
			return -1;
	return 0;
}

/* The modulus is the product of the primes: a key that does not hold
 * together would give wrong signatures, not an error. */
static int rsa_consistent(const uint8_t *v[9], const size_t vn[9])
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *n = BN_bin2bn(v[1], (int)vn[1], NULL);
	BIGNUM *p = BN_secure_new(), *q = BN_secure_new(), *pq = BN_secure_new();
	int ok = 0;

	if (ctx && n && p && q && pq && BN_bin2bn(v[4], (int)vn[4], p) &&
	    BN_bin2bn(v[5], (int)vn[5], q) && BN_mul(pq, p, q, ctx) == 1)
		ok = BN_cmp(pq, n) == 0;
	BN_clear_free(p);
	BN_clear_free(q);
	BN_clear_free(pq);
	BN_free(n);
	BN_CTX_free(ctx);
	return ok;
}

static int rsa_bits_ok(const struct psa_attrs *a, const uint8_t *mod, size_t mn,
		       const uint8_t *exp, size_t en)
{
	uint32_t bits = uint_bits(mod, mn);

	if (a->bits && a->bits != bits)
		return PSA_ERR_INVALID_ARGUMENT;
	if (bits < 1024 || bits > 8192)
		return PSA_ERR_NOT_SUPPORTED;
	/* An even modulus or exponent is no RSA key. */
	if (!(mod[mn - 1] & 1) || en == 0 || !(exp[en - 1] & 1) ||
	    (en == 1 && exp[0] < 3))
		return PSA_ERR_INVALID_ARGUMENT;
	return PSA_OK;
}

static int import_rsa_public(struct op *o, const struct psa_attrs *a,
			     const uint8_t *d, size_t n, const struct buf *ref)
{
	const uint8_t *mod, *exp;
	size_t mn, en;
	struct tmpl t = { 0 };
	CK_OBJECT_HANDLE h;
	int r;

	if (parse_rsa_public(d, n, &mod, &mn, &exp, &en) < 0)
		return PSA_ERR_INVALID_ARGUMENT;
	if ((r = rsa_bits_ok(a, mod, mn, exp, en)) != PSA_OK)
		return r;
	t_public(&t, a, ref);
	t_ulong(&t, CKA_KEY_TYPE, CKK_RSA);
	t_add(&t, CKA_MODULUS, mod, mn);
	t_add(&t, CKA_PUBLIC_EXPONENT, exp, en);
	return create(o, &t, &h);
}

static int import_rsa_pair(struct op *o, const struct psa_attrs *a,
			   const uint8_t *d, size_t n, const struct buf *ref)
{
	static const CK_ATTRIBUTE_TYPE parts[9] = {
		0, CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT,
		CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2,
		CKA_COEFFICIENT,
	};
	const uint8_t *v[9];
	size_t vn[9];
	struct tmpl priv = { 0 }, pub = { 0 };
	int r;

	if (parse_rsa_private(d, n, v, vn) < 0)
		return PSA_ERR_INVALID_ARGUMENT;
	if ((r = rsa_bits_ok(a, v[1], vn[1], v[2], vn[2])) != PSA_OK)
		return r;
	if (!rsa_consistent(v, vn))
		return PSA_ERR_INVALID_ARGUMENT;
	t_private(&priv, a, ref);
	t_ulong(&priv, CKA_KEY_TYPE, CKK_RSA);
	for (int i = 1; i < 9; i++)
		t_add(&priv, parts[i], v[i], vn[i]);
	t_public(&pub, a, ref);
	t_ulong(&pub, CKA_KEY_TYPE, CKK_RSA);
	t_add(&pub, CKA_MODULUS, v[1], vn[1]);
	t_add(&pub, CKA_PUBLIC_EXPONENT, v[2], vn[2]);
	return create_pair(o, &priv, &pub);
}

/* No curve for the attributes: one we do not know, or (size left open)
 * data of no size the family has. */
static int no_curve(const struct psa_attrs *a)
{
	if (a->bits || a->family == PSA_ECC_MONTGOMERY)
		return PSA_ERR_NOT_SUPPORTED;
	return PSA_ERR_INVALID_ARGUMENT;
}

/* CKA_EC_POINT: the point in a DER OCTET STRING (PKCS#11 2.40). */
static int ec_point_attr(struct buf *out, const uint8_t *pt, size_t n)
{
	if (buf_append_u8(out, 0x04) < 0 || der_put_len(out, n) < 0 ||
	    buf_append(out, pt, n) < 0)
		return PSA_ERR_INSUFFICIENT_MEMORY;
	return PSA_OK;
}

static int import_ecc_public(struct op *o, const struct psa_attrs *a,
			     const uint8_t *d, size_t n, const struct buf *ref)
{
	const struct curve *c = curve_find(a->family, a->bits, n, 1);
	struct buf point = BUF_INIT;
	struct tmpl t = { 0 };
	CK_OBJECT_HANDLE h;
	int r;

	if (!c)
		return no_curve(a);
	if (!point_valid(c, d, n))
		return PSA_ERR_INVALID_ARGUMENT;
	if ((r = ec_point_attr(&point, d, n)) != PSA_OK)
		return r;
	t_public(&t, a, ref);
	t_ulong(&t, CKA_KEY_TYPE, CKK_EC);
	t_add(&t, CKA_EC_PARAMS, c->oid, curve_oid_len(c));
	t_add(&t, CKA_EC_POINT, point.data, point.len);
	r = create(o, &t, &h);
	buf_free(&point);
	return r;
}

static int import_ecc_pair(struct op *o, const struct psa_attrs *a,
			   const uint8_t *d, size_t n, const struct buf *ref)
{
	const struct curve *c = curve_find(a->family, a->bits, n, 0);
	struct buf pt = BUF_INIT, point = BUF_INIT;
	struct tmpl priv = { 0 }, pub = { 0 };
	int r;

	if (!c)
		return no_curve(a);
	if (n != curve_flen(c))
		return PSA_ERR_INVALID_ARGUMENT;
	if ((r = point_of_scalar(c, d, n, &pt)) != PSA_OK ||
	    (r = ec_point_attr(&point, pt.data, pt.len)) != PSA_OK)
		goto done;
	t_private(&priv, a, ref);
	t_ulong(&priv, CKA_KEY_TYPE, CKK_EC);
	t_add(&priv, CKA_EC_PARAMS, c->oid, curve_oid_len(c));
	t_add(&priv, CKA_VALUE, d, n);
	t_public(&pub, a, ref);
	t_ulong(&pub, CKA_KEY_TYPE, CKK_EC);
	t_add(&pub, CKA_EC_PARAMS, c->oid, curve_oid_len(c));
	t_add(&pub, CKA_EC_POINT, point.data, point.len);
	r = create_pair(o, &priv, &pub);
done:
	buf_free(&pt);
	buf_free(&point);
	return r;
}

static int import_aes(struct op *o, const struct psa_attrs *a, const uint8_t *d,
		      size_t n, const struct buf *ref)
{
	struct tmpl t = { 0 };
	CK_OBJECT_HANDLE h;

	if ((n != 16 && n != 24 && n != 32) || (a->bits && a->bits != n * 8))
		return PSA_ERR_INVALID_ARGUMENT;
	t_secret(&t, a, ref);
	t_add(&t, CKA_VALUE, d, n);
	return create(o, &t, &h);
}

static int p11_import(struct provider *p, const struct psa_attrs *a, const uint8_t *data,
		      size_t n, struct buf *ref)
{
	struct op o;
	int r;

	switch (a->type) {
	case PSA_KEY_RSA_PUBLIC:
	case PSA_KEY_RSA_PAIR:
	case PSA_KEY_ECC_PUBLIC:
	case PSA_KEY_ECC_PAIR:
	case PSA_KEY_AES:
		break;
	default:
		return PSA_ERR_NOT_SUPPORTED;
	}
	if (n == 0)
		return PSA_ERR_INVALID_ARGUMENT;
	if (!ref->len && (r = new_ref(ref)) != PSA_OK)
		return r;
	if ((r = op_begin(p, &o)) != PSA_OK)
		return r;
	switch (a->type) {
	case PSA_KEY_RSA_PUBLIC:
		r = import_rsa_public(&o, a, data, n, ref);
		break;
	case PSA_KEY_RSA_PAIR:
		r = import_rsa_pair(&o, a, data, n, ref);
		break;
	case PSA_KEY_ECC_PUBLIC:
		r = import_ecc_public(&o, a, data, n, ref);
		break;
	case PSA_KEY_ECC_PAIR:
		r = import_ecc_pair(&o, a, data, n, ref);
		break;
	default:
		r = import_aes(&o, a, data, n, ref);
		break;
	}
	op_end(&o);
	return r;
}

static int p11_destroy(struct provider *p, const struct psa_attrs *a,
		       const struct buf *ref)
{
	struct tmpl t = { 0 };
	CK_OBJECT_HANDLE h[16];
	CK_ULONG n;
	struct op o;
	int r, destroyed = 0;

	if (!ref->len)
		return PSA_ERR_DOES_NOT_EXIST;
	if ((r = op_begin(p, &o)) != PSA_OK)
		return r;
	t_add(&t, CKA_ID, ref->data, ref->len);
	/* Find in batches and destroy outside the search: some tokens do
	 * not allow changes while a search is active. */
	for (int rounds = 0; rounds < 64; rounds++) {
		r = find_objects(&o, t.a, t.n, h, 16, &n);
		if (r != PSA_OK || n == 0)
			break;
		for (CK_ULONG i = 0; i < n; i++) {
			CK_RV rv = o.f->C_DestroyObject(o.s, h[i]);

			/* Gone already: another thread destroyed it. */
			if (rv == CKR_OK || rv == CKR_OBJECT_HANDLE_INVALID) {
				destroyed++;
				continue;
			}
			r = op_fail(&o, "C_DestroyObject", rv);
			goto done;
		}
	}
	if (r == PSA_OK && !destroyed)
		r = PSA_ERR_DOES_NOT_EXIST;
done:
	op_end(&o);
	return r;
}

/* PSA export formats: RSAPublicKey, or the bare point 04||X||Y. */
static int p11_export_public(struct provider *p, const struct psa_attrs *a,
			     const struct buf *ref, struct buf *out)
{
	int rsa = a->type == PSA_KEY_RSA_PAIR || a->type == PSA_KEY_RSA_PUBLIC;
	int ecc = a->type == PSA_KEY_ECC_PAIR || a->type == PSA_KEY_ECC_PUBLIC;
	const struct curve *c = NULL;
	struct buf v1 = BUF_INIT, v2 = BUF_INIT, body = BUF_INIT;
	CK_OBJECT_HANDLE h;
	struct op o;
	int r;

	if (!rsa && !ecc)
		return PSA_ERR_INVALID_ARGUMENT;
	if ((r = op_begin(p, &o)) != PSA_OK)
		return r;
	if ((r = find_key(&o, ref, CKO_PUBLIC_KEY, &h)) != PSA_OK)
		goto done;
	if (ecc && !(c = curve_of(&o, h, a))) {
		r = PSA_ERR_NOT_SUPPORTED;
		goto done;
	}
	if (rsa) {
		if ((r = get_attr(&o, h, CKA_MODULUS, &v1)) != PSA_OK ||
		    (r = get_attr(&o, h, CKA_PUBLIC_EXPONENT, &v2)) != PSA_OK)
			goto done;
		r = PSA_ERR_INSUFFICIENT_MEMORY;
		if (der_put_uint(&body, v1.data, v1.len) < 0 ||
		    der_put_uint(&body, v2.data, v2.len) < 0 ||
		    buf_append_u8(out, 0x30) < 0 || der_put_len(out, body.len) < 0 ||
		    buf_append(out, body.data, body.len) < 0)
			goto done;
		r = PSA_OK;
	} else {
		size_t plen = 1 + 2 * curve_flen(c);
		const uint8_t *pt = NULL;
		size_t pn = 0;

		if ((r = get_attr(&o, h, CKA_EC_POINT, &v1)) != PSA_OK)
			goto done;
		/* Some tokens give the bare point instead of the DER
		 * OCTET STRING; the lengths tell them apart. */
		if (v1.len == plen) {
			pt = v1.data;
			pn = v1.len;
		} else {
			struct cursor cur = cursor_init(v1.data, v1.len);

			if (der_get(&cur, 0x04, &pt, &pn) < 0 || cur.left)
				pt = NULL;
		}
		r = PSA_ERR_COMMUNICATION_FAILURE;
		if (!pt || pn != plen || pt[0] != 0x04) {
			log_error("pkcs11: the token's CKA_EC_POINT is not an "
				  "uncompressed point of the key's curve");
			goto done;
		}
		r = buf_append(out, pt, pn) < 0 ? PSA_ERR_INSUFFICIENT_MEMORY : PSA_OK;
	}
done:
	op_end(&o);
	buf_free(&v1);
	buf_free(&v2);
	buf_free(&body);
	return r;
}

/* ---- Signatures ---- */

/* PSA hash -> the PKCS#11 hash mechanism and MGF1 for PSS and OAEP. */
static int hash_mech(enum psa_hash h, CK_MECHANISM_TYPE *mech, CK_RSA_PKCS_MGF_TYPE *mgf)
{
	switch (h) {
	case PSA_HASH_SHA_1: *mech = CKM_SHA_1; *mgf = CKG_MGF1_SHA1; return 0;
	case PSA_HASH_SHA_224: *mech = CKM_SHA224; *mgf = CKG_MGF1_SHA224; return 0;
	case PSA_HASH_SHA_256: *mech = CKM_SHA256; *mgf = CKG_MGF1_SHA256; return 0;
	case PSA_HASH_SHA_384: *mech = CKM_SHA384; *mgf = CKG_MGF1_SHA384; return 0;
	case PSA_HASH_SHA_512: *mech = CKM_SHA512; *mgf = CKG_MGF1_SHA512; return 0;
	default: return -1;
	}
}

/* A signature mechanism and the bytes the token signs. */
struct sign_setup {
	CK_MECHANISM m;
	CK_RSA_PKCS_PSS_PARAMS pss;
	struct buf di;		/* DigestInfo when the token signs one */
	const uint8_t *data;
	size_t n;
};

static int sign_prepare(struct p11 *st, const struct psa_attrs *a,
			const struct psa_alg *alg, const uint8_t *hash, size_t n,
			struct sign_setup *s)
{
	int rsa = a->type == PSA_KEY_RSA_PAIR || a->type == PSA_KEY_RSA_PUBLIC;
	int ecc = a->type == PSA_KEY_ECC_PAIR || a->type == PSA_KEY_ECC_PUBLIC;
	size_t hs = psa_hash_size(alg->hash);

	memset(s, 0, sizeof *s);
	s->data = hash;
	s->n = n;
	if (alg->kind != PSA_ALG_SIGN)
		return PSA_ERR_INVALID_ARGUMENT;
	switch (alg->variant) {
	case PSA_SIGN_RSA_PKCS1V15:
		if (!rsa || !hs || n != hs)
			return PSA_ERR_INVALID_ARGUMENT;
		if (digest_info(alg->hash, hash, n, &s->di) < 0)
			return PSA_ERR_NOT_SUPPORTED;
		s->data = s->di.data;
		s->n = s->di.len;
		s->m.mechanism = CKM_RSA_PKCS;
		return has_mech(st, MECH_RSA_PKCS) ? PSA_OK : PSA_ERR_NOT_SUPPORTED;
	case PSA_SIGN_RSA_PKCS1V15_RAW:
		if (!rsa || n == 0)
			return PSA_ERR_INVALID_ARGUMENT;
		s->m.mechanism = CKM_RSA_PKCS;
		return has_mech(st, MECH_RSA_PKCS) ? PSA_OK : PSA_ERR_NOT_SUPPORTED;
	case PSA_SIGN_RSA_PSS:
		if (!rsa || !hs || n != hs)
			return PSA_ERR_INVALID_ARGUMENT;
		if (hash_mech(alg->hash, &s->pss.hashAlg, &s->pss.mgf) < 0 ||
		    !has_mech(st, MECH_RSA_PSS))
			return PSA_ERR_NOT_SUPPORTED;
		s->pss.sLen = hs;	/* PSA_ALG_RSA_PSS: salt as long as the hash */
		s->m.mechanism = CKM_RSA_PKCS_PSS;
		s->m.pParameter = &s->pss;
		s->m.ulParameterLen = sizeof s->pss;
		return PSA_OK;
	case PSA_SIGN_ECDSA:
		if (!ecc || !hs || n != hs)
			return PSA_ERR_INVALID_ARGUMENT;
		s->m.mechanism = CKM_ECDSA;
		return has_mech(st, MECH_ECDSA) ? PSA_OK : PSA_ERR_NOT_SUPPORTED;
	case PSA_SIGN_ECDSA_ANY:
		if (!ecc || n == 0 || n > 64)
			return PSA_ERR_INVALID_ARGUMENT;
		s->m.mechanism = CKM_ECDSA;
		return has_mech(st, MECH_ECDSA) ? PSA_OK : PSA_ERR_NOT_SUPPORTED;
	default:
		/* Deterministic ECDSA (RFC 6979): CKM_ECDSA draws its own
		 * nonce, so what the token makes is not that algorithm. */
		return PSA_ERR_NOT_SUPPORTED;
	}
}

static int p11_sign_hash(struct provider *p, const struct psa_attrs *a,
			 const struct buf *ref, const struct psa_alg *alg,
			 const uint8_t *hash, size_t n, struct buf *sig)
{
	struct sign_setup s;
	CK_OBJECT_HANDLE h;
	size_t siglen;
	struct op o;
	CK_RV rv;
	int r;

	if (a->type != PSA_KEY_RSA_PAIR && a->type != PSA_KEY_ECC_PAIR)
		return PSA_ERR_INVALID_ARGUMENT;
	if ((r = sign_prepare(p->state, a, alg, hash, n, &s)) != PSA_OK) {
		buf_free(&s.di);
		return r;
	}
	if ((r = op_begin(p, &o)) != PSA_OK) {
		buf_free(&s.di);
		return r;
	}
	if ((r = find_key(&o, ref, CKO_PRIVATE_KEY, &h)) != PSA_OK ||
	    (r = key_block_size(&o, h, a, &siglen)) != PSA_OK)
		goto done;
	rv = o.f->C_SignInit(o.s, &s.m, h);
	if (rv != CKR_OK) {
		r = op_init_fail(&o, "C_SignInit", rv);
		goto done;
	}
	r = op_run(&o, "C_Sign", o.f->C_Sign, s.data, s.n, siglen, sig, 0);
done:
	op_end(&o);
	buf_free(&s.di);
	return r;
}

static int p11_verify_hash(struct provider *p, const struct psa_attrs *a,
			   const struct buf *ref, const struct psa_alg *alg,
			   const uint8_t *hash, size_t n, const uint8_t *sig, size_t sn)
{
	struct sign_setup s;
	CK_OBJECT_HANDLE h;
	size_t siglen;
	struct op o;
	CK_RV rv;
	int r;

	if ((r = sign_prepare(p->state, a, alg, hash, n, &s)) != PSA_OK) {
		buf_free(&s.di);
		return r;
	}
	if ((r = op_begin(p, &o)) != PSA_OK) {
		buf_free(&s.di);
		return r;
	}
	if ((r = find_key(&o, ref, CKO_PUBLIC_KEY, &h)) != PSA_OK ||
	    (r = key_block_size(&o, h, a, &siglen)) != PSA_OK)
		goto done;
	if (sn != siglen) {
		r = PSA_ERR_INVALID_SIGNATURE;
		goto done;
	}
	rv = o.f->C_VerifyInit(o.s, &s.m, h);
	if (rv != CKR_OK) {
		r = op_init_fail(&o, "C_VerifyInit", rv);
		goto done;
	}
	rv = o.f->C_Verify(o.s, (CK_BYTE_PTR)s.data, s.n, (CK_BYTE_PTR)sig, sn);
	r = rv == CKR_OK ? PSA_OK : op_fail(&o, "C_Verify", rv);
done:
	op_end(&o);
	buf_free(&s.di);
	return r;
}

/* ---- Asymmetric encryption ---- */

struct crypt_setup {
	CK_MECHANISM m;
	CK_RSA_PKCS_OAEP_PARAMS oaep;
	size_t overhead;	/* bytes of padding around the message */
};

static int crypt_prepare(struct p11 *st, const struct psa_attrs *a,
			 const struct psa_alg *alg, const uint8_t *salt, size_t sn,
			 struct crypt_setup *c)
{
	memset(c, 0, sizeof *c);
	if (alg->kind != PSA_ALG_ENCRYPT ||
	    (a->type != PSA_KEY_RSA_PAIR && a->type != PSA_KEY_RSA_PUBLIC))
		return PSA_ERR_INVALID_ARGUMENT;
	switch (alg->variant) {
	case PSA_ENCRYPT_RSA_PKCS1V15:
		if (sn)
			return PSA_ERR_INVALID_ARGUMENT;	/* no label in v1.5 */
		c->m.mechanism = CKM_RSA_PKCS;
		c->overhead = 11;
		return has_mech(st, MECH_RSA_PKCS) ? PSA_OK : PSA_ERR_NOT_SUPPORTED;
	case PSA_ENCRYPT_RSA_OAEP:
		if (hash_mech(alg->hash, &c->oaep.hashAlg, &c->oaep.mgf) < 0 ||
		    !has_mech(st, MECH_RSA_OAEP))
			return PSA_ERR_NOT_SUPPORTED;
		c->overhead = 2 * psa_hash_size(alg->hash) + 2;
		c->oaep.source = CKZ_DATA_SPECIFIED;
		c->oaep.pSourceData = sn ? (void *)salt : NULL;
		c->oaep.ulSourceDataLen = sn;
		c->m.mechanism = CKM_RSA_PKCS_OAEP;
		c->m.pParameter = &c->oaep;
		c->m.ulParameterLen = sizeof c->oaep;
		return PSA_OK;
	default:
		return PSA_ERR_NOT_SUPPORTED;
	}
}

static int p11_asymmetric_encrypt(struct provider *p, const struct psa_attrs *a,
				  const struct buf *ref, const struct psa_alg *alg,
				  const uint8_t *in, size_t n, const uint8_t *salt,
				  size_t sn, struct buf *out)
{
	struct crypt_setup c;
	CK_OBJECT_HANDLE h;
	size_t k;
	struct op o;
	CK_RV rv;
	int r;

	if ((r = crypt_prepare(p->state, a, alg, salt, sn, &c)) != PSA_OK)
		return r;
	if ((r = op_begin(p, &o)) != PSA_OK)
		return r;
	if ((r = find_key(&o, ref, CKO_PUBLIC_KEY, &h)) != PSA_OK ||
	    (r = key_block_size(&o, h, a, &k)) != PSA_OK)
		goto done;
	/* The padding's room (RFC 8017, 7.1.1 and 7.2.1): not every token
	 * says DATA_LEN_RANGE for a message that does not fit. */
	if (n + c.overhead > k) {
		r = PSA_ERR_INVALID_ARGUMENT;
		goto done;
	}
	rv = o.f->C_EncryptInit(o.s, &c.m, h);
	if (rv != CKR_OK) {
		r = op_init_fail(&o, "C_EncryptInit", rv);
		goto done;
	}
	r = op_run(&o, "C_Encrypt", o.f->C_Encrypt, in, n, k, out, 0);
done:
	op_end(&o);
	return r;
}

static int p11_asymmetric_decrypt(struct provider *p, const struct psa_attrs *a,
				  const struct buf *ref, const struct psa_alg *alg,
				  const uint8_t *in, size_t n, const uint8_t *salt,
				  size_t sn, struct buf *out)
{
	struct crypt_setup c;
	CK_OBJECT_HANDLE h;
	size_t k;
	struct op o;
	CK_RV rv;
	int r;

	if (a->type != PSA_KEY_RSA_PAIR)
		return PSA_ERR_INVALID_ARGUMENT;
	if ((r = crypt_prepare(p->state, a, alg, salt, sn, &c)) != PSA_OK)
		return r;
	if (sn && ((struct p11 *)p->state)->oaep_label_ignored)
		return PSA_ERR_NOT_SUPPORTED;
	if ((r = op_begin(p, &o)) != PSA_OK)
		return r;
	if ((r = find_key(&o, ref, CKO_PRIVATE_KEY, &h)) != PSA_OK ||
	    (r = key_block_size(&o, h, a, &k)) != PSA_OK)
		goto done;
	/* A ciphertext is exactly one modulus long. */
	if (n != k) {
		r = PSA_ERR_INVALID_ARGUMENT;
		goto done;
	}
	rv = o.f->C_DecryptInit(o.s, &c.m, h);
	if (rv != CKR_OK) {
		r = op_init_fail(&o, "C_DecryptInit", rv);
		goto done;
	}
	r = op_run(&o, "C_Decrypt", o.f->C_Decrypt, in, n, n, out, 1);
done:
	op_end(&o);
	return r;
}

/* ---- AEAD: AES-GCM ---- */

static int p11_aead(struct provider *p, const struct psa_attrs *a, const struct buf *ref,
		    const struct psa_alg *alg, int encrypt, const uint8_t *nonce,
		    size_t nn, const uint8_t *ad, size_t an, const uint8_t *in, size_t n,
		    struct buf *out)
{
	struct p11 *st = p->state;
	size_t tag = alg->length ? alg->length : 16;
	CK_GCM_PARAMS gcm;
	CK_MECHANISM m = { CKM_AES_GCM, &gcm, sizeof gcm };
	CK_OBJECT_HANDLE h;
	struct op o;
	CK_RV rv;
	int r;

	if (alg->kind != PSA_ALG_AEAD || a->type != PSA_KEY_AES)
		return PSA_ERR_INVALID_ARGUMENT;
	if (alg->variant != PSA_AEAD_GCM || !has_mech(st, MECH_AES_GCM))
		return PSA_ERR_NOT_SUPPORTED;
	/* The tag lengths PSA allows for GCM. */
	if (tag != 4 && tag != 8 && (tag < 12 || tag > 16))
		return PSA_ERR_INVALID_ARGUMENT;
	if (nn == 0 || nn > 256 || (!encrypt && n < tag))
		return PSA_ERR_INVALID_ARGUMENT;
	memset(&gcm, 0, sizeof gcm);
	gcm.pIv = (CK_BYTE_PTR)nonce;
	gcm.ulIvLen = nn;
	gcm.ulIvBits = nn * 8;
	gcm.pAAD = an ? (CK_BYTE_PTR)ad : NULL;
	gcm.ulAADLen = an;
	gcm.ulTagBits = tag * 8;
	if ((r = op_begin(p, &o)) != PSA_OK)
		return r;
	if ((r = find_key(&o, ref, CKO_SECRET_KEY, &h)) != PSA_OK)
		goto done;
	if (encrypt) {
		rv = o.f->C_EncryptInit(o.s, &m, h);
		if (rv != CKR_OK) {
			r = op_init_fail(&o, "C_EncryptInit", rv);
			goto done;
		}
		r = op_run(&o, "C_Encrypt", o.f->C_Encrypt, in, n, n + tag, out, 0);
	} else {
		rv = o.f->C_DecryptInit(o.s, &m, h);
		if (rv != CKR_OK) {
			r = op_init_fail(&o, "C_DecryptInit", rv);
			goto done;
		}
		r = op_run(&o, "C_Decrypt", o.f->C_Decrypt, in, n, n, out, 1);
		/* Ciphertext that is not authentic: PSA says INVALID_SIGNATURE. */
		if (r == PSA_ERR_INVALID_PADDING || r == PSA_ERR_INVALID_ARGUMENT)
			r = PSA_ERR_INVALID_SIGNATURE;
	}
done:
	op_end(&o);
	return r;
}

/* ---- Raw key agreement: ECDH ---- */

static int p11_raw_key_agreement(struct provider *p, const struct psa_attrs *a,
				 const struct buf *ref, const struct psa_alg *alg,
				 const uint8_t *peer, size_t pn, struct buf *out)
{
	struct p11 *st = p->state;
	const struct curve *c;
	CK_ECDH1_DERIVE_PARAMS ecdh;
	CK_MECHANISM m = { CKM_ECDH1_DERIVE, &ecdh, sizeof ecdh };
	CK_OBJECT_HANDLE h, secret;
	struct tmpl t = { 0 };
	struct op o;
	CK_RV rv;
	int r;

	if (alg->kind != PSA_ALG_KEY_AGREEMENT || a->type != PSA_KEY_ECC_PAIR)
		return PSA_ERR_INVALID_ARGUMENT;
	if (alg->variant != PSA_KA_ECDH || alg->kdf != 0 || !has_mech(st, MECH_ECDH))
		return PSA_ERR_NOT_SUPPORTED;
	if ((r = op_begin(p, &o)) != PSA_OK)
		return r;
	if ((r = find_key(&o, ref, CKO_PRIVATE_KEY, &h)) != PSA_OK)
		goto done;
	if (!(c = curve_of(&o, h, a))) {
		r = PSA_ERR_NOT_SUPPORTED;
		goto done;
	}
	if (!point_valid(c, peer, pn)) {
		r = PSA_ERR_INVALID_ARGUMENT;
		goto done;
	}
	memset(&ecdh, 0, sizeof ecdh);
	ecdh.kdf = CKD_NULL;
	ecdh.pPublicData = (CK_BYTE_PTR)peer;
	ecdh.ulPublicDataLen = pn;
	/* The shared x-coordinate as a short-lived session object that we
	 * may read, then destroy. */
	t_ulong(&t, CKA_CLASS, CKO_SECRET_KEY);
	t_ulong(&t, CKA_KEY_TYPE, CKK_GENERIC_SECRET);
	t_ulong(&t, CKA_VALUE_LEN, curve_flen(c));
	t_bool(&t, CKA_TOKEN, 0);
	t_bool(&t, CKA_PRIVATE, 1);
	t_bool(&t, CKA_SENSITIVE, 0);
	t_bool(&t, CKA_EXTRACTABLE, 1);
	rv = o.f->C_DeriveKey(o.s, &m, h, t.a, t.n, &secret);
	if (rv != CKR_OK) {
		r = op_init_fail(&o, "C_DeriveKey", rv);
		goto done;
	}
	r = get_attr(&o, secret, CKA_VALUE, out);
	rv = o.f->C_DestroyObject(o.s, secret);
	if (rv != CKR_OK) {
		/* Closing the session destroys it. */
		log_warn("pkcs11: C_DestroyObject of a derived secret: %s",
			 ckr_name(rv));
		o.bad = 1;
	}
done:
	op_end(&o);
	return r;
}

/* ---- Random ---- */

static int p11_generate_random(struct provider *p, size_t n, struct buf *out)
{
	struct op o;
	int r;

	if (n > BUF_MAX / 2)
		return PSA_ERR_INVALID_ARGUMENT;
	if (buf_reserve(out, n) < 0)
		return PSA_ERR_INSUFFICIENT_MEMORY;
	if (n == 0)
		return PSA_OK;
	if ((r = op_begin(p, &o)) != PSA_OK)
		return r;
	while (n > 0) {
		/* Modest pieces: some tokens cap one call's output. */
		CK_ULONG chunk = n > 1024 ? 1024 : n;
		CK_RV rv = o.f->C_GenerateRandom(o.s, out->data + out->len, chunk);

		if (rv != CKR_OK) {
			r = op_fail(&o, "C_GenerateRandom", rv);
			break;
		}
		out->len += chunk;
		n -= chunk;
	}
	out->data[out->len] = 0;
	op_end(&o);
	return r;
}

const struct provider_ops provider_pkcs11 = {
	.name = "pkcs11",
	.id = 2,
	.uuid = "30e39502-eba6-4d60-a4af-c518b7f5e38f",
	.description = "PKCS #11 provider",
	.vendor = "Assay",
	.version = { 0, 1, 0 },
	.open = p11_open,
	.close = p11_close,
	.plan = p11_plan,
	.generate = p11_generate,
	.import = p11_import,
	.destroy = p11_destroy,
	.export_public = p11_export_public,
	.sign_hash = p11_sign_hash,
	.verify_hash = p11_verify_hash,
	.asymmetric_encrypt = p11_asymmetric_encrypt,
	.asymmetric_decrypt = p11_asymmetric_decrypt,
	.aead = p11_aead,
	.raw_key_agreement = p11_raw_key_agreement,
	.generate_random = p11_generate_random,
	.offers_hash = 0,	/* as upstream: the token hashes nothing for us */
};
