/*
 * test_linetable.c - line table decoding against hand-made tables and
 * against every CPython interpreter found on the machine.
 *
 * The hand-made cases pin down the corner cases of each encoding and the
 * behaviour on torn tables.  The per-interpreter tests run
 * gen_linetables.py, which prints the raw table of every code object of a
 * large part of the stdlib together with the interpreter's own line for
 * each code unit, and require the decoder to agree on all of them.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "psample/linetable.h"

/* First byte of a 3.11+ location entry. */
#define E(code, units) (0x80 | (code) << 3 | ((units)-1))

#define BUILD(l, kind, first, ...)                                           \
	do {                                                                 \
		static const uint8_t t_[] = {__VA_ARGS__};                   \
		assert_int_equal(                                            \
			py_lines__build(l, kind, t_, sizeof(t_), first), 0); \
	} while (0)

/* Expected lines as runs, like gen_linetables.py prints them. */
struct run {
	int32_t line;
	uint32_t count;
};

#define RUNS(...) ((const struct run[]){__VA_ARGS__, {0, 0}})

/* Checks every unit the runs cover, and the unit after them. */
static void lines__check(const struct py_lines *l, const struct run *r,
			 int32_t past_end)
{
	uint32_t unit = 0, k;

	for (; r->count; r++)
		for (k = 0; k < r->count; k++, unit++)
			assert_int_equal(py_lines__lookup(l, (int32_t)unit),
					 r->line);
	assert_int_equal(py_lines__lookup(l, (int32_t)unit), past_end);
	assert_int_equal(py_lines__lookup(l, -1), l->firstlineno);
	assert_int_equal(py_lines__lookup(l, -2), -1);
	assert_int_equal(py_lines__lookup(l, INT32_MIN), -1);
}

static void test_lnotab(void **state)
{
	struct py_lines l;

	(void)state;
	assert_int_equal(py_lines__build(&l, PY_LINETABLE_LNOTAB, NULL, 0, 5),
			 0);
	lines__check(&l, RUNS({5, 3}), 5);
	assert_int_equal(py_lines__lookup(&l, INT32_MAX), 5);
	py_lines__release(&l);

	/* Body of a one-line function: the line changes at address 0. */
	BUILD(&l, PY_LINETABLE_LNOTAB, 10, 0, 1);
	lines__check(&l, RUNS({11, 4}), 11);
	py_lines__release(&l);

	BUILD(&l, PY_LINETABLE_LNOTAB, 10, 4, 1, 4, 0xfe, 2, 3);
	lines__check(&l, RUNS({10, 2}, {11, 2}, {9, 1}, {12, 3}), 12);
	py_lines__release(&l);

	/* Address jump over 255 bytes, chained. */
	BUILD(&l, PY_LINETABLE_LNOTAB, 10, 255, 0, 45, 1);
	lines__check(&l, RUNS({10, 150}, {11, 2}), 11);
	py_lines__release(&l);

	/* Line jumps over 127, chained on one address, both directions. */
	BUILD(&l, PY_LINETABLE_LNOTAB, 10, 6, 127, 0, 127, 0, 46);
	lines__check(&l, RUNS({10, 3}, {310, 2}), 310);
	py_lines__release(&l);
	BUILD(&l, PY_LINETABLE_LNOTAB, 300, 2, 0x81, 0, 0x81, 4, 0xf6);
	lines__check(&l, RUNS({300, 1}, {46, 2}, {36, 2}), 36);
	py_lines__release(&l);

	/* Torn: the half pair is ignored. */
	BUILD(&l, PY_LINETABLE_LNOTAB, 10, 4, 1, 4);
	lines__check(&l, RUNS({10, 2}, {11, 2}), 11);
	py_lines__release(&l);
}

