/*
 * user: handlers of the user management API (docs/contract/api.md 4.1) and the
 * health check. Profiles are rows of table `user`; accounts are elp-auth's,
 * reached through libelp idpc.h. Registration creates both or neither: the account is
 * created with an Idempotency-Key made for this attempt (so a retry after a
 * lost answer cannot create a second one), the profile is inserted, and the
 * account is deleted again when the insert fails.
 */
#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "db.h"
#include "log.h"
#include "evq.h"
#include "media.h"
#include "mrefs.h"
#include "pwrule.h"
#include "svc.h"
#include "user.h"
#include "util.h"
#include "uuid.h"

#define REG_FAIL	"Failed to add user! Reason: "
#define ADMREG_FAIL	"Failed to add admin user! Reason: "
#define INIT_FAIL	"Failed to initialize user data! Reason: "
#define LIST_FAIL	"Failed to fetch user information! Reason: "
#define PROFILE_FAIL	"Failed to update user information! Reason: "
#define IMAGE_FAIL	"Failed to update profile image! Reason: "
#define PASSWORD_FAIL	"Failed to update password! Reason: "
#define DUP_FMT		"User with email id - %s already exists!"
#define NOTFOUND_FMT	"User with id - %s not found!"
#define IDP_404		"HTTP 404 Not Found"
#define PW_TEXT								\
	"Password should be minimum eight characters. And contain at "	\
	"least one uppercase letter, one lowercase letter, one number "	\
	"and one special character!"

/* docs/contract/api.md 5.1, as a POSIX extended expression. */
#define EMAIL_RE							\
	"^[A-Za-z0-9_+&*-]+(\\.[A-Za-z0-9_+&*-]+)*@[A-Za-z0-9-]+"	\
	"(\\.[A-Za-z]{2,7})+$"
#define IMAGE_PREFIX	"file-system-storage/"
#define IMAGE_NAME_MAX	128
#define LIST_IDS_MAX	1000
#define CHUNK		32	/* ids per IN (...) query */

#define USER_COLS							\
	"user_id, first_name, last_name, image_url, email, gender, "	\
	"date_of_birth"
#define USER_NCOLS	7
#define Q8		"?, ?, ?, ?, ?, ?, ?, ?, "

#define SQL_ONE	"SELECT " USER_COLS " FROM `user` WHERE user_id = ?"
#define SQL_EMAIL	"SELECT user_id FROM `user` WHERE email = ?"
#define SQL_CHUNK							\
	"SELECT " USER_COLS " FROM `user` WHERE user_id IN ("		\
	Q8 Q8 Q8 "?, ?, ?, ?, ?, ?, ?, ?)"
#define SQL_INSERT							\
	"INSERT INTO `user` (" USER_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)"
#define SQL_PROFILE							\
	"UPDATE `user` SET first_name = ?, last_name = ?, gender = ?, "	\
	"date_of_birth = ? WHERE user_id = ?"
#define SQL_IMAGE	"UPDATE `user` SET image_url = ? WHERE user_id = ?"
#define SQL_REFS	MREFS_QUERY(MREFS_SELECT("image_url", "`user`"))

static void	user_register(struct app_req *);
static void	user_register_admin(struct app_req *);
static void	user_init(struct app_req *);
static void	user_get(struct app_req *);
static void	user_list_users(struct app_req *);
static void	user_list_admins(struct app_req *);
static void	user_list_ids(struct app_req *);
static void	user_profile(struct app_req *);
static void	user_image(struct app_req *);
static void	user_password(struct app_req *);
static void	user_health(struct app_req *);
static void	user_media_refs(struct app_req *);

const struct app_route user_routes[] = {
	{ "POST", "/user/register", user_register, APP_BODY_JSON },
	{ "POST", "/user/register/admin", user_register_admin, APP_BODY_JSON },
	{ "POST", "/user/init", user_init, APP_BODY_JSON },
	{ "GET", "/user", user_list_users, APP_BODY_ANY },
	{ "GET", "/user/admin", user_list_admins, APP_BODY_ANY },
	{ "POST", "/user/list", user_list_ids, APP_BODY_JSON },
	{ "POST", "/user/profile", user_profile, APP_BODY_JSON },
	{ "POST", "/user/image", user_image, APP_BODY_JSON },
	{ "POST", "/user/password", user_password, APP_BODY_JSON },
	{ "GET", "/user/{userId}", user_get, APP_BODY_ANY },
	{ "GET", "/health", user_health, APP_BODY_ANY },
	{ "GET", "/internal/media-refs", user_media_refs, APP_BODY_ANY },
};
const size_t user_nroutes = NITEMS(user_routes);

