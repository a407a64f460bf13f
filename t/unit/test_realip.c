/*
 * Unit tests for proxy/realip.c: networks of <real-ip from> (IPv4, IPv6,
 * prefix lengths, host bits refused, unix:), lists with their bound, and
 * the X-Forwarded-For walk: an untrusted peer is the client, a trusted one
 * hands over to the rightmost untrusted address, all-trusted chains end
 * at the leftmost, a malformed entry voids the header. Every input is
 * also fed cut at every length, ending on a guard page.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define GUARD_SIZE	4096
#include "guard.h"
#include "proxy.h"

static struct realip_net	nets[8];
static size_t			nnets;

static void
load(const char *text)
{
	struct str bad;
	ssize_t n;

	n = realip_parse_list(text, nets, sizeof(nets) / sizeof(nets[0]),
	    &bad);
	assert_true(n >= 0);
	nnets = (size_t)n;
}

static int
net_ok(const char *s)
{
	struct realip_net n;

	return realip_parse_net(s, strlen(s), &n) == 0;
}

static int
trusted(const char *addr)
{
	return realip_trusted(nets, nnets, str_make(addr, strlen(addr)));
}

/* The client for <peer> and <xff>, as a string in a static buffer. */
static const char *
client(const char *peer, const char *xff)
{
	static char out[128];
	struct str c;

	c = realip_client(nets, nnets, str_make(peer, strlen(peer)),
	    str_make(xff, strlen(xff)));
	snprintf(out, sizeof(out), "%.*s", (int)c.len, c.p);
	return out;
}

static void
test_parse_net(void **state)
{
	(void)state;
	assert_true(net_ok("127.0.0.1"));
	assert_true(net_ok("10.0.0.0/8"));
	assert_true(net_ok("0.0.0.0/0"));
	assert_true(net_ok("192.168.1.0/24"));
	assert_true(net_ok("::1"));
	assert_true(net_ok("2001:db8::/32"));
	assert_true(net_ok("::/0"));
	assert_true(net_ok("unix:"));
	assert_false(net_ok(""));
	assert_false(net_ok("10.0.0.1/8"));	/* host bits */
	assert_false(net_ok("2001:db8::1/32"));
	assert_false(net_ok("10.0.0.0/33"));
	assert_false(net_ok("::/129"));
	assert_false(net_ok("10.0.0.0/"));
	assert_false(net_ok("10.0.0.0/8x"));
	assert_false(net_ok("10.0.0.0/-1"));
	assert_false(net_ok("10.0.0"));
	assert_false(net_ok("localhost"));
	assert_false(net_ok("unix:/x"));
	assert_false(net_ok("1.2.3.4:80"));
}

static void
test_parse_list(void **state)
{
	struct realip_net many[2];
	struct str bad;

	(void)state;
	assert_int_equal(realip_parse_list(" 127.0.0.1,\t::1\n10.0.0.0/8 ,",
	    nets, 8, &bad), 3);
	assert_int_equal(realip_parse_list("", nets, 8, &bad), 0);
	assert_int_equal(realip_parse_list("1.2.3.4 nope 5.6.7.8", nets, 8,
	    &bad), -1);
	assert_int_equal(bad.len, 4);
	assert_memory_equal(bad.p, "nope", 4);
	assert_int_equal(realip_parse_list("1.1.1.1 2.2.2.2 3.3.3.3", many, 2,
	    &bad), -1);
	assert_memory_equal(bad.p, "3.3.3.3", 7);
}

static void
test_trusted(void **state)
{
	(void)state;
	load("127.0.0.1 10.0.0.0/8 172.16.0.0/12 2001:db8::/32 unix:");
	assert_true(trusted("127.0.0.1"));
	assert_false(trusted("127.0.0.2"));
	assert_true(trusted("10.255.1.2"));
	assert_false(trusted("11.0.0.1"));
	assert_true(trusted("172.31.255.255"));
	assert_false(trusted("172.32.0.0"));
	assert_true(trusted("2001:db8:ffff::1"));
	assert_false(trusted("2001:db9::1"));
	assert_true(trusted("unix"));
	assert_false(trusted("::ffff:127.0.0.1"));	/* another family */
	assert_false(trusted(""));
	assert_false(trusted("garbage"));
	load("10.0.0.0/9");
	assert_true(trusted("10.127.0.1"));
	assert_false(trusted("10.128.0.1"));
	assert_false(trusted("unix"));
}

static void
test_client(void **state)
{
	(void)state;
	load("127.0.0.1 10.0.0.0/8");
	/* Untrusted peer: itself, whatever it says. */
	assert_string_equal(client("127.0.0.2", "203.0.113.7"), "127.0.0.2");
	/* Trusted peer, no header: itself. */
	assert_string_equal(client("127.0.0.1", ""), "127.0.0.1");
	assert_string_equal(client("127.0.0.1", " , "), "127.0.0.1");
	assert_string_equal(client("127.0.0.1", "203.0.113.7"),
	    "203.0.113.7");
	/* The rightmost untrusted one, not a forged one to its left. */
	assert_string_equal(client("127.0.0.1",
	    "6.6.6.6, 203.0.113.7, 10.1.1.1"), "203.0.113.7");
	assert_string_equal(client("127.0.0.1",
	    "6.6.6.6,203.0.113.7,10.1.1.1,,10.2.2.2"), "203.0.113.7");
	/* All trusted: the leftmost. */
	assert_string_equal(client("127.0.0.1", "10.3.3.3, 10.1.1.1"),
	    "10.3.3.3");
	/* IPv6 entries. */
	assert_string_equal(client("127.0.0.1", "2001:db8::5 , 10.0.0.1"),
	    "2001:db8::5");
	/* Malformed on the way: the peer; past the client: ignored. */
	assert_string_equal(client("127.0.0.1", "203.0.113.7, x, 10.1.1.1"),
	    "127.0.0.1");
	assert_string_equal(client("127.0.0.1", "1.2.3.4:80"), "127.0.0.1");
	assert_string_equal(client("127.0.0.1", "junk, 203.0.113.7"),
	    "203.0.113.7");
}

/* Every prefix of a header, on a guard page: no read past its end, and
 * the result always one of its entries or the peer. */
static void
test_cuts(void **state)
{
	static const char xff[] = "198.51.100.1, 2001:db8::77,10.9.9.9 ,, 1";
	struct str c;
	size_t len;
	char *p;

	(void)state;
	load("127.0.0.1 10.0.0.0/8");
	for (len = 0; len <= sizeof(xff) - 1; len++) {
		p = at_guard(xff, len);
		c = realip_client(nets, nnets, STR_LIT("127.0.0.1"),
		    str_make(p, len));
		assert_true(c.len > 0);
		assert_true((c.p >= p && c.p + c.len <= p + len) ||
		    (c.len == 9 && memcmp(c.p, "127.0.0.1", 9) == 0));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_net),
		cmocka_unit_test(test_parse_list),
		cmocka_unit_test(test_trusted),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_cuts),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
