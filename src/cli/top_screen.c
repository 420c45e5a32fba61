/*
 * top_screen.c - top's screen: the header, the table and the keys, drawn
 * with ncurses by the main thread from the snapshots the sampling thread
 * hands over.
 *
 * %Own and %Total are shares of the thread stacks sampled during the
 * last refresh window (one second), so they say what the program does
 * now; OwnTime and TotalTime add up since top started (samples times
 * the interval, like the end-of-run table of record).  `a` switches the
 * percentages to the whole run, which the final screen shows after the
 * target has exited.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

#include <curses.h>

#include "psample/error.h"
#include "psample/output.h"
#include "psample/sampler.h"
#include "sampling.h"
#include "signals.h"
#include "top.h"

#define NSEC 1000000000LL
/* Rows of the screen above the table and below it. */
#define HEAD_LINES 6
#define FOOT_LINES 1
/* Columns before the function name: "%6.1f  %6.1f  %8.2f  %9.2f  ". */
#define NUM_COLS 37

static const char *const sort_names[] = {"%Own", "%Total", "OwnTime",
					 "TotalTime"};

/*
 * Make s printable in place: control characters and (when the terminal
 * is not UTF-8) anything but ASCII become '?', as does invalid UTF-8.
 */
static void screen__clean(const struct top_screen *u, char *s)
{
	char *out = s;

	while (*s) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x80) {
			*out++ = c < 0x20 || c == 0x7f ? '?' : (char)c;
			s++;
			continue;
		}
		size_t n = output__utf8_len((const unsigned char *)s, false);
		if (!n) {
			*out++ = '?';
			s++;
		} else if (!u->utf8) {
			*out++ = '?';
			s += n;
		} else {
			memmove(out, s, n);
			out += n;
			s += n;
		}
	}
	*out = '\0';
}

/* Display columns of s (cleaned), and the byte length of its longest
 * prefix that fits in max columns, in *fit. */
static int screen__cols(const char *s, int max, size_t *fit)
{
	mbstate_t ms;
	int cols = 0;
	size_t i = 0, len = strlen(s);

	memset(&ms, 0, sizeof(ms));
	if (fit)
		*fit = len;
	while (i < len) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s + i, len - i, &ms);
		int w = 1;
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			n = 1;
			memset(&ms, 0, sizeof(ms));
		} else {
			w = wcwidth(wc);
			if (w < 0)
				w = 1;
		}
		if (fit && cols + w > max) {
			*fit = i;
			fit = NULL;
		}
		cols += w;
		i += n;
	}
	return cols;
}

/*
 * "qualname (file:line)" in at most width columns: the shortened path,
 * else the file's base name, else the qualname alone, cut on the left
 * (the innermost part of a qualname says the most).
 */
static void screen__fn_label(const struct top_screen *u,
			     const struct ps_frame *fn, int width, char *buf,
			     size_t n)
{
	char name[512], path[1024];

	snprintf(name, sizeof(name), "%s", fn->name ? fn->name : "?");
	screen__clean(u, name);
	if (fn->file) {
		if (u->tp->o->full_paths)
			snprintf(path, sizeof(path), "%s", fn->file);
		else
			output__short_path(fn->file, path, sizeof(path));
		screen__clean(u, path);
		snprintf(buf, n, "%s (%s:%d)", name, path, fn->firstlineno);
		if (screen__cols(buf, width, NULL) <= width)
			return;
		const char *base = strrchr(path, '/');
		base = base ? base + 1 : path;
		snprintf(buf, n, "%s (%s:%d)", name, base, fn->firstlineno);
		if (screen__cols(buf, width, NULL) <= width)
			return;
		/* The end of the file name, if enough of it fits to mean
		 * something ("<frozen importlib._bootstrap>"). */
		char tail[64];
		snprintf(tail, sizeof(tail), ":%d)", fn->firstlineno);
		int room = width - screen__cols(name, 0, NULL) - 4 -
			   (int)strlen(tail);
		if (room >= 8) {
			const char *p = base;
			while (*p && screen__cols(p, 0, NULL) > room) {
				p++;
				while (((unsigned char)*p & 0xc0) == 0x80)
					p++;
			}
			snprintf(buf, n, "%s (..%s%s", name, p, tail);
			return;
		}
	}
	int cols = screen__cols(name, 0, NULL);
	if (cols <= width || width < 4) {
		size_t fit;
		screen__cols(name, width, &fit);
		snprintf(buf, n, "%.*s", (int)fit, name);
		return;
	}
	/* Drop leading characters until the rest fits after "..". */
	const char *p = name;
	while (*p && screen__cols(p, 0, NULL) > width - 2) {
		p++;
		while (((unsigned char)*p & 0xc0) == 0x80)
			p++;
	}
	snprintf(buf, n, "..%s", p);
}