/* JSON keys of USER_COLS, in order. */
static const char *const user_keys[USER_NCOLS] = {
	"userId", "firstName", "lastName", "imageUrl", "email", "gender",
	"dateOfBirth",
};

/* What an endpoint with a body.userId rule needs to know. */
struct user_ep {
	const char	*ep_fail;	/* message prefix */
	int		 ep_admin;	/* ADMIN passes the self rule too */
	int		 ep_uuid_status; /* for a malformed userId */
	const char	*ep_uuid_text;
};

static const struct user_ep ep_init = { INIT_FAIL, 0, 400, "Invalid UUID: " };
static const struct user_ep ep_profile = { PROFILE_FAIL, 1, 400,
    "Invalid UUID: " };
static const struct user_ep ep_image = { IMAGE_FAIL, 1, 417,
    "Invalid UUID string: " };
static const struct user_ep ep_password = { PASSWORD_FAIL, 1, 400,
    "Invalid UUID: " };

/* The state of one such call; user_call_release() in every case. */
struct user_call {
	struct authz_id	 uc_id;
	json_t		*uc_in;
	char		 uc_uid[UUID_STR_LEN + 1];
};

/* Registration as USER or ADMIN. */
struct user_reg {
	const char	*rg_fail;	/* message prefix */
	const char	*rg_role;
	const char	*rg_ok;		/* success message */
};

static const struct user_reg reg_user = { REG_FAIL, "USER",
    "Successfully added user" };
static const struct user_reg reg_admin = { ADMREG_FAIL, "ADMIN",
    "Successfully added admin" };

/* The optional text fields of a profile, as read from a body. */
struct user_fields {
	const char	*uf_first;
	const char	*uf_last;
	const char	*uf_image;
	const char	*uf_gender;
	const char	*uf_dob;
};

int
user_email_ok(const char *s)
{
	static regex_t re;
	static int compiled;

	if (s == NULL || strlen(s) > USER_FIELD_MAX)
		return 0;
	if (!compiled) {
		if (regcomp(&re, EMAIL_RE, REG_EXTENDED | REG_NOSUB) != 0)
			fatalx("email expression does not compile");
		compiled = 1;
	}
	return regexec(&re, s, 0, NULL, 0) == 0;
}

/* Lowercases the ASCII letters of <s> in place. */
static void
user_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Builds the User object from a row of USER_COLS. */
static json_t *
user_json(const struct db_val *cols, size_t ncol)
{
	json_t *o;
	size_t i;

	if (ncol < USER_NCOLS)
		return NULL;
	o = json_object();
	for (i = 0; i < USER_NCOLS; i++)
		json_object_set_new(o, user_keys[i],
		    cols[i].dv_type == DB_T_NULL ? json_null() :
		    json_stringn(cols[i].dv_s, cols[i].dv_len));
	return o;
}

/* Row callback: keeps the User in the json_t * at <arg>. */
static int
user_one_row(void *arg, const struct db_val *cols, size_t ncol)
{
	json_t **out = arg;

	json_decref(*out);
	*out = user_json(cols, ncol);
	return *out == NULL ? -1 : 0;
}

/* Row callback: appends the User to the array at <arg>. */
static int
user_append_row(void *arg, const struct db_val *cols, size_t ncol)
{
	json_t *u;

	if ((u = user_json(cols, ncol)) == NULL)
		return -1;
	json_array_append_new(arg, u);
	return 0;
}

/* Answers a failed database call (<what> failed): 503 or 500. */
static void
user_db_fail(struct app_req *req, struct user_svc *us, const char *what)
{
	enum db_err e = db_error(us->us_db);

	if (e == DB_E_CONN) {
		app_fail(req, 503,
		    "Service temporarily unavailable: database unreachable");
		return;
	}
	log_error("%s: %s: %s", what, db_err_str(e), db_errmsg(us->us_db));
	app_fail(req, 500, "Internal server error");
}

/* Answers an admin API result <rc> the handler did not expect. */
static void
user_idp_fail(struct app_req *req, const char *prefix, int rc)
{
	if (rc == IDPC_UNAVAILABLE) {
		app_fail(req, 503, "%sIdentity provider unavailable", prefix);
		return;
	}
	log_warnx("identity provider answered HTTP %d", rc);
	app_fail(req, 502, "%sIdentity provider answered HTTP %d", prefix, rc);
}

/*
 * Reads the request body as a JSON object. Returns a new reference, or
 * NULL after answering (413, or 400 with <prefix> and the reason).
 */
