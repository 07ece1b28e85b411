/* Seccomp policies: the parser (the language is described in
 * policy/README.md; the compiler is seccomp_compile.c).
 *
 * The parser takes a file line by line and checks each rule completely
 * (syscall resolved, every constant known, each argument at most once per
 * && chain) before it joins the model. The model has one entry per syscall,
 * sorted by number: "fails with errno E", "allowed", or "allowed when one of
 * these chains holds". Rules for one syscall from several lines or files
 * merge there, into what libseccomp 2.5 handles right: one action per
 * syscall (it lets an unconditional rule silently swallow another), no chain
 * another one covers (it leaks what it prunes), and !=, <, <=, >, >= only in
 * a syscall's single chain (it merges those wrongly). */
#include "seccomp_policy_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Every comparison of a is in b: b allows nothing a does not. */
static bool chain_covers(const struct chain *a, const struct chain *b)
{
	unsigned j = 0;
	for (unsigned i = 0; i < a->n; i++) {
		while (j < b->n && b->c[j].arg < a->c[i].arg)
			j++;
		if (j == b->n || b->c[j].arg != a->c[i].arg || b->c[j].op != a->c[i].op ||
		    b->c[j].datum_a != a->c[i].datum_a || b->c[j].datum_b != a->c[i].datum_b)
			return false;
	}
	return true;
}

/* The entry for nr, or where it would go. */
size_t sp_find_syscall(const struct sp_policy *p, int nr, bool *found)
{
	size_t lo = 0, hi = p->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->sc[mid].nr < nr)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < p->n && p->sc[lo].nr == nr;
	return lo;
}

/* ------------------------------------------------------------ the parser */

struct parser {
	sp_reader read;
	void *opaque;
	struct sp_policy *pol;
	char *err;
	size_t errlen;
	const char *open[SP_INCLUDE_DEPTH + 1]; /* files being read, the top one first */
	unsigned depth;
	char **done; /* files read to the end: an @include of one again adds nothing */
	size_t ndone;
};

