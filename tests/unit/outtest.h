/*
 * outtest.h - what the output layer's unit tests (test_output.c,
 * test_outfile.c) share: reading and writing files, scratch folders,
 * checking folded text, and tries to write.
 */
#ifndef PSAMPLE_TESTS_OUTTEST_H
#define PSAMPLE_TESTS_OUTTEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "psample/output.h"
#include "psample/trie.h"

char *read_stream(FILE *f, size_t *len);
char *read_path(const char *path);
void write_path(const char *path, const char *s);
int count_entries(const char *dir);
void remove_tree(const char *dir);
char *make_tmpdir(void);
void assert_folded_lines(const char *text);
uint32_t frame_py(struct trie *t, const char *name, const char *file, int line);
uint32_t frame_root(struct trie *t, uint32_t kind, uint64_t num,
		    const char *name);
char *folded_text(const struct trie *t, const struct output_opts *o);
struct trie *sample_trie(void);

#endif