static json_t *
user_body(struct app_req *req, const char *prefix)
{
	json_error_t err;
	json_t *in;

	if (app_read_body(req) == -1)
		return NULL;
	if (req->r_body_len == 0) {
		app_fail(req, 400, "%sRequired request body is missing",
		    prefix);
		return NULL;
	}
	in = json_loadb(req->r_body, req->r_body_len, 0, &err);
	if (in == NULL) {
		app_fail(req, 400, "%sJSON parse error: %s (line %d, column "
		    "%d)", prefix, err.text, err.line, err.column);
		return NULL;
	}
	if (!json_is_object(in)) {
		app_fail(req, 400, "%sRequest body must be a JSON object",
		    prefix);
		json_decref(in);
		return NULL;
	}
	return in;
}

/*
 * Reads optional text <key> of <in> into *<out> (NULL when absent or
 * null). Returns 0, or -1 after answering 400 when it is not a string or
 * is longer than USER_FIELD_MAX bytes.
 */
static int
user_opt(struct app_req *req, json_t *in, const char *key,
    const char *prefix, const char **out)
{
	json_t *v = json_object_get(in, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v) && json_string_length(v) <= USER_FIELD_MAX &&
	    strlen(json_string_value(v)) == json_string_length(v)) {
		*out = json_string_value(v);
		return 0;
	}
	app_fail(req, 400, "%s%s must be a string of at most %d bytes", prefix,
	    key, USER_FIELD_MAX);
	return -1;
}

/* Reads the profile fields of <in> named in <which> ("fligd"). 0 or -1. */
static int
user_fields(struct app_req *req, json_t *in, const char *prefix,
    const char *which, struct user_fields *uf)
{
	memset(uf, 0, sizeof(*uf));
	if ((strchr(which, 'f') != NULL &&
	    user_opt(req, in, "firstName", prefix, &uf->uf_first) == -1) ||
	    (strchr(which, 'l') != NULL &&
	    user_opt(req, in, "lastName", prefix, &uf->uf_last) == -1) ||
	    (strchr(which, 'i') != NULL &&
	    user_opt(req, in, "imageUrl", prefix, &uf->uf_image) == -1) ||
	    (strchr(which, 'g') != NULL &&
	    user_opt(req, in, "gender", prefix, &uf->uf_gender) == -1) ||
	    (strchr(which, 'd') != NULL &&
	    user_opt(req, in, "dateOfBirth", prefix, &uf->uf_dob) == -1))
		return -1;
	return 0;
}

static void
user_call_release(struct user_call *uc)
{
	authz_id_release(&uc->uc_id);
	json_decref(uc->uc_in);
	uc->uc_in = NULL;
}

/*
 * The start of every call ruled by body.userId: a valid token, a JSON
 * body, a userId that is a UUID, then the rule of <ep>. Returns 0 with
 * <uc> filled, or -1 after answering (401/503, 400, 400 or 417, 403).
 */
static int
user_begin(struct app_req *req, const struct user_ep *ep,
    struct user_call *uc)
{
	struct user_svc *us = req->r_ctx;
	json_t *v;

	memset(uc, 0, sizeof(*uc));
	if (authz_require_token(req, us->us_az, &uc->uc_id) == -1)
		return -1;
	if ((uc->uc_in = user_body(req, ep->ep_fail)) == NULL)
		return -1;
	v = json_object_get(uc->uc_in, "userId");
	if (v == NULL || json_is_null(v)) {
		app_fail(req, 400, "%suserId is required", ep->ep_fail);
		return -1;
	}
	if (!json_is_string(v) || uuid_parse(json_string_value(v),
	    json_string_length(v), uc->uc_uid) == -1) {
		app_fail(req, ep->ep_uuid_status, "%s%s%s", ep->ep_fail,
		    ep->ep_uuid_text, json_is_string(v) ?
		    json_string_value(v) : "(not a string)");
		return -1;
	}
	if ((ep->ep_admin && authz_has_role(&uc->uc_id, "ADMIN")) ||
	    authz_is_self(&uc->uc_id, uc->uc_uid))
		return 0;
	app_fail(req, 403, "Access Denied");
	return -1;
}

/* Reads profile <uid> into *<out> (NULL: none). 0 or -1 (db_error). */
static int
user_load(struct user_svc *us, const char *uid, json_t **out)
{
	struct db_val p[1];

	*out = NULL;
	p[0] = DB_STR(uid);
	if (db_exec(us->us_db, SQL_ONE, p, NITEMS(p), user_one_row, out)
	    == -1)
		return -1;
	return 0;
}

/* A nullable parameter. */
static struct db_val
user_param(const char *s)
{
	return s != NULL ? DB_STR(s) : DB_NULLV;
}

