/*
 * guard.h: a readable region that ends where a PROT_NONE page starts, for
 * parser tests: input copied with at_guard() ends exactly at the guard
 * page, so a parser that reads one byte too far crashes. Define
 * GUARD_SIZE (the largest input) before including; use guard_setup and
 * guard_teardown as the cmocka group fixtures.
 */
#ifndef ELP_T_GUARD_H
#define ELP_T_GUARD_H

#include <sys/mman.h>

#include <string.h>
#include <unistd.h>

#ifndef GUARD_SIZE
#define GUARD_SIZE	(256 * 1024)
#endif

static char	*guard_map;
static char	*guard_end;
static size_t	 guard_maplen;

/* Copies <n> bytes of <s> (which may lie in the region already) so that
 * they end right before the guard page. */
static char *
at_guard(const char *s, size_t n)
{
	assert_true(n <= GUARD_SIZE);
	memmove(guard_end - n, s, n);
	return guard_end - n;
}

static int
guard_setup(void **state)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	(void)state;
	guard_maplen = GUARD_SIZE + pg;
	guard_map = mmap(NULL, guard_maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_map == MAP_FAILED)
		return -1;
	guard_end = guard_map + GUARD_SIZE;
	return mprotect(guard_end, pg, PROT_NONE);
}

static int
guard_teardown(void **state)
{
	(void)state;
	return munmap(guard_map, guard_maplen);
}

#endif