static void test_310(void **state)
{
	struct py_lines l;

	(void)state;
	assert_int_equal(py_lines__build(&l, PY_LINETABLE_310, NULL, 0, 10), 0);
	assert_int_equal(l.n, 0);
	lines__check(&l, RUNS({-1, 2}), -1);
	py_lines__release(&l);

	BUILD(&l, PY_LINETABLE_310, 10, 8, 1);
	lines__check(&l, RUNS({11, 4}), -1);
	py_lines__release(&l);

	/* -128: no line, and the running line is kept for what follows. */
	BUILD(&l, PY_LINETABLE_310, 10, 2, 1, 4, 0x80, 2, 1);
	lines__check(&l, RUNS({11, 1}, {-1, 2}, {12, 1}), -1);
	py_lines__release(&l);
	BUILD(&l, PY_LINETABLE_310, 10, 254, 0x80, 46, 0x80, 2, 1);
	lines__check(&l, RUNS({-1, 150}, {11, 1}), -1);
	py_lines__release(&l);

	/* Zero-length entries carry line deltas over 127. */
	BUILD(&l, PY_LINETABLE_310, 10, 0, 127, 0, 127, 4, 46);
	lines__check(&l, RUNS({310, 2}), -1);
	py_lines__release(&l);

	/* Ranges over 254 bytes are split with a zero line delta. */
	BUILD(&l, PY_LINETABLE_310, 10, 254, 1, 46, 0);
	lines__check(&l, RUNS({11, 150}), -1);
	assert_int_equal(l.n, 1);
	py_lines__release(&l);

	BUILD(&l, PY_LINETABLE_310, 10, 2, 5, 2, 0xfd);
	lines__check(&l, RUNS({15, 1}, {12, 1}), -1);
	py_lines__release(&l);

	/* Torn: CPython would read past the end here; we stop. */
	BUILD(&l, PY_LINETABLE_310, 10, 2, 1, 2);
	lines__check(&l, RUNS({11, 1}), -1);
	py_lines__release(&l);
}

static void test_locations(void **state)
{
	struct py_lines l;

	(void)state;
	assert_int_equal(
		py_lines__build(&l, PY_LINETABLE_LOCATIONS, NULL, 0, 10), 0);
	lines__check(&l, RUNS({-1, 2}), -1);
	py_lines__release(&l);

	/* One-line forms (+0, +1) and a short form. */
	BUILD(&l, PY_LINETABLE_LOCATIONS, 10, E(10, 1), 0, 0, E(11, 3), 4, 12,
	      E(0, 2), 0x13);
	lines__check(&l, RUNS({10, 1}, {11, 5}), -1);
	py_lines__release(&l);

	/* Code 15 has no line but leaves the running line alone. */
	BUILD(&l, PY_LINETABLE_LOCATIONS, 10, E(11, 2), 1, 2, E(15, 2),
	      E(10, 1), 1, 2, E(11, 1), 1, 2);
	lines__check(&l, RUNS({11, 2}, {-1, 2}, {11, 1}, {12, 1}), -1);
	py_lines__release(&l);

	/* No-column form: -5, then +100 as a two-byte varint. */
	BUILD(&l, PY_LINETABLE_LOCATIONS, 10, E(13, 1), 11, E(13, 2), 0x48,
	      0x03);
	lines__check(&l, RUNS({5, 1}, {105, 2}), -1);
	py_lines__release(&l);

	/* Long form: line, end line, columns (one of two bytes). */
	BUILD(&l, PY_LINETABLE_LOCATIONS, 10, E(14, 8), 4, 0, 6, 0x47, 0x01,
	      E(14, 1), 0x03, 2, 1, 1);
	lines__check(&l, RUNS({12, 8}, {11, 1}), -1);
	py_lines__release(&l);

	/* Torn inside a varint: the entry is dropped. */
	BUILD(&l, PY_LINETABLE_LOCATIONS, 10, E(11, 1), 1, 2, E(13, 1), 0x48);
	lines__check(&l, RUNS({11, 1}), -1);
	py_lines__release(&l);

	/* Not an entry start: nothing to decode. */
	BUILD(&l, PY_LINETABLE_LOCATIONS, 10, 0x05, E(11, 1), 1, 2);
	assert_int_equal(l.n, 0);
	lines__check(&l, RUNS({-1, 1}), -1);
	py_lines__release(&l);
}

static void test_bad_kind(void **state)
{
	struct py_lines l;

	(void)state;
	assert_int_equal(py_lines__build(&l, 0, NULL, 0, 1), -EINVAL);
	assert_int_equal(py_lines__build(&l, 4, NULL, 0, 1), -EINVAL);
}

/* A table of alternating lines longer than the range cap. */
static void test_cap(void **state)
{
	const uint32_t max = 1u << 20;
	const size_t pairs = max + 16;
	enum py_linetable_kind kinds[] = {PY_LINETABLE_LNOTAB,
					  PY_LINETABLE_310};
	struct py_lines l;
	uint8_t *t;
	size_t i, k;

	(void)state;
	t = malloc(2 * pairs);
	assert_non_null(t);
	for (i = 0; i < pairs; i++) {
		t[2 * i] = 2;
		t[2 * i + 1] = i % 2 ? 0xff : 1;
	}
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		assert_int_equal(py_lines__build(&l, kinds[k], t, 2 * pairs, 1),
				 0);
		assert_int_equal(l.n, max);
		assert_int_equal(l.end, max);
		assert_int_equal(py_lines__lookup(&l, 0),
				 kinds[k] == 1 ? 1 : 2);
		assert_int_equal(py_lines__lookup(&l, (int32_t)max - 1),
				 kinds[k] == 1 ? 2 : 1);
		assert_int_equal(py_lines__lookup(&l, (int32_t)max), -1);
		py_lines__release(&l);
	}
	free(t);
}