/* Inserts profile <uid> with <email> and <uf>. db_exec's result. */
static long long
user_insert(struct user_svc *us, const char *uid, const char *email,
    const struct user_fields *uf)
{
	struct db_val p[USER_NCOLS];

	p[0] = DB_STR(uid);
	p[1] = user_param(uf->uf_first);
	p[2] = user_param(uf->uf_last);
	p[3] = user_param(uf->uf_image);
	p[4] = user_param(email);
	p[5] = user_param(uf->uf_gender);
	p[6] = user_param(uf->uf_dob);
	return db_exec(us->us_db, SQL_INSERT, p, NITEMS(p), NULL, NULL);
}

/*
 * Checks email and password of a registration body <in> and reads its
 * fields into <uf>; the lowercased email goes to <email>. Returns 0, or
 * -1 after answering 400.
 */
static int
user_reg_check(struct app_req *req, const struct user_reg *rg, json_t *in,
    struct user_fields *uf, char email[USER_FIELD_MAX + 1])
{
	json_t *v = json_object_get(in, "email");
	const char *e = json_string_value(v);

	if (e == NULL || strlen(e) != json_string_length(v) ||
	    !user_email_ok(e)) {
		app_fail(req, 400, "%sEmail id - %s is not valid!",
		    rg->rg_fail, e != NULL ? e : "null");
		return -1;
	}
	if (pwrule_check(json_string_value(json_object_get(in,
	    "password"))) != PWRULE_OK) {
		app_fail(req, 400, "%s" PW_TEXT, rg->rg_fail);
		return -1;
	}
	if (user_fields(req, in, rg->rg_fail, "flgdi", uf) == -1)
		return -1;
	snprintf(email, USER_FIELD_MAX + 1, "%s", e);
	user_lower(email);
	return 0;
}

/*
 * Whether a profile holds <email>: 1 yes, 0 no, -1 after answering a
 * database failure.
 */
static int
user_email_taken(struct app_req *req, const char *email)
{
	struct user_svc *us = req->r_ctx;
	struct db_val p[1];
	long long n;

	p[0] = DB_STR(email);
	if ((n = db_exec(us->us_db, SQL_EMAIL, p, NITEMS(p), NULL, NULL))
	    == -1) {
		user_db_fail(req, us, "profile by email");
		return -1;
	}
	return n > 0;
}

/*
 * Creates the account of a registration; the key is made here and kept
 * for the one retry after a lost answer. Returns 0 with <id> set, or -1
 * after answering.
 */
static int
user_reg_account(struct app_req *req, const struct user_reg *rg,
    const struct idpc_user *iu, const char *shown, char id[UUID_STR_LEN + 1])
{
	struct user_svc *us = req->r_ctx;
	char key[UUID_STR_LEN + 1], why[256];
	int rc;

	if (uuid_v4(key) == -1) {
		app_fail(req, 500, "Internal server error");
		return -1;
	}
	why[0] = '\0';
	rc = idpc_user_create(us->us_idp, iu, key, id, why, sizeof(why));
	if (rc == IDPC_UNAVAILABLE)
		rc = idpc_user_create(us->us_idp, iu, key, id, why,
		    sizeof(why));
	if (rc == 201)
		return 0;
	if (rc == 409)
		app_fail(req, 400, "%s" DUP_FMT, rg->rg_fail, shown);
	else if (rc == 400)
		app_fail(req, 400, "%s%s", rg->rg_fail, why);
	else
		user_idp_fail(req, rg->rg_fail, rc);
	return -1;
}

/*
 * Inserts the profile of new account <id> and, with <messaging>, queues
 * its user.registered event in the same transaction (libelp evq). Returns
 * 0, or -1 with the database error in *<e>.
 */
static int
user_reg_store(struct user_svc *us, const char *id, const char *email,
    const struct user_fields *uf, enum db_err *e)
{
	json_t *fields;
	int rc = -1;

	if (!us->us_events) {
		if (user_insert(us, id, email, uf) != -1)
			return 0;
		*e = db_error(us->us_db);
		return -1;
	}
	if (db_begin(us->us_db) == -1) {
		*e = db_error(us->us_db);
		return -1;
	}
	fields = json_pack("{s:s}", "userId", id);
	if (user_insert(us, id, email, uf) != -1 &&
	    evq_add(us->us_db, "user.registered", fields) == 0 &&
	    db_commit(us->us_db) == 0)
		rc = 0;
	json_decref(fields);
	if (rc == -1) {
		*e = db_error(us->us_db);
		db_rollback(us->us_db);
	}
	return rc;
}

/*
 * Inserts the profile of new account <id> (and queues its event); when
 * that fails, deletes the account again so nothing of the registration
 * remains. 0 or -1 after answering.
 */