/* Put s at (y, x), cut to the screen's width. */
static void screen__put(int y, int x, const char *s)
{
	size_t fit;

	if (y < 0 || y >= LINES || x >= COLS)
		return;
	screen__cols(s, COLS - x, &fit);
	mvaddnstr(y, x, s, (int)fit);
}

static void screen__pct(char *buf, size_t n, uint64_t part, uint64_t whole)
{
	if (whole)
		snprintf(buf, n, "%.1f%%",
			 100.0 * (double)part / (double)whole);
	else
		snprintf(buf, n, "n/a");
}

static const char *screen__thread_label(const struct top_screen *u, char *buf,
					size_t n)
{
	const struct top_snap *s = u->shown;

	if (!u->have_filter)
		return "all";
	const char *name = "";
	for (uint32_t i = 0; s && i < s->nthr; i++)
		if (s->thr[i].tid == u->filter_tid)
			name = s->thr[i].name;
	if (name[0])
		snprintf(buf, n, "%llu (%s)", (unsigned long long)u->filter_tid,
			 name);
	else
		snprintf(buf, n, "%llu", (unsigned long long)u->filter_tid);
	return buf;
}

static void screen__exit_text(const struct top_snap *s, char *buf, size_t n)
{
	const struct sampler_stats *st = &s->st;

	if (st->child_reaped && WIFEXITED(st->child_status))
		snprintf(buf, n, "process exited with status %d",
			 WEXITSTATUS(st->child_status));
	else if (st->child_reaped && WIFSIGNALED(st->child_status))
		snprintf(buf, n, "process killed by signal %d",
			 WTERMSIG(st->child_status));
	else if (st->target_exited)
		snprintf(buf, n, "process exited");
	else if (s->err)
		snprintf(buf, n, "sampling stopped: %s", ps_strerror(s->err));
	else
		snprintf(buf, n, "sampling ended");
}

