/* error.c - descriptions of psample's own error codes. */
#include <string.h>

#include "psample/error.h"

const char *ps_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case PS_ENOTPYTHON: return "not a Python process";
	case PS_EUNSUPPORTED: return "unsupported Python version";
	case PS_EBADLAYOUT: return "interpreter layout did not validate";
	case PS_ENOTREADY: return "interpreter not initialised";
	case PS_ECORRUPT: return "inconsistent data read from the target";
	case PS_ETOODEEP: return "walk bound exceeded";
	case PS_EBADFORMAT: return "unknown output format";
	case PS_EBADPROFILE: return "not a valid psample profile";
	case PS_ENOGIL: return "free-threaded, its GIL off";
	case PS_ENOBPF: return "eBPF backend unavailable";
	case PS_EBPFPERM: return "not allowed to use eBPF";
	case PS_EVERIFIER: return "BPF program rejected by the verifier";
	default: return strerror(err);
	}
}
