/*
 * media: names and types of stored media files (docs/contract/api.md 4.5,
 * docs/contract/data-model.md 4), shared by the content service, which stores
 * and serves them, and the course service, which knows which of them are
 * lecture media.
 */
#ifndef ELP_MEDIA_H
#define ELP_MEDIA_H

#include <stddef.h>

/* What records store and the API returns: MEDIA_URL_PREFIX "<name>". */
#define MEDIA_URL_PREFIX	"file-system-storage/"
#define MEDIA_NAME_MAX		128	/* bytes of a name */

/*
 * Whether <s> is an acceptable stored-file name: 1 to MEDIA_NAME_MAX
 * bytes of [A-Za-z0-9._-], starting with a letter or digit, without "..".
 * A single path segment by construction.
 */
int		 media_name_ok(const char *s);

/* A type the content service can store. */
struct media_type {
	const char	*mt_mime;	/* as libmagic reports it */
	const char	*mt_ext;	/* canonical extension, no dot */
};

/* The known types (docs/contract/api.md 4.5.2), <n> of them. */
extern const struct media_type	media_types[];
extern const size_t		media_ntypes;

/* The known type <mime> (exact, lowercase), or NULL. */
const struct media_type	*media_type_find(const char *mime);

#endif
