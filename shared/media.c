/*
 * media: names and types of stored media files.
 */
#include <string.h>

#include "media.h"
#include "util.h"

const struct media_type media_types[] = {
	{ "image/jpeg", "jpg" },
	{ "image/png", "png" },
	{ "image/gif", "gif" },
	{ "image/webp", "webp" },
	{ "video/mp4", "mp4" },
	{ "video/webm", "webm" },
	{ "video/ogg", "ogg" },
};
const size_t media_ntypes = NITEMS(media_types);

int
media_name_ok(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i == MEDIA_NAME_MAX)
			return 0;
		if ((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9'))
			continue;
		if (i == 0 || (s[i] != '.' && s[i] != '_' && s[i] != '-'))
			return 0;
	}
	return i > 0 && strstr(s, "..") == NULL;
}

const struct media_type *
media_type_find(const char *mime)
{
	size_t i;

	for (i = 0; i < media_ntypes; i++)
		if (strcmp(media_types[i].mt_mime, mime) == 0)
			return &media_types[i];
	return NULL;
}
