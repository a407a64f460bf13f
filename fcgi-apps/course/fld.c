/*
 * fld: request body fields with the tolerance of docs/contract/api.md 2.4.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "app.h"
#include "db.h"
#include "fld.h"
#include "uuid.h"

/* Longest part of a bad value quoted back in a message. */
#define FLD_QUOTE	64

/* The outcome of reading one field. */
enum fld_res {
	FR_OK = 0,	/* value stored */
	FR_NULL,	/* absent, null, or "" where that means null */
	FR_TYPE,	/* wrong JSON type or unparsable text */
	FR_RANGE,	/* too long or out of range */
	FR_BLANK,	/* required string of white space only */
	FR_COUNT
};

json_t *
fld_body(struct app_req *req, const char *fail)
{
	json_error_t err;
	json_t *j;

	if (app_read_body(req) == -1)
		return NULL;
	if (req->r_body_len == 0) {
		app_fail(req, 400, "%sRequest body is missing", fail);
		return NULL;
	}
	j = json_loadb(req->r_body, req->r_body_len, 0, &err);
	if (j == NULL) {
		app_fail(req, 400, "%sRequest body is not valid JSON: %s "
		    "(line %d, column %d)", fail, err.text, err.line,
		    err.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		app_fail(req, 400, "%sRequest body must be a JSON object",
		    fail);
		return NULL;
	}
	return j;
}

const char *
fld_str(const struct db_val *v)
{
	return v->dv_type == DB_T_STR ? v->dv_s : NULL;
}

/* Code points of the UTF-8 text <s> of <len> bytes. */
static size_t
fld_chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* FLD_STR and FLD_TEXT. */
static enum fld_res
fld_string(const struct fld_spec *fs, json_t *j, struct db_val *v)
{
	size_t len;

	if (!json_is_string(j))
		return FR_TYPE;
	len = json_string_length(j);
	if (len == 0 && fs->fs_required)
		return FR_NULL;
	/* "   " names nothing: a required string needs a visible character
	 * (docs/contract/api.md 4.2.1); the value is stored untrimmed. */
	if (fs->fs_required && json_string_value(j)[strspn(
	    json_string_value(j), " \t\r\n\f\v")] == '\0')
		return FR_BLANK;
	if ((fs->fs_type == FLD_STR ? fld_chars(json_string_value(j), len) :
	    len) > (size_t)fs->fs_max)
		return FR_RANGE;
	*v = DB_STRN(json_string_value(j), len);
	return FR_OK;
}

/*
 * Parses decimal text <s> (optionally with a fraction, truncated toward
 * zero) into <out>. FR_OK, FR_TYPE or FR_RANGE.
 */
static enum fld_res
fld_int_text(const char *s, long long *out)
{
	char *end;
	double d;

	if (*s == '\0' || *s == ' ' || *s == '\t')
		return FR_TYPE;
	errno = 0;
	*out = strtoll(s, &end, 10);
	if (*end == '\0')
		return errno == 0 ? FR_OK : FR_RANGE;
	d = strtod(s, &end);
	if (*end != '\0' || !isfinite(d))
		return FR_TYPE;
	if (d >= 9.2e18 || d <= -9.2e18)
		return FR_RANGE;
	*out = (long long)d;
	return FR_OK;
}

/* FLD_INT. */
static enum fld_res
fld_int(const struct fld_spec *fs, json_t *j, struct db_val *v)
{
	enum fld_res r = FR_OK;
	long long n = 0;
	double d;

	if (json_is_integer(j))
		n = json_integer_value(j);
	else if (json_is_real(j)) {
		d = json_real_value(j);
		if (d >= 9.2e18 || d <= -9.2e18)
			return FR_RANGE;
		n = (long long)d;
	} else if (json_is_string(j)) {
		if (json_string_length(j) == 0)
			return FR_NULL;
		r = fld_int_text(json_string_value(j), &n);
	} else
		return FR_TYPE;
	if (r != FR_OK)
		return r;
	if (n < fs->fs_min || n > fs->fs_max)
		return FR_RANGE;
	*v = DB_INT(n);
	return FR_OK;
}

/* FLD_BOOL. */
static enum fld_res
fld_bool(json_t *j, struct db_val *v)
{
	const char *s;

	if (json_is_boolean(j)) {
		*v = DB_INT(json_is_true(j) ? 1 : 0);
		return FR_OK;
	}
	if (!json_is_string(j))
		return FR_TYPE;
	s = json_string_value(j);
	if (*s == '\0')
		return FR_NULL;
	if (strcasecmp(s, "true") == 0)
		*v = DB_INT(1);
	else if (strcasecmp(s, "false") == 0)
		*v = DB_INT(0);
	else
		return FR_TYPE;
	return FR_OK;
}

/* FLD_UUID into <id>. */
static enum fld_res
fld_uuid(json_t *j, struct db_val *v, char id[UUID_STR_LEN + 1])
{
	if (!json_is_string(j))
		return FR_TYPE;
	if (json_string_length(j) == 0)
		return FR_NULL;
	if (uuid_parse(json_string_value(j), json_string_length(j), id) ==
	    -1)
		return FR_TYPE;
	*v = DB_STR(id);
	return FR_OK;
}

/* Reads field <i> of <specs> from <obj> into <out>. */
static enum fld_res
fld_one(json_t *obj, const struct fld_spec *fs, size_t i,
    struct fld_out *out)
{
	json_t *j = json_object_get(obj, fs->fs_key);

	out->fo_v[i] = DB_NULLV;
	if (j == NULL || json_is_null(j))
		return FR_NULL;
	switch (fs->fs_type) {
	case FLD_STR:
	case FLD_TEXT:
		return fld_string(fs, j, &out->fo_v[i]);
	case FLD_INT:
		return fld_int(fs, j, &out->fo_v[i]);
	case FLD_BOOL:
		return fld_bool(j, &out->fo_v[i]);
	case FLD_UUID:
		return fld_uuid(j, &out->fo_v[i], out->fo_id[i]);
	default:
		return FR_TYPE;
	}
}

/* Answers the 400 for field <fs> of <obj> that read as <r>. */
static void
fld_refuse(struct app_req *req, const char *fail, json_t *obj,
    const struct fld_spec *fs, enum fld_res r)
{
	static const char *const what[FLD_COUNT] = {
		[FLD_STR] = "a string", [FLD_TEXT] = "a string",
		[FLD_INT] = "an integer", [FLD_BOOL] = "a boolean",
		[FLD_UUID] = "a UUID",
	};
	json_t *j = json_object_get(obj, fs->fs_key);

	if (r == FR_NULL)
		app_fail(req, 400, "%s%s is required", fail, fs->fs_key);
	else if (r == FR_BLANK)
		app_fail(req, 400, "%s%s must not be blank: send at least one "
		    "character other than white space", fail, fs->fs_key);
	else if (r == FR_TYPE && fs->fs_type == FLD_UUID && json_is_string(j))
		app_fail(req, 400, "%sInvalid UUID for %s: %.*s", fail,
		    fs->fs_key, FLD_QUOTE, json_string_value(j));
	else if (r == FR_TYPE)
		app_fail(req, 400, "%s%s must be %s", fail, fs->fs_key,
		    what[fs->fs_type]);
	else if (fs->fs_type == FLD_INT)
		app_fail(req, 400, "%s%s must be between %lld and %lld", fail,
		    fs->fs_key, fs->fs_min, fs->fs_max);
	else
		app_fail(req, 400, "%s%s must be at most %lld %s long", fail,
		    fs->fs_key, fs->fs_max, fs->fs_type == FLD_STR ?
		    "characters" : "bytes");
}

int
fld_read(struct app_req *req, const char *fail, json_t *obj,
    const struct fld_spec *specs, size_t n, struct fld_out *out)
{
	enum fld_res r;
	size_t i;

	for (i = 0; i < n && i < FLD_MAX; i++) {
		r = fld_one(obj, &specs[i], i, out);
		if (r == FR_OK || (r == FR_NULL && !specs[i].fs_required))
			continue;
		fld_refuse(req, fail, obj, &specs[i], r);
		return -1;
	}
	return 0;
}