__attribute__((format(printf, 4, 5))) static void say(struct parser *ps, const char *file,
						       unsigned line, const char *fmt, ...)
{
	if (!ps->err || !ps->errlen)
		return;
	int n = line ? snprintf(ps->err, ps->errlen, "%s:%u: ", file, line)
		     : snprintf(ps->err, ps->errlen, "%s: ", file);
	if (n < 0 || (size_t)n >= ps->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

#define fail(ps, file, line, ...) (say(ps, file, line, __VA_ARGS__), -EINVAL)

const char *sp_errtext(int e)
{
	const char *s = strerrordesc_np(e);
	return s ? s : "unknown error";
}

/* Up to 48 bytes of s for a message, anything but printable ASCII as '?'. */
struct shown {
	char s[64];
};

static const char *show(struct shown *b, const char *s, size_t len)
{
	size_t n = len < 48 ? len : 48;
	for (size_t i = 0; i < n; i++)
		b->s[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	strcpy(b->s + n, len > n ? "..." : "");
	return b->s;
}

/* "ENOENT" for 2, or the number. */
static const char *errname(struct shown *b, int e)
{
	const char *s = strerrorname_np(e);
	if (s)
		return s;
	snprintf(b->s, sizeof(b->s), "%d", e);
	return b->s;
}

static bool valid_name(const char *s, size_t len)
{
	if (!len || len > SP_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* --- tokens of one line (its comment already cut off) */

enum tok {
	T_END, T_WORD, T_NUM, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_AND, T_OR, T_BOR,
	T_TILDE, T_COLON, T_BAD,
};

struct token {
	enum tok t;
	const char *s;
	size_t len;
	uint64_t num; /* T_NUM */
	bool bad;     /* T_NUM: not a number, or past 64 bits */
};

struct lexer {
	const char *p, *end;
};

static bool is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* Decimal, or hex after 0x; no octal (a leading 0 is refused, not misread). */
static void number(struct token *t)
{
	unsigned base = 10;
	size_t i = 0;
	if (t->len > 2 && t->s[0] == '0' && (t->s[1] == 'x' || t->s[1] == 'X')) {
		base = 16;
		i = 2;
	} else if (t->len > 1 && t->s[0] == '0') {
		t->bad = true;
		return;
	}
	uint64_t v = 0;
	for (; i < t->len; i++) {
		/* -1, not a digit, becomes too large for any base */
		unsigned d = (unsigned)cli_hex_digit(t->s[i]);
		if (d >= base || v > (UINT64_MAX - d) / base) {
			t->bad = true;
			return;
		}
		v = v * base + d;
	}
	t->num = v;
}

static struct token lex(struct lexer *lx)
{
	while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t'))
		lx->p++;
	struct token t = { .t = T_END, .s = lx->p, .len = 0 };
	if (lx->p == lx->end)
		return t;
	const char *p = lx->p;
	char c = *p, c2 = p + 1 < lx->end ? p[1] : '\0';
	if (is_word(c)) {
		while (p < lx->end && is_word(*p))
			p++;
		t.len = (size_t)(p - lx->p);
		t.t = c >= '0' && c <= '9' ? T_NUM : T_WORD;
		if (t.t == T_NUM)
			number(&t);
		lx->p = p;
		return t;
	}
	static const struct {
		char s[3];
		enum tok t;
	} ops[] = {
		{ "==", T_EQ },	 { "!=", T_NE }, { "<=", T_LE }, { ">=", T_GE },
		{ "&&", T_AND }, { "||", T_OR }, { "<", T_LT },	 { ">", T_GT },
		{ "|", T_BOR },	 { "~", T_TILDE }, { ":", T_COLON },
	};
	t.t = T_BAD;
	t.len = 1;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = ops[i].s[1] ? 2 : 1;
		if (c == ops[i].s[0] && (n == 1 || c2 == ops[i].s[1])) {
			t.t = ops[i].t;
			t.len = n;
			break;
		}
	}
	lx->p += t.len;
	return t;
}

static struct token peek(const struct lexer *lx)
{
	struct lexer copy = *lx;
	return lex(&copy);
}

/* How a token reads in a message. */
static const char *what(struct shown *b, const struct token *t)
{
	if (t->t == T_END)
		return "the end of the line";
	if (t->t == T_BAD && !(*t->s >= 0x20 && *t->s < 0x7f)) {
		snprintf(b->s, sizeof(b->s), "byte 0x%02x", (unsigned char)*t->s);
		return b->s;
	}
	struct shown q;
	size_t n = strlen(show(&q, t->s, t->len)); /* at most 51 */
	b->s[0] = '"';
	memcpy(b->s + 1, q.s, n);
	strcpy(b->s + 1 + n, "\"");
	return b->s;
}

static bool word_is(const struct token *t, const char *w)
{
	return t->t == T_WORD && strlen(w) == t->len && !memcmp(t->s, w, t->len);
}

/* --- one rule */

struct line {
	struct parser *ps;
	const char *file;
	unsigned no;
	struct lexer lx;
};

#define lfail(l, ...) fail((l)->ps, (l)->file, (l)->no, __VA_ARGS__)

/* A value: NUMBER or NAME, or several joined by '|'. */
static int value(struct line *l, struct token t, uint64_t *out)
{
	struct shown b;
	uint64_t v = 0;
	for (;;) {
		if (t.t == T_NUM && t.bad)
			return lfail(l, "bad number %s (decimal or 0x hex, at most 64 bits)",
				     what(&b, &t));
		if (t.t == T_NUM) {
			v |= t.num;
		} else if (t.t == T_WORD) {
			const struct sp_const *k = sp_constant(t.s, t.len);
			if (!k)
				return lfail(l, "unknown constant %s", what(&b, &t));
			v |= k->value;
		} else {
			return lfail(l, "expected a number or a constant, got %s", what(&b, &t));
		}
		if (peek(&l->lx).t != T_BOR)
			break;
		lex(&l->lx);
		t = lex(&l->lx);
	}
	*out = v;
	return 0;
}

/* argN OP VALUE, or argN in [~]VALUE, added to ch in argument order. */
static int comparison(struct line *l, struct token t, struct chain *ch)
{
	struct shown b;
	if (!(t.t == T_WORD && t.len == 4 && !memcmp(t.s, "arg", 3) && t.s[3] >= '0' &&
	      t.s[3] <= '9'))
		return lfail(l, "expected a condition on arg0..arg5, 1 or return ERRNO, got %s",
			     what(&b, &t));
	unsigned arg = (unsigned)(t.s[3] - '0');
	if (arg >= ARGS_MAX)
		return lfail(l, "arg%u: a syscall's arguments are arg0 to arg5", arg);
	for (unsigned i = 0; i < ch->n; i++)
		if (ch->c[i].arg == arg) /* libseccomp takes one comparison per argument */
			return lfail(l, "arg%u used twice in one && chain", arg);
	static const struct {
		enum tok t;
		enum scmp_compare op;
	} ops[] = {
		{ T_EQ, SCMP_CMP_EQ }, { T_NE, SCMP_CMP_NE }, { T_LT, SCMP_CMP_LT },
		{ T_LE, SCMP_CMP_LE }, { T_GT, SCMP_CMP_GT }, { T_GE, SCMP_CMP_GE },
	};
	struct scmp_arg_cmp c = { .arg = arg };
	struct token op = lex(&l->lx);
	bool cmp = false; /* one of the six comparisons, not `in` */
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]) && !cmp; i++)
		if ((cmp = op.t == ops[i].t))
			c.op = ops[i].op;
	uint64_t v;
	int r;
	if (cmp) {
		if ((r = value(l, lex(&l->lx), &v)) < 0)
			return r;
		c.datum_a = v;
	} else if (word_is(&op, "in")) {
		t = lex(&l->lx);
		bool inverted = t.t == T_TILDE;
		if (inverted)
			t = lex(&l->lx);
		if ((r = value(l, t, &v)) < 0)
			return r;
		/* in ~V: no bit of V set; in V: no bit outside V set */
		c.op = SCMP_CMP_MASKED_EQ;
		c.datum_a = inverted ? v : ~v;
		c.datum_b = 0;
	} else {
		return lfail(l, "expected ==, !=, <, <=, >, >= or in after arg%u, got %s", arg,
			     what(&b, &op));
	}
	unsigned i = ch->n++;
	for (; i > 0 && ch->c[i - 1].arg > arg; i--)
		ch->c[i] = ch->c[i - 1];
	ch->c[i] = c;
	return 0;
}

/* An OR of && chains, to the end of the line; *chains is malloc'd. */
static int expression(struct line *l, struct token t, struct chain **chains, size_t *n)
{
	struct shown b;
	size_t cap = 0;
	*chains = NULL;
	*n = 0;
	for (;;) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct chain *nv = realloc(*chains, ncap * sizeof(**chains));
			if (!nv)
				return -ENOMEM;
			*chains = nv;
			cap = ncap;
		}
		struct chain *ch = &(*chains)[(*n)++];
		ch->n = 0;
		for (;;) {
			int r = comparison(l, t, ch);
			if (r < 0)
				return r;
			t = lex(&l->lx);
			if (t.t != T_AND)
				break;
			t = lex(&l->lx);
		}
		if (t.t == T_END)
			return 0;
		if (t.t != T_OR)
			return lfail(l, "expected &&, || or the end of the line, got %s",
				     what(&b, &t));
		t = lex(&l->lx);
	}
}

