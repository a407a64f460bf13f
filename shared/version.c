/*
 * version: the build's version string (see version.h). The Makefile
 * defines ELP_VERSION for this file alone.
 */
#include <stdio.h>

#include "version.h"

#ifndef ELP_VERSION
#define ELP_VERSION	"unknown"
#endif

const char *
version_str(void)
{
	return ELP_VERSION;
}

int
version_print(const char *prog)
{
	if (printf("%s %s\n", prog, ELP_VERSION) < 0 || fflush(stdout) != 0)
		return -1;
	return 0;
}