/* Garbage must neither crash (see the sanitizer build) nor loop. */
static void test_garbage(void **state)
{
	uint8_t t[512];
	struct py_lines l;
	uint32_t seed = 12345, u;
	int kind, iter;
	size_t i, len;

	(void)state;
	for (iter = 0; iter < 20000; iter++) {
		len = (size_t)(iter % (int)sizeof(t));
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			t[i] = (uint8_t)(seed >> 16);
		}
		for (kind = PY_LINETABLE_LNOTAB; kind <= PY_LINETABLE_LOCATIONS;
		     kind++) {
			assert_int_equal(py_lines__build(&l, kind, t, len, 7),
					 0);
			for (i = 1; i < l.n; i++)
				assert_true(l.v[i - 1].start < l.v[i].start);
			for (u = 0; u < 64; u++)
				(void)py_lines__lookup(&l, (int32_t)(u * 37));
			py_lines__release(&l);
		}
	}
}

/* One interpreter found by tests/pythons.py. */
struct interp {
	char *path;
	char *version;
	char *flags;
	char *name;
};

/* Mismatches reported before giving up on the details. */
#define MAX_REPORTED 10

struct gen_check {
	const struct interp *ip;
	uint8_t *buf;
	size_t cap;
	unsigned long codes, units, mismatches;
};