static int
user_reg_profile(struct app_req *req, const struct user_reg *rg,
    const char *id, const char *email, const struct user_fields *uf,
    const char *shown)
{
	struct user_svc *us = req->r_ctx;
	enum db_err e;
	int rc;

	if (user_reg_store(us, id, email, uf, &e) == 0)
		return 0;
	if (e != DB_E_DUP)
		log_error("profile insert: %s: %s", db_err_str(e),
		    db_errmsg(us->us_db));
	rc = idpc_user_delete(us->us_idp, id);
	if (rc != 204 && rc != 404)
		log_error("registration undo: account %s could not be "
		    "deleted (%d); remove it by hand", id, rc);
	else
		log_info("registration undone: account %s deleted", id);
	if (e == DB_E_DUP)
		app_fail(req, 400, "%s" DUP_FMT, rg->rg_fail, shown);
	else if (e == DB_E_CONN)
		app_fail(req, 503,
		    "Service temporarily unavailable: database unreachable");
	else
		app_fail(req, 500, "Internal server error");
	return -1;
}

/* POST /user/register and /user/register/admin, after the access rule. */
static void
user_register_as(struct app_req *req, const struct user_reg *rg)
{
	char email[USER_FIELD_MAX + 1], id[UUID_STR_LEN + 1];
	struct user_fields uf;
	struct idpc_user iu;
	const char *shown;
	json_t *in;
	int taken;

	if ((in = user_body(req, rg->rg_fail)) == NULL)
		return;
	if (user_reg_check(req, rg, in, &uf, email) == -1 ||
	    (taken = user_email_taken(req, email)) == -1)
		goto done;
	shown = json_string_value(json_object_get(in, "email"));
	if (taken) {
		app_fail(req, 400, "%s" DUP_FMT, rg->rg_fail, shown);
		goto done;
	}
	iu.iu_email = email;
	iu.iu_first = uf.uf_first;
	iu.iu_last = uf.uf_last;
	iu.iu_password = json_string_value(json_object_get(in, "password"));
	iu.iu_role = rg->rg_role;
	if (user_reg_account(req, rg, &iu, shown, id) == -1 ||
	    user_reg_profile(req, rg, id, email, &uf, shown) == -1)
		goto done;
	log_info("registered account %s as %s", id, rg->rg_role);
	app_ok(req, 201, json_pack("{s:s}", "message", rg->rg_ok));
done:
	json_decref(in);
}

/*
 * POST /user/register: public self-registration (docs/contract/api.md 4.1.1).
 */
static void
user_register(struct app_req *req)
{
	user_register_as(req, &reg_user);
}

/*
 * POST /user/register/admin: ADMIN registers an admin (docs/contract/api.md
 * 4.1.8).
 */
static void
user_register_admin(struct app_req *req)
{
	struct user_svc *us = req->r_ctx;
	struct authz_id id;

	if (authz_require_role(req, us->us_az, &id, "ADMIN") == -1)
		return;
	user_register_as(req, &reg_admin);
	authz_id_release(&id);
}

/* A claim as a profile value: NULL when empty. */
static const char *
user_claim(const char *s)
{
	return s[0] != '\0' ? s : NULL;
}

/*
 * POST /user/init: the caller's profile from its token (docs/contract/api.md
 * 4.1.2).
 */
static void
user_init(struct app_req *req)
{
	struct user_svc *us = req->r_ctx;
	char email[AUTHZ_CLAIM_MAX + 1];
	struct user_fields uf;
	struct user_call uc;
	json_t *have = NULL;

	if (user_begin(req, &ep_init, &uc) == -1)
		goto done;
	if (user_load(us, uc.uc_uid, &have) == -1) {
		user_db_fail(req, us, "profile by id");
		goto done;
	}
	memset(&uf, 0, sizeof(uf));
	uf.uf_first = user_claim(uc.uc_id.ai_given_name);
	uf.uf_last = user_claim(uc.uc_id.ai_family_name);
	snprintf(email, sizeof(email), "%s", uc.uc_id.ai_email[0] != '\0' ?
	    uc.uc_id.ai_email : uc.uc_id.ai_username);
	user_lower(email);
	if (have == NULL && user_insert(us, uc.uc_uid, user_claim(email),
	    &uf) == -1) {
		/* A concurrent init of the same account is a success too. */
		if (db_error(us->us_db) != DB_E_DUP) {
			user_db_fail(req, us, "profile insert");
			goto done;
		}
		if (user_load(us, uc.uc_uid, &have) == -1 || have == NULL) {
			app_fail(req, 400, INIT_FAIL DUP_FMT, email);
			goto done;
		}
	}
	app_ok(req, 201, json_pack("{s:s}", "message",
	    "Successfully initialized user data"));
done:
	json_decref(have);
	user_call_release(&uc);
}

/*
 * GET /user/{userId}: one profile, ADMIN or self (docs/contract/api.md 4.1.3).
 */
