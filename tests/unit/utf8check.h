/*
 * utf8check.h - an independent UTF-8 validator for the unit tests.
 *
 * Written apart from psample's own (output__utf8_len) so that a bug there
 * cannot hide itself: decode, then reject what decoding allowed
 * (overlong forms, surrogates, code points past U+10FFFF, truncation).
 */
#ifndef PSAMPLE_TEST_UTF8CHECK_H
#define PSAMPLE_TEST_UTF8CHECK_H

#include <stdbool.h>
#include <stddef.h>

bool utf8_valid(const char *s, size_t len);

#endif
