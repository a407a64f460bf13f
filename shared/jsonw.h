/*
 * jsonw: writes JSON text straight into a struct buf, byte for byte as
 * jansson's json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) would write
 * the same values, for hot paths that need no tree: no allocation per
 * value, no hash table per object.
 *
 * The caller writes the punctuation ('{', ':', ',' ...) with
 * buf_append(); these functions write the scalar values. Strings are
 * checked the way json_stringn() checks them: text that is not
 * well-formed UTF-8 is refused, as jansson refuses to make a string of it.
 */
#ifndef ELP_JSONW_H
#define ELP_JSONW_H
#include <stddef.h>

#include "buf.h"

/*
 * Length (1-4) of the well-formed UTF-8 sequence at the start of the
 * <len> (>= 1) bytes at <s>, or 0 when none begins there (stray
 * continuation, overlong form, surrogate, above U+10FFFF, cut short).
 */
size_t	jsonw_utf8_len(const unsigned char *s, size_t len);

/*
 * Appends the <len> bytes at <s> as a JSON string, quotes included: '"',
 * '\' and the control characters escaped as jansson escapes them, the
 * rest copied. Returns 0, or -1 when <s> is not well-formed UTF-8
 * (<out> then holds part of the string: the caller discards it). May move
 * memory.
 */
int	jsonw_str(struct buf *out, const char *s, size_t len);

/* Appends <n> in decimal. May move memory. */
void	jsonw_int(struct buf *out, long long n);

/* Appends true or false. May move memory. */
void	jsonw_bool(struct buf *out, int b);

/* Appends null. May move memory. */
void	jsonw_null(struct buf *out);

/*
 * Appends "<key>": for a <key> that needs no escaping (a literal of the
 * contract: ASCII letters). May move memory.
 */
void	jsonw_key(struct buf *out, const char *key);

#endif