static void
user_get(struct app_req *req)
{
	struct user_svc *us = req->r_ctx;
	const char *raw = app_cap(req, "userId");
	char uid[UUID_STR_LEN + 1];
	struct authz_id id;
	json_t *u = NULL;

	/* GET /user/profile and the like are 405 in app_match(). */
	if (authz_require_token(req, us->us_az, &id) == -1)
		return;
	if (raw == NULL || uuid_parse(raw, strlen(raw), uid) == -1)
		app_fail(req, 400, "Invalid UUID: %s", raw != NULL ? raw : "");
	else if (!authz_has_role(&id, "ADMIN") && !authz_is_self(&id, uid))
		app_fail(req, 403, "Access Denied");
	else if (user_load(us, uid, &u) == -1)
		user_db_fail(req, us, "profile by id");
	else if (u == NULL)
		app_fail(req, 404, "No user found for this user id!");
	else
		app_ok(req, 200, json_pack("{s:O}", "user", u));
	json_decref(u);
	authz_id_release(&id);
}

/* Order of user lists: email ascending (null first), then id. */
static int
user_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *ex = json_string_value(json_object_get(x, "email"));
	const char *ey = json_string_value(json_object_get(y, "email"));
	int c;

	if (ex == NULL || ey == NULL)
		c = (ex != NULL) - (ey != NULL);
	else
		c = strcmp(ex, ey);
	if (c != 0)
		return c;
	return strcmp(json_string_value(json_object_get(x, "userId")),
	    json_string_value(json_object_get(y, "userId")));
}

/* Returns a new array holding the Users of <list> in list order. */
static json_t *
user_sorted(json_t *list)
{
	size_t i, n = json_array_size(list);
	json_t **v, *out;

	out = json_array();
	if (n == 0)
		return out;
	v = xcalloc(n, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = json_array_get(list, i);
	qsort(v, n, sizeof(*v), user_cmp);
	for (i = 0; i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	return out;
}

/*
 * Appends the profiles of the distinct lowercase ids in array <ids> to
 * <list>, CHUNK ids per query (a short chunk repeats its last id, so one
 * statement text serves every chunk). 0 or -1 (db_error set).
 */
static int
user_fetch(struct user_svc *us, json_t *ids, json_t *list)
{
	struct db_val p[CHUNK];
	size_t i, j, k, n = json_array_size(ids);

	for (i = 0; i < n; i += CHUNK) {
		for (j = 0; j < CHUNK; j++) {
			k = i + j < n ? i + j : n - 1;
			p[j] = DB_STR(json_string_value(json_array_get(ids,
			    k)));
		}
		if (db_exec(us->us_db, SQL_CHUNK, p, CHUNK, user_append_row,
		    list) == -1)
			return -1;
	}
	return 0;
}

/* Answers 200 {"userList": ...} with the profiles of <ids>, sorted. */
static void
user_send_list(struct app_req *req, json_t *ids)
{
	struct user_svc *us = req->r_ctx;
	json_t *list = json_array();

	if (user_fetch(us, ids, list) == -1)
		user_db_fail(req, us, "profiles by ids");
	else
		app_ok(req, 200, json_pack("{s:o}", "userList",
		    user_sorted(list)));
	json_decref(list);
}

/* GET /user and /user/admin: profiles of the members of <role>. */
static void
user_list_role(struct app_req *req, const char *role)
{
	struct user_svc *us = req->r_ctx;
	struct authz_id id;
	json_t *ids = NULL;
	int rc;

	if (authz_require_role(req, us->us_az, &id, "ADMIN") == -1)
		return;
	if ((rc = idpc_role_ids(us->us_idp, role, &ids)) != 200)
		user_idp_fail(req, LIST_FAIL, rc);
	else
		user_send_list(req, ids);
	json_decref(ids);
	authz_id_release(&id);
}

/* GET /user: regular users (docs/contract/api.md 4.1.4). */
static void
user_list_users(struct app_req *req)
{
	user_list_role(req, "USER");
}

/* GET /user/admin: admins (docs/contract/api.md 4.1.9). */
static void
user_list_admins(struct app_req *req)
{
	user_list_role(req, "ADMIN");
}

/*
 * Reads body.userIds into a new array of distinct lowercase ids. NULL
 * after answering 400.
 */
static json_t *
user_ids_arg(struct app_req *req, json_t *in)
{
	json_t *arr = json_object_get(in, "userIds"), *v, *seen, *ids;
	char uid[UUID_STR_LEN + 1];
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) > LIST_IDS_MAX) {
		app_fail(req, 400, LIST_FAIL "userIds must be an array of at "
		    "most %d user ids", LIST_IDS_MAX);
		return NULL;
	}
	seen = json_object();
	ids = json_array();
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) || uuid_parse(json_string_value(v),
		    json_string_length(v), uid) == -1) {
			app_fail(req, 400, LIST_FAIL "Invalid UUID: %s",
			    json_is_string(v) ? json_string_value(v) :
			    "(not a string)");
			json_decref(ids);
			ids = NULL;
			break;
		}
		if (json_object_get(seen, uid) == NULL) {
			json_object_set_new(seen, uid, json_true());
			json_array_append_new(ids, json_string(uid));
		}
	}
	json_decref(seen);
	return ids;
}

