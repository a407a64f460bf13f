/*
 * confc: a service's configuration from elp-confd.
 *
 * A service's configuration file may hold a single <confd url profile
 * cache timeout> element instead of its settings. The program then
 * fetches GET URL/NAME/PROFILE (NAME: the root's name attribute), turns
 * the JSON element tree back into an XML document, checks it with the
 * program's own loader, and keeps it as the last good copy at <cache>
 * (written atomically). When elp-confd cannot be reached, answers an
 * error, or sends a configuration the loader refuses, the last good copy
 * is used with a warning; with no copy either, the program refuses to
 * start. This happens at start and on every reload.
 */
#ifndef ELP_CONFC_H
#define ELP_CONFC_H

/* Checks candidate file <file>: 0 when the program would load it. */
typedef int (*confc_check_fn)(const char *file, void *arg);

/*
 * Resolves configuration file <path>. Returns the file to load (heap,
 * caller frees): <path> itself when it holds no <confd> element (or does
 * not parse: the loader then says why), else the cache file, refreshed
 * from elp-confd when possible after <check> passed on the fetched copy.
 * Returns NULL after logging every reason (file:line for the <confd>
 * element) when no configuration can be had.
 */
char	*confc_resolve(const char *path, confc_check_fn check, void *arg);

#endif
