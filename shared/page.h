/*
 * page: the paging query parameters of list endpoints (docs/contract/api.md
 * 2.9): pageNumber (0-based) and limit, both optional, with the contract's 400
 * messages. Shared by elp-course and elp-messaging.
 */
#ifndef ELP_PAGE_H
#define ELP_PAGE_H

#include <stdint.h>

#include "app.h"

/* A page request; the caller presets the defaults. */
struct page {
	long long	 pg_page;	/* pageNumber, 0-based */
	long long	 pg_limit;	/* limit */
};

/*
 * Reads pageNumber and limit of <req> into <pg> (an absent or empty
 * parameter keeps the preset value) and checks them. Returns 0, or -1
 * after answering 400 "<fail><reason>": not an integer, a negative page
 * ("Page index must not be less than zero"), a limit below one ("Page
 * size must not be less than one") or above <max>.
 */
int	 page_parse(struct app_req *req, int64_t max, const char *fail,
	    struct page *pg);

/*
 * Sets <offset> to the first row of <pg>. Returns 0, or -1 when the
 * offset does not fit in a long long (the page is then empty).
 */
int	 page_offset(const struct page *pg, long long *offset);

#endif