/* POST /user/list: profiles by ids, ADMIN (docs/contract/api.md 4.1.10). */
static void
user_list_ids(struct app_req *req)
{
	struct user_svc *us = req->r_ctx;
	struct authz_id id;
	json_t *in, *ids = NULL;

	if (authz_require_role(req, us->us_az, &id, "ADMIN") == -1)
		return;
	if ((in = user_body(req, LIST_FAIL)) != NULL &&
	    (ids = user_ids_arg(req, in)) != NULL)
		user_send_list(req, ids);
	json_decref(ids);
	json_decref(in);
	authz_id_release(&id);
}

/*
 * Copies first and last name of the account representation <acc> into
 * <first> and <last> (NULL when absent). The caller frees both.
 */
static void
user_names_of(json_t *acc, char **first, char **last)
{
	const char *f = json_string_value(json_object_get(acc, "firstName"));
	const char *l = json_string_value(json_object_get(acc, "lastName"));

	*first = f != NULL ? xstrdup(f) : NULL;
	*last = l != NULL ? xstrdup(l) : NULL;
}

/*
 * Applies <uf> to profile <uid> and to its account; when the profile
 * update fails, the account gets its old names back. 0, or -1 after
 * answering.
 */
static int
user_profile_apply(struct app_req *req, const char *uid,
    const struct user_fields *uf, char *old_first, char *old_last)
{
	struct user_svc *us = req->r_ctx;
	struct db_val p[5];
	int rc;

	if ((rc = idpc_user_names(us->us_idp, uid, uf->uf_first,
	    uf->uf_last)) != 204) {
		if (rc == 404)
			app_fail(req, 417, PROFILE_FAIL IDP_404);
		else
			user_idp_fail(req, PROFILE_FAIL, rc);
		return -1;
	}
	p[0] = user_param(uf->uf_first);
	p[1] = user_param(uf->uf_last);
	p[2] = user_param(uf->uf_gender);
	p[3] = user_param(uf->uf_dob);
	p[4] = DB_STR(uid);
	if (db_exec_idem(us->us_db, SQL_PROFILE, p, NITEMS(p), NULL, NULL) !=
	    -1)
		return 0;
	if (idpc_user_names(us->us_idp, uid, old_first, old_last) != 204)
		log_error("profile %s: names differ from the account's "
		    "after a failed update", uid);
	user_db_fail(req, us, "profile update");
	return -1;
}

/*
 * POST /user/profile: names, gender, birth date (docs/contract/api.md 4.1.5).
 */
static void
user_profile(struct app_req *req)
{
	struct user_svc *us = req->r_ctx;
	char *old_first = NULL, *old_last = NULL;
	json_t *have = NULL, *acc = NULL;
	struct user_fields uf;
	struct user_call uc;
	int rc;

	if (user_begin(req, &ep_profile, &uc) == -1 ||
	    user_fields(req, uc.uc_in, PROFILE_FAIL, "flgd", &uf) == -1)
		goto done;
	/* Both stores are checked before either is changed. */
	if (user_load(us, uc.uc_uid, &have) == -1) {
		user_db_fail(req, us, "profile by id");
		goto done;
	}
	if (have == NULL) {
		app_fail(req, 417, PROFILE_FAIL NOTFOUND_FMT, uc.uc_uid);
		goto done;
	}
	if ((rc = idpc_user_get(us->us_idp, uc.uc_uid, &acc)) != 200) {
		if (rc == 404)
			app_fail(req, 417, PROFILE_FAIL IDP_404);
		else
			user_idp_fail(req, PROFILE_FAIL, rc);
		goto done;
	}
	user_names_of(acc, &old_first, &old_last);
	if (user_profile_apply(req, uc.uc_uid, &uf, old_first, old_last) == 0)
		app_ok(req, 200, json_pack("{s:s}", "message",
		    "Successfully updated user information"));
done:
	free(old_first);
	free(old_last);
	json_decref(acc);
	json_decref(have);
	user_call_release(&uc);
}

/*
 * Whether <url> is "file-system-storage/<fileName>" (docs/contract/api.md
 * 4.5.1).
 */
