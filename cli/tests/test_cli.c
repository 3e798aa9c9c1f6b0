/* End to end: the assay CLI against registrar, verifier and an agent on
 * swtpm. Enrolment with the EK certificate checked against the swtpm's CA
 * and a directory payload whose autorun runs; --verify; status and list;
 * policies created from an IMA log, stored, shown, deleted; stop,
 * reactivate, delete; every failure with exit status 1 and a message, bad
 * usage with 2. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/deploy.h"
#include "tests/lib/swtpm.h"
#include "util/check.h"
#include "util/file.h"

static struct deploy D;
static char store[200], out_path[200];

/* Runs `assay ARGS` with the deployment's endpoints; returns the exit
 * status, output (stdout and stderr) in out_path. */
static int assay(const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "%s --tls-dir %s --verifier-port %d "
		 "--registrar-tls-port %d --tpm-cert-store %s >%s 2>&1",
		 args, D.tls, D.ver_port, D.reg_tls_port, store, out_path);
	char full[2200];
	snprintf(full, sizeof full, "%s %s", daemon_program("cli/assay"), cmd);
	int st = system(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int output_has(const char *s)
{
	struct buf b = BUF_INIT;
	int r = file_read(out_path, 1 << 20, &b) == 0 && strstr((char *)b.data, s) != NULL;
	if (!r)
		printf("  (output lacks \"%s\": %s)\n", s, b.data ? (char *)b.data : "");
	buf_free(&b);
	return r;
}

int main(void)
{
	char cmd[1024], args[1024], payload[200], marker[300], policy[200];
	if (!swtpm_available())
		CHECK_SKIP("swtpm or swtpm_setup is not installed");
	if (deploy_init(&D) < 0)
		CHECK_SKIP("cannot create a temporary directory");
	snprintf(store, sizeof store, "%s/tpm_cert_store", D.dir);
	snprintf(out_path, sizeof out_path, "%s/assay.out", D.dir);
	snprintf(payload, sizeof payload, "%s/payload", D.dir);
	snprintf(policy, sizeof policy, "%s/policy.json", D.dir);
	const char *const fast[] = { "--quote-interval-ms", "300", NULL };
	struct node a;
	CHECK_INT(deploy_start_registrar(&D), 0);
	CHECK_INT(deploy_start_verifier(&D, fast), 0);
	CHECK_INT(node_init(&D, &a, "node-a", "cli-agent"), 0);
	int up = node_start(&D, &a, "rsassa", "rsa") == 0;
	CHECK(up);
	if (!up)
		goto out;
	/* The TPM vendor CA: the swtpm's local CA, which signed the EK cert. */
	file_mkdirs(store, 0755);
	snprintf(cmd, sizeof cmd, "cp %s/localca/*cert*.pem %s/", a.tpm_dir, store);
	CHECK_INT(system(cmd), 0);
	file_mkdirs(payload, 0755);
	snprintf(cmd, sizeof cmd, "%s/autorun.sh", payload);
	file_write_atomic(cmd, "#!/bin/sh\necho ran > cli-autorun\n", 32, 0644);
	snprintf(marker, sizeof marker, "%s/secure/unzipped/cli-autorun", a.dir);

	CHECK_INT(assay("bogus"), 2);
	CHECK_INT(assay("add"), 2);
	CHECK(output_has("--uuid is required"));
	CHECK_INT(assay("add --uuid no-such-agent"), 1);
	CHECK(output_has("registrar"));

	snprintf(args, sizeof args, "add --uuid cli-agent --include %s --verify", payload);
	CHECK_INT(assay(args), 0);
	CHECK(output_has("derived the bootstrap key"));
	/* The autorun runs once the payload is unpacked, just after. */
	CHECK_INT(deploy_wait_file(marker, 10), 0);
	CHECK_INT(assay(args), 1);
	CHECK(output_has("already exists"));

	CHECK_INT(assay("status --uuid cli-agent"), 0);
	CHECK(output_has("Get Quote"));
	CHECK_INT(assay("list --json"), 0);
	CHECK(output_has("\"cli-agent\""));

	/* An EK certificate chaining to no known CA is refused. */
	char empty[220];
	snprintf(empty, sizeof empty, "%s/empty-store", D.dir);
	file_mkdirs(empty, 0755);
	snprintf(cmd, sizeof cmd, "%s add --uuid cli-agent --tls-dir %s --verifier-port %d "
		 "--registrar-tls-port %d --tpm-cert-store %s >%s 2>&1",
		 daemon_program("cli/assay"), D.tls, D.ver_port, D.reg_tls_port, empty,
		 out_path);
	int st = system(cmd);
	CHECK_INT(WEXITSTATUS(st), 1);
	CHECK(output_has("holds no CA certificates"));

	/* Policies from an IMA log. */
	snprintf(args, sizeof args, "policy create-runtime --ima-log %s --output %s",
		 a.ima, policy);
	CHECK_INT(assay(args), 0);
	struct buf p = BUF_INIT;
	CHECK_INT(file_read(policy, 1 << 20, &p), 0);
	CHECK(p.data && strstr((char *)p.data, "\"digests\"") && strstr((char *)p.data, "boot_aggregate"));
	buf_free(&p);
	snprintf(args, sizeof args, "policy add --name base --file %s", policy);
	CHECK_INT(assay(args), 0);
	CHECK_INT(assay(args), 1);
	CHECK_INT(assay("policy list"), 0);
	CHECK(output_has("base"));
	CHECK_INT(assay("policy show --name base"), 0);
	CHECK(output_has("boot_aggregate"));
	CHECK_INT(assay("policy delete --name base"), 0);
	CHECK_INT(assay("policy show --name base"), 1);
	CHECK(output_has("404"));
	CHECK_INT(assay("policy create-runtime"), 2);
	/* A measured-boot reference state from a UEFI event log. */
	const char *fx = getenv("ASSAY_FIXTURES");
	char uefi[300];
	snprintf(uefi, sizeof uefi, "%s/keylime/uefi/binary_bios_measurements", fx ? fx : ".");
	if (access(uefi, R_OK) == 0) {
		/* The fixture boots with secure boot off: refused unless asked. */
		snprintf(args, sizeof args, "policy create-mb --uefi-log %s", uefi);
		CHECK_INT(assay(args), 1);
		CHECK(output_has("secure boot off"));
		snprintf(args, sizeof args, "policy create-mb --uefi-log %s --output %s "
			 "--without-secureboot", uefi, policy);
		CHECK_INT(assay(args), 0);
		CHECK_INT(file_read(policy, 1 << 20, &p), 0);
		CHECK(p.data && strstr((char *)p.data, "\"kernels\""));
		buf_free(&p);
		snprintf(args, sizeof args, "policy add --kind measured-boot --name mb --file %s",
			 policy);
		CHECK_INT(assay(args), 0);
		CHECK_INT(assay("policy list --kind measured-boot"), 0);
		CHECK(output_has("mb"));
		snprintf(args, sizeof args, "policy create-mb --uefi-log %s/keylime/uefi/"
			 "binary_bios_measurements-bogus", fx ? fx : ".");
		CHECK_INT(assay(args), 1);
	} else {
		printf("note: UEFI fixture %s absent; create-mb not checked\n", uefi);
	}

	CHECK_INT(assay("stop --uuid cli-agent"), 0);
	CHECK_INT(assay("reactivate --uuid cli-agent"), 0);
	CHECK_INT(assay("delete --uuid cli-agent"), 0);
	CHECK_INT(assay("status --uuid cli-agent"), 1);
	CHECK(output_has("404"));
out:;
	int failed = check_done();
	deploy_finish(&D, &a, 1, failed);
	return failed;
}
