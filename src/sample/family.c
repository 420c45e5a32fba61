/*
 * family.c - the processes a run samples.  Being written.
 */
