/* assay key: the key service's command line (parsec-tool's commands). */
#ifndef ASSAY_CLI_KEY_H
#define ASSAY_CLI_KEY_H

/* argv[0] is "key", argv[1..] the rest of the command line. Returns the
 * exit status: 0 done, 1 the operation failed, 2 bad usage. */
int key_main(int argc, char **argv);

#endif