static int hex__nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes hex into c->buf; -EINVAL on anything but lowercase hex pairs. */
static int gen_check__hex(struct gen_check *c, const char *hex, size_t *len)
{
	size_t n = strlen(hex), i;
	int hi, lo;

	*len = 0;
	if (!strcmp(hex, "-"))
		return 0;
	if (n % 2)
		return -EINVAL;
	if (n / 2 > c->cap) {
		free(c->buf);
		c->cap = n / 2;
		c->buf = malloc(c->cap);
		if (!c->buf)
			return -ENOMEM;
	}
	for (i = 0; i < n / 2; i++) {
		hi = hex__nibble(hex[2 * i]);
		lo = hex__nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		c->buf[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

/* One "C <firstlineno> <hex> <runs>" record. */
static int gen_check__code(struct gen_check *c, enum py_linetable_kind kind,
			   char *rec)
{
	char *save, *first, *hex, *runs, *run, *end;
	struct py_lines l;
	long line, count, k;
	uint32_t unit = 0;
	int32_t got;
	size_t len;
	int err;

	first = strtok_r(rec, " \n", &save);
	hex = strtok_r(NULL, " \n", &save);
	runs = strtok_r(NULL, " \n", &save);
	if (!first || !hex || !runs)
		return -EINVAL;
	err = gen_check__hex(c, hex, &len);
	if (err)
		return err;
	err = py_lines__build(&l, kind, c->buf, len,
			      (int32_t)strtol(first, NULL, 10));
	if (err)
		return err;
	c->codes++;
	if (!strcmp(runs, "-"))
		goto out;
	for (run = strtok_r(runs, ",", &save); run;
	     run = strtok_r(NULL, ",", &save)) {
		line = strtol(run, &end, 10);
		if (*end != ':') {
			err = -EINVAL;
			goto out;
		}
		count = strtol(end + 1, NULL, 10);
		for (k = 0; k < count; k++, unit++) {
			got = py_lines__lookup(&l, (int32_t)unit);
			c->units++;
			if (got == line)
				continue;
			if (c->mismatches++ < MAX_REPORTED)
				printf("# mismatch: %s firstlineno %d unit %u: "
				       "got %d, expected %ld\n",
				       c->ip->path, l.firstlineno, unit, got,
				       line);
		}
	}
out:
	py_lines__release(&l);
	return err;
}

static enum py_linetable_kind kind__of_version(const char *version)
{
	int major = 0, minor = 0;

	if (sscanf(version, "%d.%d", &major, &minor) != 2 || major != 3)
		return 0;
	if (minor < 10)
		return PY_LINETABLE_LNOTAB;
	if (minor == 10)
		return PY_LINETABLE_310;
	return PY_LINETABLE_LOCATIONS;
}

static const char *srcdir(void)
{
	const char *s = getenv("PSAMPLE_SRCDIR");

	/* meson runs the test from tests/unit. */
	return s && *s ? s : "../..";
}

static void test_interp(void **state)
{
	const struct interp *ip = *state;
	struct gen_check c = {.ip = ip};
	enum py_linetable_kind kind = kind__of_version(ip->version), got;
	char cmd[3 * PATH_MAX], version[64];
	size_t cap = 0;
	char *line = NULL;
	int status, got_kind, header = 0, err = 0;
	FILE *f;

	assert_int_not_equal(kind, 0);
	/* Paths are quoted for the shell; a quote in one would break that. */
	assert_null(strchr(ip->path, '\''));
	assert_null(strchr(srcdir(), '\''));
	assert_true(snprintf(cmd, sizeof(cmd),
			     "'%s' '%s/tests/unit/gen_linetables.py'", ip->path,
			     srcdir()) < (int)sizeof(cmd));
	f = popen(cmd, "r");
	assert_non_null(f);
	while (!err && getline(&line, &cap, f) > 0) {
		if (line[0] == 'V') {
			assert_int_equal(
				sscanf(line, "V %63s %d", version, &got_kind),
				2);
			got = (enum py_linetable_kind)got_kind;
			assert_string_equal(version, ip->version);
			assert_int_equal(got, kind);
			header = 1;
		} else if (line[0] == 'C' && line[1] == ' ' && header) {
			err = gen_check__code(&c, kind, line + 2);
		} else {
			err = -EINVAL;
		}
	}
	free(line);
	free(c.buf);
	status = pclose(f);
	printf("# %s %s: %lu code objects, %lu code units, %lu mismatches\n",
	       ip->version, ip->path, c.codes, c.units, c.mismatches);
	assert_int_equal(err, 0);
	assert_int_equal(status, 0);
	assert_true(header);
	/* Guards against the generator silently skipping everything. */
	assert_true(c.codes > 1000);
	assert_int_equal(c.mismatches, 0);
}

static void test_no_interp(void **state)
{
	(void)state;
	fail_msg("tests/pythons.py found no interpreter");
}

/* Runs tests/pythons.py; returns the number of interpreters put in *out. */
static size_t interps__discover(struct interp **out)
{
	const char *py = access("/usr/bin/python3", X_OK) ? "python3"
							  : "/usr/bin/python3";
	struct interp *v = NULL, *nv;
	char cmd[PATH_MAX + 64];
	char *line = NULL, *save, *path, *ver, *flags;
	size_t n = 0, cap = 0;
	FILE *f;

	if (snprintf(cmd, sizeof(cmd), "%s '%s/tests/pythons.py'", py,
		     srcdir()) >= (int)sizeof(cmd))
		return 0;
	f = popen(cmd, "r");
	if (!f)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		path = strtok_r(line, "\t\n", &save);
		ver = strtok_r(NULL, "\t\n", &save);
		flags = strtok_r(NULL, "\t\n", &save);
		if (!path || !ver || !flags)
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n].path = strdup(path);
		v[n].version = strdup(ver);
		v[n].flags = strdup(flags);
		if (asprintf(&v[n].name, "interpreter %s %s %s", ver, flags,
			     path) < 0)
			v[n].name = NULL;
		if (!v[n].path || !v[n].version || !v[n].flags || !v[n].name) {
			free(v[n].path);
			free(v[n].version);
			free(v[n].flags);
			free(v[n].name);
			break;
		}
		n++;
	}
	free(line);
	pclose(f);
	*out = v;
	return n;
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_lnotab),
		cmocka_unit_test(test_310),
		cmocka_unit_test(test_locations),
		cmocka_unit_test(test_bad_kind),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_garbage),
	};
	const size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	struct interp *interps = NULL;
	struct CMUnitTest *tests;
	size_t n, ninterps, i;
	int ret;

	n = ninterps = interps__discover(&interps);
	tests = calloc(nfixed + n + 1, sizeof(*tests));
	if (!tests)
		return 1;
	memcpy(tests, fixed, sizeof(fixed));
	for (i = 0; i < n; i++) {
		tests[nfixed + i].name = interps[i].name;
		tests[nfixed + i].test_func = test_interp;
		tests[nfixed + i].initial_state = &interps[i];
	}
	if (!n)
		tests[nfixed + n++] =
			(struct CMUnitTest)cmocka_unit_test(test_no_interp);
	ret = _cmocka_run_group_tests("linetable", tests, nfixed + n, NULL,
				      NULL);
	for (i = 0; i < ninterps; i++) {
		free(interps[i].path);
		free(interps[i].version);
		free(interps[i].flags);
		free(interps[i].name);
	}
	free(interps);
	free(tests);
	return ret;
}