static void screen__header(struct top_screen *u)
{
	struct top *tp = u->tp;
	const struct top_snap *s = u->shown;
	char line[2048], a[32], b[32], thr[96];

	if (tp->t)
		snprintf(line, sizeof(line),
			 "psample top - pid %d, Python %s: %s", (int)tp->t->pid,
			 tp->t->version_str, tp->cmdline);
	else
		snprintf(line, sizeof(line),
			 "psample top --all - every Python process of the "
			 "host (%u now)",
			 u->shown ? u->shown->st.live_processes : 0);
	screen__clean(u, line);
	attron(A_BOLD);
	screen__put(0, 0, line);
	attroff(A_BOLD);
	if (!s) {
		screen__put(2, 0,
			    "Sampling... (the first figures come after a "
			    "second)");
		return;
	}
	const struct sampler_stats *st = &s->st, *pv = &s->prev;
	double win = (double)s->window_ns / 1e9;
	double rate = win > 0 ? (double)(st->ticks - pv->ticks) / win : 0;
	uint32_t live = st->live_threads;
	if (!live && !st->live_processes) {
		/* A sampler that does not count them: threads seen. */
		for (uint32_t i = 0; i < s->nthr; i++)
			live += s->thr[i].win ? 1 : 0;
	}
	/* Counted as record's summary line counts them. */
	unsigned long long errs = st->errors;
	unsigned long long late = st->late;
	errs += st->thread_errors + st->threads_gone;
	late += st->missed;
	snprintf(line, sizeof(line),
		 "Rate %.1f/%.0f Hz  Samples %llu  Errors %llu  Late %llu  "
		 "Threads %u  Processes %u",
		 rate, tp->o->rate_hz, (unsigned long long)st->samples, errs,
		 late, live, st->live_processes ? st->live_processes : 1);
	screen__put(1, 0, line);

	/* Over the window, unless the window has none (or --whole). */
	bool whole = u->whole_run || s->final;
	uint64_t gk = st->gil_known - (whole ? 0 : pv->gil_known);
	uint64_t gh = st->gil_held - (whole ? 0 : pv->gil_held);
	uint64_t sr = st->states_read - (whole ? 0 : pv->states_read);
	uint64_t rn = st->running - (whole ? 0 : pv->running);
	screen__pct(a, sizeof(a), gh, gk);
	screen__pct(b, sizeof(b), rn, sr);
	int64_t el = s->elapsed_ns / NSEC;
	snprintf(line, sizeof(line),
		 "GIL %s  CPU %s  Mode %s  Elapsed %lld:%02lld:%02lld  "
		 "Shares: %s",
		 a, b, cli__mode_name(tp->o->mode), (long long)(el / 3600),
		 (long long)(el / 60 % 60), (long long)(el % 60),
		 whole ? "whole run" : "last 1 s");
	screen__put(2, 0, line);

	snprintf(line, sizeof(line), "Thread: %s   Sort: %s",
		 screen__thread_label(u, thr, sizeof(thr)),
		 sort_names[u->sort]);
	screen__clean(u, line);
	screen__put(3, 0, line);
	if (s->final) {
		char ex[128];
		screen__exit_text(s, ex, sizeof(ex));
		snprintf(line, sizeof(line), "%s - q to quit", ex);
		attron(A_BOLD);
		screen__put(4, 0, line);
		attroff(A_BOLD);
	} else if (u->frozen) {
		attron(A_BOLD);
		screen__put(4, 0, "FROZEN - space or p to resume");
		attroff(A_BOLD);
	} else if (s->incomplete) {
		screen__put(4, 0, "out of memory: figures are incomplete");
	}
}

static void screen__rows(struct top_screen *u)
{
	bool whole = u->whole_run || (u->shown && u->shown->final);
	struct top_table *tb = &u->table;
	uint32_t n = top_table__build(tb, u->shown,
				      u->have_filter ? &u->filter_tid : NULL,
				      u->sort, whole);
	double dt = 1.0 / u->tp->o->rate_hz;
	uint64_t den = whole ? tb->cum : tb->win;
	char line[2048], label[1600];

	snprintf(line, sizeof(line), "%6s  %6s  %8s  %9s  %-*s", "%Own",
		 "%Total", "OwnTime", "TotalTime",
		 COLS > NUM_COLS ? COLS - NUM_COLS : 0, "Function (file:line)");
	attron(A_REVERSE);
	screen__put(HEAD_LINES - 1, 0, line);
	attroff(A_REVERSE);
	int rows = LINES - HEAD_LINES - FOOT_LINES;
	for (int i = 0; i < rows && (uint32_t)i < n; i++) {
		const struct top_view_fn *v = &tb->fns[tb->order[i]];
		uint64_t os = whole ? v->cum_self : v->win_self;
		uint64_t ot = whole ? v->cum_total : v->win_total;
		double a = top__share(os, den);
		double b = top__share(ot, den);
		double c = (double)v->cum_self * dt,
		       d = (double)v->cum_total * dt;
		int w = COLS - NUM_COLS;
		if (w < 1)
			w = 1;
		screen__fn_label(u, v->fn, w, label, sizeof(label));
		snprintf(line, sizeof(line), "%6.1f  %6.1f  %8.*f  %9.*f  %s",
			 a, b, c < 1e5 ? 2 : 0, c, d < 1e5 ? 2 : 0, d, label);
		screen__put(HEAD_LINES + i, 0, line);
	}
}

