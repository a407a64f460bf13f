/*
 * cfg: XML configuration files validated against an XSD, read through
 * key tables.
 *
 * Loading = libxml2 parse + XSD validation + semantic checks by the caller.
 * Every problem is reported as "file:line: reason" (log_error) and counted
 * in cd_nerr; callers check all keys and refuse the load when cd_nerr > 0,
 * so an operator sees every mistake at once.
 *
 * Each attribute a program reads is one struct cfg_key entry: name, type,
 * default, bounds and the offset of its field in a destination struct.
 *
 * Paths: a relative path in a configuration file (CFG_T_PATH, the PATH of
 * a CFG_T_ADDR "unix:PATH", and the files cfg_check_refs() checks) is
 * relative to the directory of the file that names it, never to the
 * working directory, so "cd / && prog -c /etc/elp/x.xml" reads the same
 * files as a start from anywhere else.
 */
#ifndef ELP_CFG_H
#define ELP_CFG_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

struct cfg_doc {
	xmlDocPtr	 cd_doc;
	char		*cd_path;	/* as given to cfg_load() */
	int		 cd_nerr;	/* errors reported so far */
};

enum cfg_type {
	CFG_T_STR = 0,	/* char *, xstrdup'ed; free with cfg_release_keys */
	CFG_T_INT,	/* int64_t, decimal, within [min, max] */
	CFG_T_BOOL,	/* int: "yes"/"no"/"true"/"false"/"on"/"off"/1/0 */
	CFG_T_SIZE,	/* uint64_t bytes: "64k", "1m" (util_parse_size) */
	CFG_T_DURATION,	/* uint64_t milliseconds: "2s", "250ms" */
	CFG_T_OCTAL,	/* int: file mode such as "0660" */
	CFG_T_PATH,	/* char *, a file or directory: a relative value or
			   default is resolved with cfg_path(); free with
			   cfg_release_keys */
	CFG_T_ADDR,	/* char *, an address: "unix:PATH" gets PATH resolved
			   with cfg_path(), host:port is kept */
	CFG_T_COUNT
};

struct cfg_key {
	const char	*ck_name;	/* attribute name */
	enum cfg_type	 ck_type;
	const char	*ck_def;	/* default as text; NULL = required */
	int64_t		 ck_min;	/* bounds for INT/SIZE/DURATION; */
	int64_t		 ck_max;	/*   min == max == 0: unbounded */
	size_t		 ck_off;	/* offsetof(dest struct, field) */
};

/*
 * Parses <path> and validates it against the schema at <xsd>. Returns 0
 * with <cd> filled, or -1 after logging every error as file:line: reason
 * (<cd> is then released) when the file could not be parsed at all. A
 * document that parses but breaks the schema is returned (0) with
 * cd_nerr > 0: the caller runs its semantic checks on it so every error
 * shows in one run, then refuses the load because cd_nerr > 0. Network
 * access and entity expansion are off.
 */
int	 cfg_load(struct cfg_doc *cd, const char *path, const char *xsd);
void	 cfg_release(struct cfg_doc *cd);

/* Root element of a loaded document. */
xmlNodePtr	 cfg_root(const struct cfg_doc *cd);

/*
 * Returns the first element child of <parent> named <name> after <prev>
 * (NULL to start), or NULL when none is left. Borrowed pointer.
 */
xmlNodePtr	 cfg_next(xmlNodePtr parent, xmlNodePtr prev, const char *name);

/*
 * Reads the attributes of <node> described by <keys> into the struct at
 * <dst>, applying defaults for absent ones. Each bad value is reported as
 * file:line and counted in <cd>. Returns 0, or -1 if any key failed.
 */
int	 cfg_read(struct cfg_doc *cd, xmlNodePtr node,
	    const struct cfg_key *keys, size_t nkeys, void *dst);

/* Frees the string fields (STR, PATH, ADDR) cfg_read() stored in <dst>. */
void	 cfg_release_keys(const struct cfg_key *keys, size_t nkeys, void *dst);

/* Reports "file:line: reason" for <node> and counts the error. */
void	 cfg_error(struct cfg_doc *cd, xmlNodePtr node, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

/* Whether <port> (<len> bytes) is all digits and within 1..65535. */
int	 cfg_port_ok(const char *port, size_t len);

/*
 * Checks listen-style address <addr> (attribute <attr> of <node>):
 * unix:path, or host:port / [v6]:port with a port in 1..65535. Returns 0,
 * or -1 after cfg_error().
 */
int	 cfg_check_address(struct cfg_doc *cd, xmlNodePtr node,
	    const char *attr, const char *addr);

/*
 * Checks that file <path> (attribute <attr>) exists and is readable now;
 * an empty path passes. Returns 0, or -1 after cfg_error().
 */
int	 cfg_check_file(struct cfg_doc *cd, xmlNodePtr node, const char *attr,
	    const char *path);

/*
 * Checks URL syntax: a scheme among the blank-separated <schemes>
 * (case-insensitive), "://", a host (name, address or [v6]) and an
 * optional port in 1..65535. An empty URL passes. Returns 0, or -1 after
 * cfg_error().
 */
int	 cfg_check_url(struct cfg_doc *cd, xmlNodePtr node, const char *attr,
	    const char *url, const char *schemes);

/*
 * Checks every attribute of the document by name: "listen" as an
 * address; password-file, secret-file, ca-file, cert-file and key-file as
 * files readable now (relative ones resolved with cfg_path()); "url"
 * and "*-url" as http(s) URLs (smtp/smtps for
 * <smtp url>). Errors are counted in <cd>.
 */
void	 cfg_check_refs(struct cfg_doc *cd);

/*
 * Resolves <path>, named in configuration file <conf>. An empty or
 * absolute <path> is copied; a relative one is joined to the directory of
 * <conf>, made absolute with the working directory when <conf> itself is
 * relative, so the result stays valid whatever the program's working
 * directory later is. Leading "./" are dropped; nothing else is rewritten
 * ("..", symlinks), so the kernel resolves the result as written. Returns
 * a heap string (caller frees).
 */
char	*cfg_path(const char *conf, const char *path);

/*
 * Resolves address <addr> of configuration file <conf>: "unix:PATH" with
 * PATH through cfg_path(); anything else (host:port) is copied. Returns a
 * heap string (caller frees).
 */
char	*cfg_addr(const char *conf, const char *addr);

/*
 * Finds schema <name> (e.g. "gateway.xsd") for config file <conf>: tries
 * "<dir of conf>/schema/<name>" then "<dir of conf>/../schema/<name>".
 * Returns a heap path (caller frees) or NULL when neither exists.
 */
char	*cfg_schema_path(const char *conf, const char *name);

#endif
