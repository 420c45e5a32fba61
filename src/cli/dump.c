/*
 * dump.c - `psample dump`: every thread's Python stack, now, as text in
 * the shape of a Python traceback (innermost frame first) or as JSON,
 * with each thread's threading name, which thread holds the GIL and
 * whether the interpreter is collecting garbage, where the walker can
 * tell.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "psample/error.h"
#include "psample/proc.h"
#include "psample/walker.h"
#include "psample/target.h"
#include "psample/utf8.h"
#include "commands.h"
#include "fail.h"

/* A torn read makes one thread unreadable for one sample; try again. */
#define DUMP_TRIES 20

static void json__str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	fputc('"', f);
	while (*p) {
		size_t n = utf8__seq(p, false, NULL, NULL);
		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
		} else if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p++);
		} else if (*p < 0x20) {
			fprintf(f, "\\u%04x", *p++);
		} else {
			fwrite(p, 1, n, f);
			p += n;
		}
	}
	fputc('"', f);
}

static const char *tristate(int8_t v)
{
	return v < 0 ? "null" : v ? "true" : "false";
}

static const char *thread__state(pid_t pid, pid_t tid)
{
	if (!tid)
		return "unknown";
	int st = proc__thread_state(pid, tid);
	if (st < 0)
		return "gone";
	return st == 'R' ? "running" : "idle";
}

/* The process's own pid in its pid namespace, where that differs from
 * /proc's (a container seen from the host); else 0. */
static pid_t dump__nspid(pid_t pid)
{
	int levels;
	int ns = proc__nspid(pid, 0, &levels);

	return ns > 0 && levels > 1 ? ns : 0;
}

/* threading's name for the thread, else the one it gave the OS. */
static const char *thread__name(pid_t pid, const struct py_thread *th,
				char *buf, size_t n)
{
	if (th->name)
		return th->name;
	if (!th->tid || proc__thread_name(pid, th->tid, buf, n) || !buf[0])
		return NULL;
	return buf;
}

static void dump__text(const struct py_target *t, const struct py_sample *s,
		       const char *cmdline)
{
	char os_name[64];
	pid_t ns = dump__nspid(t->pid);

	printf("Process %d", (int)t->pid);
	if (ns)
		printf(" (ns %d)", (int)ns);
	printf(": %s\nPython %s (%s)\n", cmdline, t->version_str, t->binary);
	if (s->gc == 1)
		printf("Collecting garbage\n");
	for (uint32_t i = 0; i < s->nthreads; i++) {
		const struct py_thread *th = &s->threads[i];
		printf("\nThread %d", (int)th->tid);
		if (th->ns_tid)
			printf(" (ns %d)", (int)th->ns_tid);
		printf(" (%s)", thread__state(t->pid, th->tid));
		const char *name =
			thread__name(t->pid, th, os_name, sizeof(os_name));
		if (name)
			printf(" \"%s\"", name);
		if (th->interp_index)
			printf(" [interpreter %u]", th->interp_index);
		if (th->gil == 1)
			printf(" (holds the GIL)");
		printf("\n");
		if (th->err) {
			printf("  (stack unreadable: %s)\n",
			       ps_strerror(th->err));
			continue;
		}
		if (!th->depth)
			printf("  (no Python frames)\n");
		for (uint32_t k = 0; k < th->depth; k++) {
			const struct py_frame *fr = &th->frames[k];
			printf("  File \"%s\", line %d, in %s\n",
			       fr->code->filename, fr->line,
			       fr->code->qualname);
		}
		if (th->truncated)
			printf("  ... (deeper frames not shown)\n");
	}
}

static void dump__json(const struct py_target *t, const struct py_sample *s,
		       const char *cmdline)
{
	char os_name[64];
	pid_t ns = dump__nspid(t->pid);

	printf("{\"pid\": %d, ", (int)t->pid);
	if (ns)
		printf("\"ns_pid\": %d, ", (int)ns);
	printf("\"python\": ");
	json__str(stdout, t->version_str);
	printf(", \"binary\": ");
	json__str(stdout, t->binary);
	printf(", \"cmdline\": ");
	json__str(stdout, cmdline);
	printf(", \"gc\": %s, \"threads\": [", tristate(s->gc));
	for (uint32_t i = 0; i < s->nthreads; i++) {
		const struct py_thread *th = &s->threads[i];
		printf("%s\n  {\"tid\": %d, ", i ? "," : "", (int)th->tid);
		if (th->ns_tid)
			printf("\"ns_tid\": %d, ", (int)th->ns_tid);
		printf("\"thread_id\": %llu, "
		       "\"interpreter\": %u, \"state\": \"%s\", "
		       "\"truncated\": %s, ",
		       (unsigned long long)th->thread_id, th->interp_index,
		       thread__state(t->pid, th->tid),
		       th->truncated ? "true" : "false");
		const char *name =
			thread__name(t->pid, th, os_name, sizeof(os_name));
		printf("\"name\": ");
		if (name)
			json__str(stdout, name);
		else
			printf("null");
		printf(", \"gil\": %s, ", tristate(th->gil));
		if (th->err) {
			printf("\"error\": ");
			json__str(stdout, ps_strerror(th->err));
			printf(", ");
		}
		printf("\"frames\": [");
		for (uint32_t k = 0; !th->err && k < th->depth; k++) {
			const struct py_frame *fr = &th->frames[k];
			printf("%s\n    {\"function\": ", k ? "," : "");
			json__str(stdout, fr->code->name);
			printf(", \"qualname\": ");
			json__str(stdout, fr->code->qualname);
			printf(", \"file\": ");
			json__str(stdout, fr->code->filename);
			printf(", \"line\": %d, \"firstlineno\": %d}", fr->line,
			       fr->code->firstlineno);
		}
		printf("]}");
	}
	printf("\n]}\n");
}

int cli__dump(struct cli_opts *o)
{
	struct py_target *t;
	struct py_walker *w;
	const struct py_sample *s = NULL;
	char cmdline[1024] = "";
	int err;

	if ((err = py_target__open(o->pid, &t)))
		return cli__fail(err, o->pid, "dump");
	if ((err = py_walker__new(t, &w))) {
		py_target__free(t);
		return cli__fail(err, o->pid, "dump");
	}
	proc__cmdline(o->pid, cmdline, sizeof(cmdline));
	for (int i = 0; i < DUMP_TRIES; i++) {
		bool clean = true;
		err = py_walker__sample(w, &s);
		if (err == -ESRCH || err == -EPERM || err == -EACCES)
			break;
		for (uint32_t k = 0; !err && k < s->nthreads; k++)
			clean &= !s->threads[k].err;
		if (!err && clean)
			break;
		struct timespec ts = {.tv_nsec = 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	int rc = 0;
	if (err) {
		rc = cli__fail(err, o->pid, "dump");
	} else if (o->json) {
		dump__json(t, s, cmdline);
	} else {
		dump__text(t, s, cmdline);
	}
	py_walker__free(w);
	py_target__free(t);
	return rc;
}
