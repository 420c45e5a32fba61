/* mem.c - stub, being written */
typedef int ps_stub_unused;
