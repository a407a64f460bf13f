/*
 * route: prefix routing per listener.
 */
#include <string.h>

#include "proxy.h"

const struct route *
route_find(const struct gw_conf *gc, int lidx, struct str path)
{
	const struct route *rt, *best = NULL;
	size_t i;

	for (i = 0; i < gc->gc_nroutes; i++) {
		rt = &gc->gc_routes[i];
		if (rt->rt_lidx != lidx || path.len < rt->rt_prefix_len ||
		    memcmp(path.p, rt->rt_prefix, rt->rt_prefix_len) != 0)
			continue;
		/* "/course" matches "/course" and "/course/x", not
		 * "/courses"; the root prefix "/" matches everything. */
		if (path.len > rt->rt_prefix_len && rt->rt_prefix_len > 1 &&
		    path.p[rt->rt_prefix_len] != '/' &&
		    path.p[rt->rt_prefix_len] != '?')
			continue;
		if (best == NULL || rt->rt_prefix_len > best->rt_prefix_len)
			best = rt;
	}
	return best;
}