static void screen__help(void)
{
	static const char *const lines[] = {
		"psample top keys",
		"",
		"  1  sort by %Own     (share of samples, function innermost)",
		"  2  sort by %Total   (share with the function on the stack)",
		"  3  sort by OwnTime  (seconds innermost, since the start)",
		"  4  sort by TotalTime",
		"  f  next thread (F: previous); all threads after the last",
		"  a  shares over the last second / over the whole run",
		"  p  or space: freeze the display (sampling goes on)",
		"  q  or Ctrl-C: quit",
		"  h  or ?: this help; any key closes it",
	};
	int n = (int)(sizeof(lines) / sizeof(lines[0]));

	for (int i = 0; i < n && HEAD_LINES + i < LINES - FOOT_LINES; i++) {
		move(HEAD_LINES + i, 0);
		clrtoeol();
		screen__put(HEAD_LINES + i, 0, lines[i]);
	}
}

static void screen__draw(struct top_screen *u)
{
	erase();
	screen__header(u);
	screen__rows(u);
	if (u->help)
		screen__help();
	attron(A_REVERSE);
	char foot[256];
	snprintf(foot, sizeof(foot), "%-*s", COLS > 0 ? COLS : 1,
		 "1 %Own 2 %Total 3 OwnTime 4 TotalTime  f thread  "
		 "p freeze  h help  q quit");
	screen__put(LINES - 1, 0, foot);
	attroff(A_REVERSE);
	refresh();
}

/* Cycle the filter through the threads seen, in tid order, then all. */
static void screen__next_thread(struct top_screen *u, bool back)
{
	const struct top_snap *s = u->shown;
	bool found = false;
	uint64_t best = 0;

	for (uint32_t i = 0; s && i < s->nthr; i++) {
		uint64_t tid = s->thr[i].tid;
		bool after = !u->have_filter ||
			     (back ? tid < u->filter_tid : tid > u->filter_tid);
		if (!u->have_filter && back)
			after = true;
		if (!after)
			continue;
		if (!found || (back ? tid > best : tid < best)) {
			best = tid;
			found = true;
		}
	}
	u->have_filter = found;
	u->filter_tid = found ? best : 0;
}

