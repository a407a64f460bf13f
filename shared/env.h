/*
 * env: the JSON response envelope of the public API contract.
 *
 *   success: {"httpStatus":"OK","responseBody":{...}}
 *   failure: {"httpStatus":"NOT_FOUND","errorBody":{"errorCode":"404",
 *             "errorMessage":"..."}}
 *
 * httpStatus is the Spring-style name of the status code; errorCode is the
 * decimal code as a JSON string.
 */
#ifndef ELP_ENV_H
#define ELP_ENV_H

#include <jansson.h>

#include "buf.h"

/*
 * Returns the status name ("OK", "BAD_REQUEST", ...) for <code>, or
 * "UNKNOWN" for a code outside the table. The string is static.
 */
const char	*env_status_name(int code);
/* Returns the reason phrase for a status line ("Not Found"), static. */
const char	*env_reason(int code);

/* Success envelope around <body>, which is stolen (may be NULL: {}). */
json_t	*env_ok(int status, json_t *body);
/* Failure envelope with <msg> copied. */
json_t	*env_error(int status, const char *msg);

/*
 * Appends the serialised failure envelope for <status> and <msg> to <out>,
 * escaping <msg> as JSON, without jansson or allocation beyond <out>'s
 * growth. For the gateway's error path. Returns the bytes appended.
 */
size_t	 env_error_write(struct buf *out, int status, const char *msg);

#endif
