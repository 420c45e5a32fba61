/*
 * main.c - the psample command: its options, parsed once, and the
 * subcommand they go to (commands.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psample/error.h"
#include "psample/output.h"
#include "psample/sampler.h"
#include "backend.h"
#include "commands.h"
#include "opts.h"

#define PSAMPLE_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: psample record [options] -- COMMAND [ARG...]\n"
		"       psample record --all [options]   (every Python "
		"process; --backend ebpf)\n"
		"       psample attach --pid PID [options]\n"
		"       psample dump --pid PID [--json]\n"
		"       psample top --pid PID | top [options] -- COMMAND "
		"[ARG...] | top --all\n"
		"       psample convert IN.psample... -f FORMAT[,FORMAT] "
		"[-o OUT] [options]\n"
		"       psample diff BASE.psample NEW.psample [-o diff.svg] "
		"[-f svg|folded]\n"
		"\n"
		"record/attach options:\n"
		"  -r, --rate HZ        samples per second (default 100)\n"
		"  -d, --duration SECS  stop after this long (default: until "
		"Ctrl-C or exit)\n"
		"  -o, --output PATH    the profile's file (with several "
		"formats: their common stem)\n"
		"  -f, --format LIST    output formats, comma-separated "
		"(default svg): %s\n"
		"      --threads        a root frame per thread\n"
		"      --function       aggregate by function, not by line\n"
		"      --full-paths     do not shorten file paths\n"
		"  -q, --quiet          no summary or table on stderr\n"
		"      --mode MODE      wall (default: every thread), cpu "
		"(threads on a CPU),\n"
		"                       gil (the GIL holder), memory (RSS "
		"growth per stack)\n"
		"      --idle           keep idle threads in cpu mode; mark "
		"idle samples <idle>\n"
		"      --no-gc          no <GC> frame while Python collects "
		"garbage\n"
		"      --subprocesses   sample Python child processes too\n"
		"      --blocking       stop Python threads while reading "
		"them (ptrace)\n"
		"      --poisson        random (exponential) intervals with "
		"the rate as mean\n"
		"      --backend NAME   ptrace (default) or ebpf (in the "
		"kernel; on-CPU only,\n"
		"                       implies --mode cpu)\n"
		"dump options:\n"
		"  -p, --pid PID        the process\n"
		"      --json           JSON instead of text\n"
		"      --full-paths     (accepted for symmetry)\n"
		"\n"
		"  -h, --help, -V, --version\n",
		output__names());
}

static int parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0))
		return -1;
	*out = v;
	return 0;
}

enum {
	OPT_THREADS = 256,
	OPT_FUNCTION,
	OPT_FULL_PATHS,
	OPT_JSON,
	OPT_MODE,
	OPT_IDLE,
	OPT_NO_GC,
	OPT_BLOCKING,
	OPT_POISSON,
	OPT_SUBPROCESSES,
	OPT_BACKEND,
	OPT_ALL,
};

static const struct option long_opts[] = {
	{"pid", required_argument, NULL, 'p'},
	{"rate", required_argument, NULL, 'r'},
	{"duration", required_argument, NULL, 'd'},
	{"output", required_argument, NULL, 'o'},
	{"format", required_argument, NULL, 'f'},
	{"threads", no_argument, NULL, OPT_THREADS},
	{"function", no_argument, NULL, OPT_FUNCTION},
	{"full-paths", no_argument, NULL, OPT_FULL_PATHS},
	{"json", no_argument, NULL, OPT_JSON},
	{"mode", required_argument, NULL, OPT_MODE},
	{"idle", no_argument, NULL, OPT_IDLE},
	{"no-gc", no_argument, NULL, OPT_NO_GC},
	{"blocking", no_argument, NULL, OPT_BLOCKING},
	{"poisson", no_argument, NULL, OPT_POISSON},
	{"subprocesses", no_argument, NULL, OPT_SUBPROCESSES},
	{"backend", required_argument, NULL, OPT_BACKEND},
	{"all", no_argument, NULL, OPT_ALL},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int parse(int argc, char **argv, struct cli_opts *o)
{
	int c;

	/* record: '+' stops at the first non-option, so the command keeps
	 * its own options.  convert and diff take options anywhere. */
	const char *optstring =
		strcmp(argv[0], "convert") != 0 && strcmp(argv[0], "diff") != 0
			? "+p:r:d:o:f:qh"
			: "p:r:d:o:f:qh";
	while ((c = getopt_long(argc, argv, optstring, long_opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'p': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v <= 0 || v > 0x3fffffff) {
				fprintf(stderr, "psample: bad pid: %s\n",
					optarg);
				return -1;
			}
			o->pid = (pid_t)v;
			break;
		}
		case 'r':
			if (parse_double(optarg, &o->rate_hz) ||
			    o->rate_hz > 1e6) {
				fprintf(stderr, "psample: bad rate: %s\n",
					optarg);
				return -1;
			}
			break;
		case 'd':
			if (parse_double(optarg, &o->duration_s)) {
				fprintf(stderr, "psample: bad duration: %s\n",
					optarg);
				return -1;
			}
			break;
		case 'o': o->output = optarg; break;
		case 'f': o->format = optarg; break;
		case 'q': o->quiet = true; break;
		case OPT_THREADS: o->threads = true; break;
		case OPT_FUNCTION: o->function = true; break;
		case OPT_FULL_PATHS: o->full_paths = true; break;
		case OPT_JSON: o->json = true; break;
		case OPT_MODE:
			o->mode_set = true;
			if (!strcmp(optarg, "wall")) {
				o->mode = SAMPLER_WALL;
			} else if (!strcmp(optarg, "cpu")) {
				o->mode = SAMPLER_CPU;
			} else if (!strcmp(optarg, "gil")) {
				o->mode = SAMPLER_GIL;
			} else if (!strcmp(optarg, "memory")) {
				o->mode = SAMPLER_MEMORY;
			} else {
				fprintf(stderr,
					"psample: bad mode: %s (wall, cpu, "
					"gil or memory)\n",
					optarg);
				return -1;
			}
			break;
		case OPT_IDLE: o->idle = true; break;
		case OPT_NO_GC: o->no_gc = true; break;
		case OPT_BLOCKING: o->blocking = true; break;
		case OPT_POISSON: o->poisson = true; break;
		case OPT_SUBPROCESSES: o->subprocesses = true; break;
		case OPT_BACKEND:
			if (cli__backend_parse(optarg, o))
				return -1;
			break;
		case OPT_ALL: o->all = true; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	o->argv = argv + optind;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli_opts o = {.rate_hz = 100};

	if (argc < 2) {
		usage(stderr);
		return PS_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("psample " PSAMPLE_VERSION "\n");
		return 0;
	}
	optind = 1;
	if (parse(argc - 1, argv + 1, &o)) {
		usage(stderr);
		return PS_EXIT_USAGE;
	}
	int rc = cli__backend_check(&o, cmd);
	if (rc)
		return rc;
	if (!strcmp(cmd, "convert"))
		return cli__convert(&o);
	if (!strcmp(cmd, "diff"))
		return cli__diff(&o);
	if (!strcmp(cmd, "top") && (o.argv[0] || !o.pid))
		return cli__top(&o);
	if (!strcmp(cmd, "record")) {
		if (o.all && o.argv[0]) {
			fprintf(stderr, "psample: record --all takes no "
					"command\n");
			return PS_EXIT_USAGE;
		}
		if (!o.argv[0] && !o.all) {
			fprintf(stderr, "psample: record needs a command: "
					"psample record -- python3 app.py\n");
			return PS_EXIT_USAGE;
		}
		return cli__record(&o);
	}
	if (o.argv[0]) {
		fprintf(stderr, "psample: unexpected argument: %s\n",
			o.argv[0]);
		return PS_EXIT_USAGE;
	}
	if (!strcmp(cmd, "top"))
		return cli__top(&o);
	if (!strcmp(cmd, "attach") || !strcmp(cmd, "dump")) {
		if (!o.pid) {
			fprintf(stderr, "psample: %s needs --pid PID\n", cmd);
			return PS_EXIT_USAGE;
		}
		return cmd[0] == 'a' ? cli__attach(&o) : cli__dump(&o);
	}
	fprintf(stderr, "psample: unknown command: %s\n", cmd);
	usage(stderr);
	return PS_EXIT_USAGE;
}