static int
user_image_ok(const char *url)
{
	const char *name = url + sizeof(IMAGE_PREFIX) - 1;
	size_t i, n;

	if (strncmp(url, IMAGE_PREFIX, sizeof(IMAGE_PREFIX) - 1) != 0)
		return 0;
	n = strlen(name);
	if (n == 0 || n > IMAGE_NAME_MAX || !isalnum((unsigned char)name[0]) ||
	    strstr(name, "..") != NULL)
		return 0;
	for (i = 1; i < n; i++)
		if (!isalnum((unsigned char)name[i]) &&
		    strchr("._-", name[i]) == NULL)
			return 0;
	return 1;
}

/* POST /user/image: the profile picture URL (docs/contract/api.md 4.1.6). */
static void
user_image(struct app_req *req)
{
	struct user_svc *us = req->r_ctx;
	struct user_fields uf;
	struct user_call uc;
	struct db_val p[2];
	long long n;

	if (user_begin(req, &ep_image, &uc) == -1 ||
	    user_fields(req, uc.uc_in, IMAGE_FAIL, "i", &uf) == -1)
		goto done;
	if (uf.uf_image != NULL && !user_image_ok(uf.uf_image)) {
		app_fail(req, 400, IMAGE_FAIL "imageUrl must be "
		    IMAGE_PREFIX "<fileName>");
		goto done;
	}
	p[0] = user_param(uf.uf_image);
	p[1] = DB_STR(uc.uc_uid);
	if ((n = db_exec_idem(us->us_db, SQL_IMAGE, p, NITEMS(p), NULL, NULL))
	    == -1)
		user_db_fail(req, us, "profile image");
	else if (n == 0)
		app_fail(req, 417, IMAGE_FAIL NOTFOUND_FMT, uc.uc_uid);
	else
		app_ok(req, 200, json_pack("{s:s}", "message",
		    "Successfully updated profile image"));
done:
	user_call_release(&uc);
}

/* POST /user/password: through elp-auth's reset-password (4.1.7). */
static void
user_password(struct app_req *req)
{
	struct user_svc *us = req->r_ctx;
	struct user_call uc;
	const char *pw, *tok, *cur;
	char why[256];
	int rc;

	if (user_begin(req, &ep_password, &uc) == -1)
		goto done;
	pw = json_string_value(json_object_get(uc.uc_in, "password"));
	if (pwrule_check(pw) != PWRULE_OK) {
		app_fail(req, 417, PASSWORD_FAIL PW_TEXT);
		goto done;
	}
	why[0] = '\0';
	/* elp-auth tells a self change (current password, or a recent
	 * sign-in) from an ADMIN reset by the caller's token, and keeps the
	 * caller's session alive (4.1.7). */
	tok = app_param(req, "HTTP_AUTHORIZATION");
	if (tok != NULL && strncasecmp(tok, "Bearer ", 7) == 0)
		tok += 7;
	cur = json_string_value(json_object_get(uc.uc_in, "currentPassword"));
	rc = tok != NULL ? idpc_user_password_as(us->us_idp, uc.uc_uid, pw,
	    cur, tok, why, sizeof(why)) : idpc_user_password(us->us_idp,
	    uc.uc_uid, pw, why, sizeof(why));
	if (rc == 204) {
		log_info("password of account %s replaced by %s", uc.uc_uid,
		    uc.uc_id.ai_sub);
		app_ok(req, 200, json_pack("{s:s}", "message",
		    "Successfully updated password"));
	} else if (rc == 404)
		app_fail(req, 417, PASSWORD_FAIL IDP_404);
	else if (rc == 400 || rc == 403)
		app_fail(req, 417, PASSWORD_FAIL "%s", why);
	else if (rc == 429) {
		app_header(req, "Retry-After", "1");
		app_fail(req, 429, PASSWORD_FAIL "%s", why);
	} else
		user_idp_fail(req, PASSWORD_FAIL, rc);
done:
	user_call_release(&uc);
}

/* GET /health: UP when the database answers a ping, else 503. */
static void
user_health(struct app_req *req)
{
	struct user_svc *us = req->r_ctx;

	svc_health(req, us->us_db);
}

/*
 * GET /internal/media-refs?after=&limit=: one page of the stored files
 * profile pictures name, for the sweep of unreferenced files in
 * elp-content (shared/mrefs.h). On the gateway's admin listener only.
 */
static void
user_media_refs(struct app_req *req)
{
	struct user_svc *us = req->r_ctx;
	struct mrefs mr;

	if (mrefs_parse(req, &mr) == 0 &&
	    mrefs_answer(req, us->us_db, SQL_REFS, 1, &mr) == -1)
		user_db_fail(req, us, "media references");
}