static bool needs_solo(const struct chain *ch)
{
	for (unsigned i = 0; i < ch->n; i++)
		if (ch->c[i].op != SCMP_CMP_EQ && ch->c[i].op != SCMP_CMP_MASKED_EQ)
			return true;
	return false;
}

void sp_merge_chain(struct chain *v, size_t *n, const struct chain *c)
{
	for (size_t j = 0; j < *n; j++)
		if (chain_covers(&v[j], c))
			return;
	size_t kept = 0;
	for (size_t j = 0; j < *n; j++)
		if (!chain_covers(c, &v[j]))
			v[kept++] = v[j];
	v[kept++] = *c;
	*n = kept;
}

static int add_chains(struct line *l, struct sp_syscall *sc, const struct chain *v, size_t n)
{
	struct sp_policy *p = l->ps->pol;
	for (size_t i = 0; i < n; i++) {
		if (sc->nchains == sc->cap) {
			size_t ncap = sc->cap ? sc->cap * 2 : 4;
			struct chain *nv = realloc(sc->chains, ncap * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			sc->chains = nv;
			sc->cap = ncap;
		}
		size_t before = sc->nchains;
		sp_merge_chain(sc->chains, &sc->nchains, &v[i]);
		p->alternatives = p->alternatives - before + sc->nchains;
		if (p->alternatives > SP_ALTERNATIVES_MAX)
			return lfail(l, "more than %d alternatives with argument checks in the "
					"policy",
				     SP_ALTERNATIVES_MAX);
		sc->solo = false;
		for (size_t j = 0; j < sc->nchains; j++)
			sc->solo |= needs_solo(&sc->chains[j]);
		if (sc->nchains > 1 && sc->solo)
			return lfail(l, "%s: more than one alternative, and one uses !=, <, <=, > "
					"or >= (first rule at %s): " SOLO_WHY,
				     sc->name, sc->where);
	}
	return 0;
}

/* Merges one line's rule into the model: errnum > 0 for `return`, else
 * allowed always (any) or when one of chains[0..n) holds. */
static int add_rule(struct line *l, int nr, const char *name, int errnum, bool any,
		    const struct chain *chains, size_t n)
{
	struct sp_policy *p = l->ps->pol;
	bool found;
	size_t i = sp_find_syscall(p, nr, &found);
	if (found) {
		struct sp_syscall *sc = &p->sc[i];
		struct shown e1, e2;
		if (errnum && !sc->errnum)
			return lfail(l, "%s: return here, but allowed at %s: a syscall is either "
					"allowed or made to fail",
				     name, sc->where);
		if (!errnum && sc->errnum)
			return lfail(l, "%s: allowed here, but made to fail with return at %s: a "
					"syscall is either allowed or made to fail",
				     name, sc->where);
		if (sc->errnum != errnum)
			return lfail(l, "%s: return %s here, but return %s at %s", name,
				     errname(&e1, errnum), errname(&e2, sc->errnum), sc->where);
	} else {
		if (p->n == p->cap) {
			size_t ncap = p->cap ? p->cap * 2 : 32;
			struct sp_syscall *nv = realloc(p->sc, ncap * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			p->sc = nv;
			p->cap = ncap;
		}
		memmove(&p->sc[i + 1], &p->sc[i], (p->n - i) * sizeof(p->sc[0]));
		p->n++;
		struct sp_syscall *sc = &p->sc[i];
		*sc = (struct sp_syscall){ .nr = nr, .errnum = errnum };
		snprintf(sc->name, sizeof(sc->name), "%s", name);
		snprintf(sc->where, sizeof(sc->where), "%s:%u", l->file, l->no);
	}
	struct sp_syscall *sc = &p->sc[i];
	if (errnum || sc->any)
		return 0;
	if (any) { /* `: 1` anywhere: the argument checks no longer matter */
		sc->any = true;
		p->alternatives -= sc->nchains;
		free(sc->chains);
		sc->chains = NULL;
		sc->nchains = sc->cap = 0;
		sc->solo = false;
		return 0;
	}
	return add_chains(l, sc, chains, n);
}

/* SYSCALL ':' ( 1 | return ERRNO | expression ) */
static int rule(struct line *l, struct token t)
{
	struct shown b;
	if (t.t != T_WORD)
		return lfail(l, "expected a syscall name or @include, got %s", what(&b, &t));
	char name[SYSCALL_NAME_MAX] = "";
	if (t.len < sizeof(name))
		memcpy(name, t.s, t.len);
	int nr = name[0] ? seccomp_syscall_resolve_name(name) : __NR_SCMP_ERROR;
	if (nr == __NR_SCMP_ERROR)
		return lfail(l, "unknown syscall %s", what(&b, &t));
	if (nr < 0) /* libseccomp knows it from another arch */
		return lfail(l, "%s is not a syscall on this architecture", what(&b, &t));
	struct token c = lex(&l->lx);
	if (c.t != T_COLON)
		return lfail(l, "expected ':' after %s, got %s", name, what(&b, &c));

	t = lex(&l->lx);
	int errnum = 0;
	if (t.t == T_NUM && !t.bad && t.num == 1) {
		t = lex(&l->lx);
		if (t.t != T_END)
			return lfail(l, "expected the end of the line after 1, got %s",
				     what(&b, &t));
		return add_rule(l, nr, name, 0, true, NULL, 0);
	}
	if (word_is(&t, "return")) {
		t = lex(&l->lx);
		const struct sp_const *k = t.t == T_WORD ? sp_constant(t.s, t.len) : NULL;
		if (t.t == T_WORD && (!k || !k->is_errno))
			return lfail(l, "unknown errno %s", what(&b, &t));
		if (k)
			errnum = (int)k->value;
		else if (t.t == T_NUM && !t.bad && t.num >= 1 && t.num <= ERRNO_MAX)
			errnum = (int)t.num;
		else
			return lfail(l, "expected an errno name or number (1 to %d) after return, "
					"got %s",
				     ERRNO_MAX, what(&b, &t));
		t = lex(&l->lx);
		if (t.t != T_END)
			return lfail(l, "expected the end of the line after the errno, got %s",
				     what(&b, &t));
		return add_rule(l, nr, name, errnum, false, NULL, 0);
	}
	struct chain *chains;
	size_t n;
	int r = expression(l, t, &chains, &n);
	if (r == 0)
		r = add_rule(l, nr, name, 0, false, chains, n);
	free(chains);
	return r;
}

/* --- files and @include */

static int parse_file(struct parser *ps, const char *name, const char *from, unsigned from_line);

static int include(struct line *l, const char *s, size_t len)
{
	struct parser *ps = l->ps;
	struct shown b;
	if (!valid_name(s, len))
		return lfail(l, "@include \"%s\": a policy is named by a file name in the same "
				"directory ([A-Za-z0-9._-], at most %d bytes, no leading '.')",
			     show(&b, s, len), SP_NAME_MAX);
	char name[SP_NAME_MAX + 1];
	memcpy(name, s, len);
	name[len] = '\0';
	for (unsigned i = 0; i < ps->depth; i++)
		if (!strcmp(ps->open[i], name))
			return lfail(l, "@include loops back to %s", name);
	for (size_t i = 0; i < ps->ndone; i++)
		if (!strcmp(ps->done[i], name))
			return 0;
	if (ps->depth > SP_INCLUDE_DEPTH)
		return lfail(l, "@include %s: nested more than %d deep", name, SP_INCLUDE_DEPTH);
	return parse_file(ps, name, l->file, l->no);
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

static int parse_line(struct parser *ps, const char *file, unsigned no, const char *s, size_t len)
{
	const char *hash = memchr(s, '#', len);
	struct line l = { .ps = ps, .file = file, .no = no, .lx = { s, hash ? hash : s + len } };
	while (l.lx.p < l.lx.end && blank(*l.lx.p))
		l.lx.p++;
	if (l.lx.p == l.lx.end)
		return 0;
	if (*l.lx.p != '@')
		return rule(&l, lex(&l.lx));

	struct shown b;
	const char *p = l.lx.p, *end = l.lx.end, *w = p;
	while (p < end && !blank(*p))
		p++;
	if ((size_t)(p - w) != strlen("@include") || memcmp(w, "@include", (size_t)(p - w)))
		return lfail(&l, "unknown directive \"%s\"", show(&b, w, (size_t)(p - w)));
	while (p < end && blank(*p))
		p++;
	const char *nm = p;
	while (p < end && !blank(*p))
		p++;
	size_t nlen = (size_t)(p - nm);
	while (p < end && blank(*p))
		p++;
	if (!nlen)
		return lfail(&l, "@include needs a file name");
	if (p < end)
		return lfail(&l, "unexpected \"%s\" after the file name",
			     show(&b, p, (size_t)(end - p)));
	return include(&l, nm, nlen);
}

static int parse_text(struct parser *ps, const char *name, const char *text, size_t len)
{
	if (len > SP_FILE_MAX)
		return fail(ps, name, 0, "larger than %u KiB", SP_FILE_MAX >> 10);
	unsigned no = 0;
	for (size_t off = 0; off < len;) {
		const char *s = text + off, *nl = memchr(s, '\n', len - off);
		size_t n = nl ? (size_t)(nl - s) : len - off;
		off += n + (nl != NULL);
		no++;
		if (n > SP_LINE_MAX)
			return fail(ps, name, no, "line longer than %d bytes", SP_LINE_MAX);
		if (memchr(s, '\0', n))
			return fail(ps, name, no, "NUL byte");
		int r = parse_line(ps, name, no, s, n);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_file(struct parser *ps, const char *name, const char *from, unsigned from_line)
{
	char *text = NULL;
	size_t len = 0;
	int r = ps->read(ps->opaque, name, &text, &len);
	if (r < 0) {
		if (from)
			say(ps, from, from_line, "@include %s: %s", name, sp_errtext(-r));
		else
			say(ps, name, 0, "%s", sp_errtext(-r));
		return r;
	}
	ps->open[ps->depth++] = name;
	r = parse_text(ps, name, text, len);
	ps->depth--;
	free(text);
	if (r < 0)
		return r;
	char **nv = realloc(ps->done, (ps->ndone + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	ps->done = nv;
	if (!(ps->done[ps->ndone] = strdup(name)))
		return -ENOMEM;
	ps->ndone++;
	return 0;
}

int sp_parse(const char *name, sp_reader read, void *opaque, struct sp_policy **out, char *err,
	     size_t errlen)
{
	struct parser ps = { .read = read, .opaque = opaque, .err = err, .errlen = errlen };
	if (err && errlen)
		err[0] = '\0';
	struct shown b;
	if (!valid_name(name, strlen(name)))
		return fail(&ps, show(&b, name, strlen(name)), 0,
			    "a policy is named by a file name ([A-Za-z0-9._-], at most %d bytes, "
			    "no leading '.')",
			    SP_NAME_MAX);
	if (!(ps.pol = calloc(1, sizeof(*ps.pol))))
		return -ENOMEM;
	int r = parse_file(&ps, name, NULL, 0);
	for (size_t i = 0; i < ps.ndone; i++)
		free(ps.done[i]);
	free(ps.done);
	if (r == -ENOMEM)
		say(&ps, name, 0, "out of memory");
	if (r < 0) {
		sp_free(ps.pol);
		return r;
	}
	*out = ps.pol;
	return 0;
}

void sp_free(struct sp_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->sc[i].chains);
	free(p->sc);
	free(p);
}

size_t sp_syscall_count(const struct sp_policy *p)
{
	return p->n;
}

const char *sp_syscall_name(const struct sp_policy *p, size_t i)
{
	return i < p->n ? p->sc[i].name : NULL;
}

int sp_read_file(void *dir, const char *name, char **text, size_t *len)
{
	if (strchr(name, '/'))
		return -EINVAL;
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/%s", (const char *)dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	/* O_NONBLOCK: a FIFO put in the policy directory must not hang the open */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int r = 0;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	/* One byte more than allowed, to see a file that is too large (or grew). */
	if (!(buf = malloc(SP_FILE_MAX + 1))) {
		r = -ENOMEM;
		goto out;
	}
	while (got <= SP_FILE_MAX) {
		ssize_t k = read(fd, buf + got, SP_FILE_MAX + 1 - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			goto out;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	if (got > SP_FILE_MAX) {
		r = -EFBIG;
		goto out;
	}
	*text = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}
