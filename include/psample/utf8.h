/*
 * utf8.h - the one UTF-8 decoder the writers share.
 *
 * Inline because the writers call it once per character of every label.
 */
#ifndef PSAMPLE_UTF8_H
#define PSAMPLE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Length (1-4) of the valid UTF-8 sequence at s, with its code point in
 * *cp; or 0 if it is not valid, with *bad the length of the maximal
 * invalid subpart to replace with one U+FFFD (Unicode's recommended
 * practice, which Python's "replace" also follows).  Overlong forms and
 * code points above U+10FFFF are never valid; surrogates only with
 * surrogates set (what marshal's surrogatepass accepts).  s must be
 * NUL-terminated: a NUL fails the continuation test, so a cut sequence
 * ends there.  cp and bad may be NULL.
 */
static inline size_t utf8__seq(const unsigned char *s, bool surrogates,
			       uint32_t *cp, size_t *bad)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	uint32_t v;
	size_t need;

	if (c < 0x80) {
		if (cp)
			*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed && !surrogates)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		if (bad)
			*bad = 1;
		return 0;
	}
	for (size_t i = 1; i < need; i++) {
		if (s[i] < lo || s[i] > hi) {
			if (bad)
				*bad = i;
			return 0;
		}
		v = v << 6 | (s[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	if (cp)
		*cp = v;
	return need;
}

#endif