/* Take the newest snapshot, if there is one.  Whether it is new. */
static bool screen__receive(struct top_screen *u)
{
	struct top *tp = u->tp;
	char buf[64];

	while (read(tp->wake[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&tp->lock);
	struct top_snap *s = tp->pending;
	tp->pending = NULL;
	pthread_mutex_unlock(&tp->lock);
	if (!s)
		return false;
	if (s->final && s->st.child_reaped) {
		tp->child_reaped = true;
		tp->child_status = s->st.child_status;
	}
	if (u->shown != u->latest)
		top_snap__free(u->latest);
	u->latest = s;
	if (!u->frozen || s->final) {
		if (u->shown != s)
			top_snap__free(u->shown);
		u->shown = s;
		if (s->final)
			u->frozen = false;
	}
	return true;
}

/*
 * The command exited but the sampler saw it go before it could be
 * reaped (its memory vanishes a moment before it becomes a zombie):
 * reap it here, so the final screen says how it ended.  Whether the
 * screen changed.
 */
static bool screen__reap(struct top_screen *u)
{
	struct top *tp = u->tp;
	struct top_snap *s = u->shown;
	int status;

	if (!s || !s->final || tp->child <= 0 || tp->child_reaped ||
	    !s->st.target_exited ||
	    waitpid(tp->child, &status, WNOHANG) != tp->child)
		return false;
	tp->child_reaped = true;
	tp->child_status = status;
	s->st.child_reaped = true;
	s->st.child_status = status;
	return true;
}

/* React to a key; false to quit. */
static bool screen__key(struct top_screen *u, int ch)
{
	if (u->help && ch != KEY_RESIZE) {
		u->help = false;
		return ch != 'q' && ch != 'Q';
	}
	switch (ch) {
	case 'q':
	case 'Q': return false;
	case '1':
	case '2':
	case '3':
	case '4': u->sort = (enum top_sort)(ch - '1'); break;
	case 'f': screen__next_thread(u, false); break;
	case 'F': screen__next_thread(u, true); break;
	case 'a': u->whole_run = !u->whole_run; break;
	case ' ':
	case 'p':
	case 'P':
		if (u->shown && u->shown->final)
			break;
		u->frozen = !u->frozen;
		if (!u->frozen && u->latest != u->shown) {
			top_snap__free(u->shown);
			u->shown = u->latest;
		}
		break;
	case 'h':
	case '?': u->help = true; break;
	default: break;
	}
	return true;
}

/*
 * The screen's life: draw, then wait for keys, snapshots and signals
 * until the user quits.  Returns when the screen should end.
 */
void top_screen__run(struct top_screen *u)
{
	struct top *tp = u->tp;
	bool redraw = true;

	for (;;) {
		if (cli_stop)
			return;
		if (redraw) {
			screen__draw(u);
			redraw = false;
		}
		struct pollfd p[2] = {{.fd = fileno(u->in), .events = POLLIN},
				      {.fd = tp->wake[0], .events = POLLIN}};
		/* A bounded wait, in case a signal went to the other
		 * thread; keys and snapshots wake us at once. */
		poll(p, 2, 250);
		/* The terminal is gone: nobody is left to press q. */
		if (cli_stop || (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)))
			return;
		if (screen__receive(u))
			redraw = true;
		if (screen__reap(u))
			redraw = true;
		if (u->shown && u->shown->final && u->shown->err &&
		    !u->shown->st.ticks)
			return; /* refused at start: say why, after endwin */
		int ch;
		while ((ch = getch()) != ERR) {
			if (!screen__key(u, ch))
				return;
			redraw = true;
		}
	}
}

/* The terminal, while top has it. */
static SCREEN *screen;
static bool screen_taken;

void top_screen__end(void)
{
	if (screen_taken) {
		screen_taken = false;
		endwin();
	}
}

int top_screen__start(struct top_screen *u)
{
	/* Keys come from the terminal even when stdin is redirected: a
	 * file or /dev/null would read as end of file at every poll. */
	u->in = stdin;
	if (!isatty(STDIN_FILENO)) {
		u->in = fopen("/dev/tty", "re");
		if (!u->in) {
			fprintf(stderr,
				"psample: top needs a terminal to "
				"read keys from: /dev/tty: %s\n",
				strerror(errno));
			return PS_EXIT_USAGE;
		}
	}
	u->utf8 = MB_CUR_MAX > 1;
	screen = newterm(NULL, stdout, u->in);
	if (!screen) {
		const char *term = getenv("TERM");
		fprintf(stderr,
			"psample: top cannot use the terminal (TERM=%s): "
			"no terminfo entry for it\n",
			term ? term : "");
		return PS_EXIT_USAGE;
	}
	screen_taken = true;
	atexit(top_screen__end);
	cbreak();
	noecho();
	nodelay(stdscr, TRUE);
	keypad(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	return 0;
}

void top_screen__free(struct top_screen *u)
{
	if (screen)
		delscreen(screen);
	screen = NULL;
	if (u->shown != u->latest)
		top_snap__free(u->shown);
	top_snap__free(u->latest);
	u->shown = u->latest = NULL;
	top_table__free(&u->table);
	if (u->in && u->in != stdin)
		fclose(u->in);
	u->in = NULL;
}
