/*
 * version: the build's version string, from "git describe --always
 * --dirty" when built in a checkout, else the VERSION file, else
 * "unknown". Only version.c is compiled with it (ELP_VERSION), so a new
 * version recompiles one file and relinks.
 */
#ifndef ELP_VERSION_H
#define ELP_VERSION_H

/* The version string; static storage, never NULL. */
const char	*version_str(void);

/*
 * Prints "<prog> <version>" and a newline on stdout (what --version
 * answers). Returns 0, or -1 when stdout cannot be written.
 */
int		 version_print(const char *prog);

#endif
