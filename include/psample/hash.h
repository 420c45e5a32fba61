/*
 * hash.h - the hash functions psample's open-addressing tables share.
 */
#ifndef PSAMPLE_HASH_H
#define PSAMPLE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* murmur3's 64-bit finaliser: every input bit affects every output bit. */
static inline uint64_t hash__mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

/* The smallest power of two >= n, and 1 for 0: a table's capacity
 * (n <= 2^31). */
static inline uint32_t hash__pow2(uint32_t n)
{
	if (n <= 1)
		return 1;
	n--;
	n |= n >> 1;
	n |= n >> 2;
	n |= n >> 4;
	n |= n >> 8;
	n |= n >> 16;
	return n + 1;
}

#define HASH_FNV_OFFSET UINT64_C(0xcbf29ce484222325)

/* FNV-1a of n bytes, continuing from h (HASH_FNV_OFFSET to start). */
static inline uint64_t hash__fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * UINT64_C(0x100000001b3);
	return h;
}

#endif
