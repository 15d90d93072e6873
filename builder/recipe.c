/*
 * Recipe parser and checker (schema v1, see docs/recipe.md).
 *
 * Two passes:
 *   1. libyaml's event parser builds a small tree (struct ynode) in which
 *      every node keeps its start mark. Aliases are refused (they would let a
 *      tiny file expand into a huge one) and the tree is bounded in depth and
 *      node count. A syntax error stops here: libyaml cannot go on.
 *   2. The schema walk reads the tree into struct vsl_recipe. Every problem
 *      is recorded as a diagnostic and the walk goes on, so one run reports
 *      every error: unknown keys (with a did-you-mean), wrong types, bad
 *      units, dangling references, undefined variables.
 *
 * Variables are substituted in scalar values (never in keys) as they are
 * read; a value that used a sensitive variable is flagged so that nothing
 * downstream prints it. Diagnostics never quote a substituted value.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "vessel/format.h"
#include "vessel/hash.h"
#include "vessel/recipe.h"
#include "vessel/suggest.h"

#define YN_MAX_DEPTH 32
#define YN_MAX_NODES 100000
#define RECIPE_MAX_DIAGS 200

enum ynode_type { YN_SCALAR, YN_MAP, YN_SEQ };

struct ynode {
	enum ynode_type type;
	unsigned line, col;
	size_t start, end;    /* byte offsets of the node in the recipe text */
	char *str;            /* scalar text */
	bool plain;           /* an unquoted scalar (so "null", "~" mean null) */
	struct ynode **kids;  /* map: key, value, key, value...; seq: items */
	size_t n, cap;
};

struct rp_dloc {
	unsigned line, col;
	size_t seq;
	char *msg;
};

struct rp {
	struct vsl_recipe *r;
	struct rp_dloc *dl;   /* positions of r->diags, for sorting */
	const struct vsl_recipe_opts *opts;
	const char *text;     /* the recipe's bytes (for exact positions) */
	size_t len;
	size_t nnodes;
	bool taint;           /* the last string read used a sensitive variable */
	bool too_many;
};

/* ---- diagnostics ---- */

static void rp_diag_at(struct rp *p, unsigned line, unsigned col, const char *fmt, va_list ap)
{
	struct vsl_recipe *r = p->r;
	char msg[1024];
	char **nd;

	if (r->ndiags >= RECIPE_MAX_DIAGS) {
		p->too_many = true;
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	nd = vsl_reallocarray(r->diags, r->ndiags + 1, sizeof(*nd));
	if (!nd)
		return;
	r->diags = nd;
	{
		struct rp_dloc *dl = vsl_reallocarray(p->dl, r->ndiags + 1, sizeof(*dl));
		if (!dl)
			return;
		p->dl = dl;
		dl[r->ndiags] = (struct rp_dloc){ .line = line, .col = col, .seq = r->ndiags };
	}
	if (line)
		nd[r->ndiags] = vsl_strdup_printf("%s:%u:%u: %s", r->path, line, col, msg);
	else
		nd[r->ndiags] = vsl_strdup_printf("%s: %s", r->path, msg);
	if (nd[r->ndiags])
		r->ndiags++;
}

static void rp_err(struct rp *p, const struct ynode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void rp_err(struct rp *p, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rp_diag_at(p, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
}

static int rp_dloc_cmp(const void *a, const void *b)
{
	const struct rp_dloc *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Diagnostics in file order (the walk reports some out of order). */
static void rp_sort_diags(struct rp *p)
{
	struct vsl_recipe *r = p->r;

	if (!p->dl || r->ndiags < 2)
		return;
	for (size_t i = 0; i < r->ndiags; i++)
		p->dl[i].msg = r->diags[i];
	qsort(p->dl, r->ndiags, sizeof(*p->dl), rp_dloc_cmp);
	for (size_t i = 0; i < r->ndiags; i++)
		r->diags[i] = p->dl[i].msg;
}

static struct vsl_recipe_loc rp_loc(const struct ynode *n)
{
	return (struct vsl_recipe_loc){ .line = n ? n->line : 0, .col = n ? n->col : 0 };
}

/* ---- pass 1: the YAML tree ---- */

static void ynode_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		ynode_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

static struct ynode *ynode_new(struct rp *p, enum ynode_type t, yaml_mark_t m)
{
	struct ynode *n;

	if (++p->nnodes > YN_MAX_NODES)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (n) {
		n->type = t;
		n->line = (unsigned)m.line + 1;
		n->col = (unsigned)m.column + 1;
		n->start = m.index;
	}
	return n;
}

static int ynode_add(struct ynode *parent, struct ynode *kid)
{
	if (parent->n == parent->cap) {
		size_t nc = parent->cap ? parent->cap * 2 : 8;
		struct ynode **k = vsl_reallocarray(parent->kids, nc, sizeof(*k));
		if (!k)
			return -1;
		parent->kids = k;
		parent->cap = nc;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

/*
 * Build the tree. Returns the document's root (NULL for an empty file) and
 * sets *failed when a diagnostic was recorded.
 */
static struct ynode *rp_tree(struct rp *p, const char *text, size_t len, bool *failed)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct ynode *stack[YN_MAX_DEPTH + 1];
	int depth = 0;
	struct ynode *root = NULL;
	bool done = false, ndocs = false;

	*failed = false;
	if (!yaml_parser_initialize(&parser)) {
		rp_err(p, NULL, "out of memory");
		*failed = true;
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done) {
		struct ynode *n = NULL;

		if (!yaml_parser_parse(&parser, &ev)) {
			const char *prob = parser.problem ? parser.problem : "syntax error";
			yaml_mark_t m = parser.problem_mark;

			struct ynode at = { .line = (unsigned)m.line + 1, .col = (unsigned)m.column + 1 };

			if (parser.context)
				rp_err(p, &at, "YAML syntax error: %s %s", prob, parser.context);
			else
				rp_err(p, &at, "YAML syntax error: %s", prob);
			*failed = true;
			break;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (ndocs) {
				struct ynode at = { .line = (unsigned)ev.start_mark.line + 1,
						    .col = (unsigned)ev.start_mark.column + 1 };
				rp_err(p, &at, "a recipe is one YAML document; found a second one");
				*failed = true;
				done = true;
			}
			ndocs = true;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_ALIAS_EVENT: {
			struct ynode at = { .line = (unsigned)ev.start_mark.line + 1,
					    .col = (unsigned)ev.start_mark.column + 1 };
			rp_err(p, &at, "YAML aliases (*%s) are not supported in recipes; "
				       "write the value out or use a variable",
			       ev.data.alias.anchor ? (const char *)ev.data.alias.anchor : "");
			*failed = true;
			done = true;
			break;
		}
		case YAML_SCALAR_EVENT:
			n = ynode_new(p, YN_SCALAR, ev.start_mark);
			if (n) {
				n->str = strndup((const char *)ev.data.scalar.value,
						 ev.data.scalar.length);
				n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
				n->end = ev.end_mark.index;
				if (!n->str || memchr(ev.data.scalar.value, 0, ev.data.scalar.length)) {
					if (n->str) {
						rp_err(p, n, "NUL byte in a string");
					}
					ynode_free(n);
					n = NULL;
					*failed = true;
					done = true;
					break;
				}
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			n = ynode_new(p, ev.type == YAML_MAPPING_START_EVENT ? YN_MAP : YN_SEQ,
				      ev.start_mark);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		if ((ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
		     ev.type == YAML_MAPPING_START_EVENT) && !*failed) {
			if (!n) {
				struct ynode at = { .line = (unsigned)ev.start_mark.line + 1,
						    .col = (unsigned)ev.start_mark.column + 1 };
				rp_err(p, &at, p->nnodes > YN_MAX_NODES ?
					       "recipe too large (more than %d YAML nodes)" :
					       "out of memory (%d)", YN_MAX_NODES);
				*failed = true;
				done = true;
			} else {
				if (depth == 0) {
					if (root) {
						ynode_free(n);
						n = NULL;
					} else {
						root = n;
					}
				} else if (ynode_add(stack[depth - 1], n) < 0) {
					ynode_free(n);
					n = NULL;
					*failed = true;
					done = true;
				}
				if (n && n->type != YN_SCALAR) {
					if (depth >= YN_MAX_DEPTH) {
						rp_err(p, n, "recipe nested too deeply (more than %d levels)",
						       YN_MAX_DEPTH);
						*failed = true;
						done = true;
					} else {
						stack[depth++] = n;
					}
				}
			}
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (*failed) {
		ynode_free(root);
		return NULL;
	}
	return root;
}

/* ---- variables ---- */

static struct vsl_recipe_var *rp_var(struct rp *p, const char *name, size_t len)
{
	for (size_t i = 0; i < p->r->nvars; i++)
		if (strlen(p->r->vars[i].name) == len && !strncmp(p->r->vars[i].name, name, len))
			return &p->r->vars[i];
	return NULL;
}

static bool var_name_ok(const char *s, size_t len)
{
	if (!len || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

static const char *rp_suggest_var(struct rp *p, const char *name)
{
	const char *cands[64];
	size_t n = 0;

	for (size_t i = 0; i < p->r->nvars && n + 1 < VSL_ARRAY_SIZE(cands); i++)
		cands[n++] = p->r->vars[i].name;
	cands[n] = NULL;
	return vsl_suggest_closest(name, cands);
}

/*
 * The position of the k-th "${" inside scalar n in the recipe's text (block
 * and quoted scalars span lines; messages should point at the reference
 * itself). Falls back to the scalar's start.
 */
static struct ynode rp_ref_pos(const struct rp *p, const struct ynode *n, unsigned k)
{
	struct ynode at = { .line = n->line, .col = n->col };
	size_t end = VSL_MIN(n->end, p->len);
	unsigned seen = 0;

	if (!p->text || n->end <= n->start)
		return at;
	for (size_t i = n->start; i + 1 < end; i++) {
		if (p->text[i] == '$' && p->text[i + 1] == '$' && i + 2 < end && p->text[i + 2] == '{') {
			i += 2;
			continue;
		}
		if (p->text[i] != '$' || p->text[i + 1] != '{')
			continue;
		if (seen++ < k)
			continue;
		at.line = 1;
		at.col = 1;
		for (size_t j = 0; j < i; j++) {
			if (p->text[j] == '\n') {
				at.line++;
				at.col = 1;
			} else if (((unsigned char)p->text[j] & 0xc0) != 0x80) {
				at.col++;
			}
		}
		return at;
	}
	return at;
}

/*
 * Substitute ${NAME} in a scalar ("$${" is a literal "${"). Returns a new
 * string, or NULL after recording a diagnostic. Sets p->taint when a
 * sensitive variable went in.
 */
static char *rp_subst(struct rp *p, const struct ynode *node)
{
	const struct ynode *n = node;
	const char *s = node->str;
	size_t cap = strlen(s) + 1, len = 0;
	char *out = malloc(cap);
	bool bad = false;
	unsigned nref = 0;
	struct ynode at;

	if (!out)
		return NULL;
	while (*s) {
		const char *piece = s;
		size_t plen = 1;

		if (s[0] == '$' && s[1] == '$' && s[2] == '{') {
			piece = "${";
			plen = 2;
			s += 3;
		} else if (s[0] == '$' && s[1] == '{') {
			const char *end = strchr(s + 2, '}');
			struct vsl_recipe_var *v;

			at = rp_ref_pos(p, node, nref++);
			n = &at; /* diagnostics below point at this reference */

			if (!end) {
				rp_err(p, n, "unterminated '${' (write '$${' for a literal '${')");
				bad = true;
				break;
			}
			if (!var_name_ok(s + 2, (size_t)(end - s - 2))) {
				rp_err(p, n, "bad variable reference '%.*s' (names are letters, "
					     "digits and '_')", (int)(end - s + 1 > 64 ? 64 : end - s + 1), s);
				bad = true;
				s = end + 1;
				continue;
			}
			v = rp_var(p, s + 2, (size_t)(end - s - 2));
			if (!v) {
				char name[128];
				const char *sug;

				snprintf(name, sizeof(name), "%.*s", (int)(end - s - 2), s + 2);
				sug = rp_suggest_var(p, name);
				if (sug)
					rp_err(p, n, "undefined variable '%s'; did you mean '%s'?", name, sug);
				else
					rp_err(p, n, "undefined variable '%s' (declare it under 'variables:')",
					       name);
				bad = true;
				s = end + 1;
				continue;
			}
			v->used = true;
			if (!v->value) {
				rp_err(p, n, "variable '%s' has no value; pass --var %s=VALUE or set %s "
					     "in the environment", v->name, v->name, v->name);
				bad = true;
				s = end + 1;
				continue;
			}
			if (v->sensitive)
				p->taint = true;
			piece = v->value;
			plen = strlen(v->value);
			s = end + 1;
		} else {
			s++;
		}
		if (len + plen + 1 > cap) {
			size_t nc = (len + plen + 1) * 2;
			char *o = realloc(out, nc);
			if (!o) {
				free(out);
				return NULL;
			}
			out = o;
			cap = nc;
		}
		memcpy(out + len, piece, plen);
		len += plen;
	}
	out[len] = '\0';
	if (bad) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---- schema helpers ---- */

static const char *type_name(const struct ynode *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case YN_MAP: return "a mapping";
	case YN_SEQ: return "a list";
	default: return "a string";
	}
}

static bool is_null(const struct ynode *n)
{
	return !n || (n->type == YN_SCALAR && n->plain &&
		      (!n->str[0] || !strcmp(n->str, "~") || !strcmp(n->str, "null")));
}

static bool rp_want(struct rp *p, const struct ynode *n, enum ynode_type t, const char *what)
{
	static const char *const names[] = { "a string", "a mapping", "a list" };

	if (n && n->type == t)
		return true;
	rp_err(p, n, "%s: expected %s, got %s", what, names[t], type_name(n));
	return false;
}

static const struct ynode *map_get(const struct ynode *m, const char *key)
{
	if (!m || m->type != YN_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < m->n; i += 2)
		if (m->kids[i]->type == YN_SCALAR && !strcmp(m->kids[i]->str, key))
			return m->kids[i + 1];
	return NULL;
}

/* Unknown, duplicate and non-string keys, with a did-you-mean. */
static void rp_keys(struct rp *p, const struct ynode *m, const char *const *allowed,
		    const char *where)
{
	size_t na = 0;

	while (allowed[na])
		na++;
	for (size_t i = 0; i + 1 < m->n; i += 2) {
		const struct ynode *k = m->kids[i];
		bool ok = false;

		if (k->type != YN_SCALAR) {
			rp_err(p, k, "%s: keys must be strings", where);
			continue;
		}
		for (size_t j = 0; j < na; j++)
			if (!strcmp(allowed[j], k->str))
				ok = true;
		if (!ok) {
			const char *sug = vsl_suggest_closest(k->str, allowed);
			if (sug)
				rp_err(p, k, "unknown key '%s' in %s; did you mean '%s'?", k->str, where,
				       sug);
			else
				rp_err(p, k, "unknown key '%s' in %s", k->str, where);
			continue;
		}
		for (size_t j = 0; j < i; j += 2)
			if (m->kids[j]->type == YN_SCALAR && !strcmp(m->kids[j]->str, k->str)) {
				rp_err(p, k, "duplicate key '%s' in %s (first at line %u)", k->str,
				       where, m->kids[j]->line);
				break;
			}
	}
}

/* A string value (variables substituted). NULL after a diagnostic. */
static char *rp_str(struct rp *p, const struct ynode *n, const char *what)
{
	char *s;

	if (!rp_want(p, n, YN_SCALAR, what))
		return NULL;
	s = rp_subst(p, n);
	return s;
}

static bool rp_bool(struct rp *p, const struct ynode *n, const char *what, bool *out)
{
	static const char *const t[] = { "true", "yes", "on", NULL };
	static const char *const f[] = { "false", "no", "off", NULL };

	if (!rp_want(p, n, YN_SCALAR, what))
		return false;
	for (size_t i = 0; t[i]; i++) {
		if (!strcasecmp(n->str, t[i])) {
			*out = true;
			return true;
		}
		if (!strcasecmp(n->str, f[i])) {
			*out = false;
			return true;
		}
	}
	rp_err(p, n, "%s: expected true or false, got '%s'", what, n->str);
	return false;
}

static bool rp_uint(struct rp *p, const struct ynode *n, const char *what, unsigned long min,
		    unsigned long max, unsigned long *out)
{
	char *s, *end;
	unsigned long v;
	bool ok;

	if (!rp_want(p, n, YN_SCALAR, what))
		return false;
	s = rp_subst(p, n);
	if (!s)
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	ok = isdigit((unsigned char)s[0]) && !*end && !errno && v >= min && v <= max;
	if (!ok)
		rp_err(p, n, "%s: expected an integer from %lu to %lu, got '%s'", what, min, max,
		       p->taint ? "<sensitive>" : s);
	else
		*out = v;
	free(s);
	return ok;
}

/* A size with a unit (256M, 2G). A bare number is bytes. */
static bool rp_size(struct rp *p, const struct ynode *n, const char *what, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	char *s, a[32], b[32];
	uint64_t v;
	int rc;
	bool ok = false;

	if (!rp_want(p, n, YN_SCALAR, what))
		return false;
	s = rp_subst(p, n);
	if (!s)
		return false;
	rc = vsl_parse_size(s, &v);
	if (rc == VSL_EINVAL)
		rp_err(p, n, "%s: '%s' is not a size (write a number with a unit: 256M, 2G)",
		       what, s);
	else if (rc < 0 || v > max)
		rp_err(p, n, "%s: %s is too large (at most %s)", what, s,
		       vsl_format_size(max, b, sizeof(b)));
	else if (v < min)
		rp_err(p, n, "%s: %s is too small (at least %s)%s", what, s,
		       vsl_format_size(min, a, sizeof(a)),
		       strspn(s, "0123456789") == strlen(s) ? "; a bare number is bytes, "
							       "add a unit (M, G)" : "");
	else {
		*out = v;
		ok = true;
	}
	free(s);
	return ok;
}

/* An octal mode such as "0644" (quote it: YAML 1.1 reads 0644 as octal 420). */
static bool rp_mode(struct rp *p, const struct ynode *n, const char *what, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!rp_want(p, n, YN_SCALAR, what))
		return false;
	errno = 0;
	v = strtoul(n->str, &end, 8);
	if (!n->str[0] || *end || errno || v > 07777 || n->str[0] == '-' || n->str[0] == '+') {
		rp_err(p, n, "%s: expected an octal mode such as \"0644\", got '%s'", what, n->str);
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

static bool rp_enum(struct rp *p, const struct ynode *n, const char *what,
		    const char *const *names, int *out)
{
	size_t nn = 0;
	const char *sug;

	if (!rp_want(p, n, YN_SCALAR, what))
		return false;
	for (; names[nn]; nn++)
		if (!strcmp(names[nn], n->str)) {
			*out = (int)nn;
			return true;
		}
	sug = vsl_suggest_closest(n->str, names);
	{
		char list[256] = "";
		for (size_t i = 0; names[i]; i++) {
			strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
			strncat(list, names[i], sizeof(list) - strlen(list) - 1);
		}
		if (sug)
			rp_err(p, n, "%s: unknown value '%s'; did you mean '%s'? (one of: %s)",
			       what, n->str, sug, list);
		else
			rp_err(p, n, "%s: unknown value '%s' (one of: %s)", what, n->str, list);
	}
	return false;
}

static bool guest_path_ok(struct rp *p, const struct ynode *n, const char *what, const char *s)
{
	if (s[0] != '/') {
		rp_err(p, n, "%s: '%s' must be an absolute path in the guest", what, s);
		return false;
	}
	for (const char *c = s; *c;) {
		const char *e = strchr(c, '/');
		size_t l = e ? (size_t)(e - c) : strlen(c);
		if (l == 2 && !strncmp(c, "..", 2)) {
			rp_err(p, n, "%s: '%s' must not contain '..'", what, s);
			return false;
		}
		c += l;
		if (*c)
			c++;
	}
	return true;
}

static bool name_ok(const char *s)
{
	if (!isalnum((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

/* Resolve a host path against the recipe's directory (caller frees). */
static char *rp_host_path(struct rp *p, const char *s)
{
	if (s[0] == '/')
		return strdup(s);
	return vsl_strdup_printf("%s/%s", p->r->dir, s);
}

/* ---- sections ---- */

static void rp_variables(struct rp *p, const struct ynode *m)
{
	static const char *const keys[] = { "default", "description", "sensitive", NULL };
	const struct vsl_recipe_opts *o = p->opts;

	if (!rp_want(p, m, YN_MAP, "variables"))
		return;
	p->r->vars = vsl_calloc(m->n / 2 + 1, sizeof(*p->r->vars));
	if (!p->r->vars)
		return;
	for (size_t i = 0; i + 1 < m->n; i += 2) {
		const struct ynode *k = m->kids[i], *v = m->kids[i + 1];
		struct vsl_recipe_var *var;

		if (k->type != YN_SCALAR || !var_name_ok(k->str, strlen(k->str))) {
			rp_err(p, k, "variables: bad name '%s' (letters, digits and '_', not "
				     "starting with a digit)", k->type == YN_SCALAR ? k->str : "?");
			continue;
		}
		if (rp_var(p, k->str, strlen(k->str))) {
			rp_err(p, k, "variables: '%s' is declared twice", k->str);
			continue;
		}
		var = &p->r->vars[p->r->nvars++];
		var->name = strdup(k->str);
		var->loc = rp_loc(k);
		if (v->type == YN_SCALAR) {
			/* NAME: value  is short for  NAME: { default: value } */
			if (!is_null(v))
				var->value = strdup(v->str);
		} else if (v->type == YN_MAP) {
			const struct ynode *d = map_get(v, "default"), *s = map_get(v, "sensitive");
			const struct ynode *desc = map_get(v, "description");
			char where[160];

			snprintf(where, sizeof(where), "variable '%s'", k->str);
			rp_keys(p, v, keys, where);
			if (d && !is_null(d) && rp_want(p, d, YN_SCALAR, where))
				var->value = strdup(d->str);
			if (s)
				rp_bool(p, s, where, &var->sensitive);
			if (desc && rp_want(p, desc, YN_SCALAR, where))
				var->description = strdup(desc->str);
		} else {
			rp_err(p, v, "variable '%s': expected a value or a mapping, got a list",
			       k->str);
		}
		if (var->value)
			var->origin = "default";
		if (o && o->use_env) {
			const char *e = getenv(var->name);
			if (e) {
				free(var->value);
				var->value = strdup(e);
				var->origin = "environment";
			}
		}
	}
}

/* --var NAME=VALUE: applied after the declarations are known. */
static void rp_overrides(struct rp *p)
{
	const struct vsl_recipe_opts *o = p->opts;

	for (size_t i = 0; o && i < o->nvars; i++) {
		const char *kv = o->vars[i], *eq = strchr(kv, '=');
		struct vsl_recipe_var *v;

		if (!eq || !var_name_ok(kv, (size_t)(eq - kv))) {
			rp_err(p, NULL, "--var '%.*s': expected NAME=VALUE",
			       (int)(eq ? eq - kv : (ptrdiff_t)strlen(kv)), kv);
			continue;
		}
		v = rp_var(p, kv, (size_t)(eq - kv));
		if (!v) {
			char name[128];
			const char *sug;

			snprintf(name, sizeof(name), "%.*s", (int)(eq - kv), kv);
			sug = rp_suggest_var(p, name);
			if (sug)
				rp_err(p, NULL, "--var %s: the recipe declares no variable '%s'; did "
						"you mean '%s'?", name, name, sug);
			else
				rp_err(p, NULL, "--var %s: the recipe declares no variable '%s'", name,
				       name);
			continue;
		}
		free(v->value);
		v->value = strdup(eq + 1);
		v->origin = "--var";
	}
}

static void rp_forward(struct rp *p, const struct ynode *n)
{
	struct vsl_recipe *r = p->r;
	struct vsl_recipe_forward f = { .loc = rp_loc(n) };
	char *s, *c, *end;
	unsigned long a, b;

	if (!rp_want(p, n, YN_SCALAR, "machine.network.forward"))
		return;
	s = rp_subst(p, n);
	if (!s)
		return;
	c = s;
	if (!strncmp(c, "tcp:", 4)) {
		c += 4;
	} else if (!strncmp(c, "udp:", 4)) {
		f.udp = true;
		c += 4;
	}
	errno = 0;
	a = strtoul(c, &end, 10);
	if (end == c || *end != ':' || a < 1 || a > 65535)
		goto bad;
	c = end + 1;
	b = strtoul(c, &end, 10);
	if (end == c || *end || b < 1 || b > 65535 || errno)
		goto bad;
	f.host_port = (uint16_t)a;
	f.guest_port = (uint16_t)b;
	for (size_t i = 0; i < r->nforwards; i++)
		if (r->forwards[i].host_port == f.host_port && r->forwards[i].udp == f.udp) {
			rp_err(p, n, "machine.network.forward: host port %lu is forwarded twice", a);
			free(s);
			return;
		}
	r->forwards[r->nforwards++] = f;
	free(s);
	return;
bad:
	rp_err(p, n, "machine.network.forward: expected \"HOSTPORT:GUESTPORT\" (optionally "
		     "\"tcp:\" or \"udp:\" first; ports 1-65535), got '%s'", s);
	free(s);
}

static void rp_machine(struct rp *p, const struct ynode *m)
{
	static const char *const keys[] = { "name", "arch", "cpus", "memory", "network",
					    "serial", NULL };
	static const char *const netkeys[] = { "mode", "forward", NULL };
	static const char *const archs[] = { "x86_64", NULL };
	static const char *const modes[] = { "none", "user", NULL };
	static const char *const serials[] = { "console", "none", NULL };
	struct vsl_recipe *r = p->r;
	const struct ynode *n;
	unsigned long ul;
	int e;

	if (!rp_want(p, m, YN_MAP, "machine"))
		return;
	rp_keys(p, m, keys, "machine");
	n = map_get(m, "name");
	if (!n) {
		rp_err(p, m, "machine: missing required key 'name'");
	} else if ((p->taint = false, r->name = rp_str(p, n, "machine.name")) && p->taint) {
		rp_err(p, n, "machine.name: a sensitive variable cannot go here: the name is "
			     "stored in clear in the bundle");
	} else if (r->name && !name_ok(r->name)) {
		rp_err(p, n, "machine.name: '%s' is not a valid name (letters, digits, '.', '_', "
			     "'-'; starting with a letter or digit)", r->name);
	}
	if ((n = map_get(m, "arch")) && rp_enum(p, n, "machine.arch", archs, &e))
		(void)e;
	if ((n = map_get(m, "cpus")) && rp_uint(p, n, "machine.cpus", 1, 64, &ul))
		r->cpus = (unsigned)ul;
	if ((n = map_get(m, "memory")) &&
	    rp_size(p, n, "machine.memory", 16ull << 20, 64ull << 30, &r->memory) &&
	    r->memory % 4096)
		rp_err(p, n, "machine.memory: must be a multiple of 4 KiB");
	if ((n = map_get(m, "serial")) && rp_enum(p, n, "machine.serial", serials, &e))
		r->serial = (enum vsl_recipe_serial)e;
	if ((n = map_get(m, "network")) && rp_want(p, n, YN_MAP, "machine.network")) {
		const struct ynode *mode = map_get(n, "mode"), *fw = map_get(n, "forward");

		rp_keys(p, n, netkeys, "machine.network");
		if (mode && rp_enum(p, mode, "machine.network.mode", modes, &e))
			r->net_user = e == 1;
		if (!mode)
			r->net_user = true;
		if (fw && rp_want(p, fw, YN_SEQ, "machine.network.forward")) {
			r->forwards = vsl_calloc(fw->n + 1, sizeof(*r->forwards));
			if (!r->net_user && fw->n)
				rp_err(p, fw, "machine.network.forward: port forwards need network "
					      "mode 'user'");
			for (size_t i = 0; r->forwards && i < fw->n; i++)
				rp_forward(p, fw->kids[i]);
		}
	}
}

/* Debian policy 5.6.1: lowercase letters, digits, + - .; alphanumeric first. */
static bool pkg_name_ok(const char *s)
{
	if (!s || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return false;
	for (const char *c = s; *c; c++)
		if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || strchr("+-.", *c)))
			return false;
	return true;
}

static void rp_pkglist(struct rp *p, const struct ynode *n, const char *what,
		       struct vsl_recipe_pkg **out, size_t *nout, bool module)
{
	if (!rp_want(p, n, YN_SEQ, what))
		return;
	*out = vsl_calloc(n->n + 1, sizeof(**out));
	if (!*out)
		return;
	for (size_t i = 0; i < n->n; i++) {
		char *s = rp_str(p, n->kids[i], what);
		bool ok = s && s[0];

		if (!module)
			ok = pkg_name_ok(s);
		for (const char *c = s; ok && module && *c; c++)
			if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) ||
			      strchr("_-", *c)))
				ok = false;
		if (s && !ok) {
			rp_err(p, n->kids[i], "%s: '%s' is not a valid %s name", what, s,
			       module ? "kernel module" : "Debian package");
			free(s);
			continue;
		}
		if (!s)
			continue;
		(*out)[*nout].name = s;
		(*out)[(*nout)++].loc = rp_loc(n->kids[i]);
	}
}

static void rp_file_entry(struct rp *p, const struct ynode *n)
{
	static const char *const keys[] = { "path", "content", "source", "mode", NULL };
	struct vsl_recipe_file *f = &p->r->files[p->r->nfiles];
	const struct ynode *path, *content, *source, *mode;
	struct stat st;

	if (!rp_want(p, n, YN_MAP, "boot.initramfs.files"))
		return;
	rp_keys(p, n, keys, "boot.initramfs.files entry");
	path = map_get(n, "path");
	content = map_get(n, "content");
	source = map_get(n, "source");
	mode = map_get(n, "mode");
	*f = (struct vsl_recipe_file){ .loc = rp_loc(n), .mode = 0644 };
	if (!path) {
		rp_err(p, n, "boot.initramfs.files entry: missing required key 'path'");
		return;
	}
	f->path = rp_str(p, path, "boot.initramfs.files path");
	if (f->path && !guest_path_ok(p, path, "boot.initramfs.files path", f->path))
		goto bad;
	if (!!content == !!source) {
		rp_err(p, n, "boot.initramfs.files entry: give exactly one of 'content' or 'source'");
		goto bad;
	}
	if (content) {
		p->taint = false;
		f->content = rp_str(p, content, "boot.initramfs.files content");
		f->sensitive = p->taint;
	} else {
		char *s = rp_str(p, source, "boot.initramfs.files source");
		if (s) {
			f->source = rp_host_path(p, s);
			if (f->source && (stat(f->source, &st) < 0 || !S_ISREG(st.st_mode)))
				rp_err(p, source, "boot.initramfs.files source: '%s': %s", s,
				       errno == ENOENT || !S_ISREG(st.st_mode) ?
					       "no such file" : strerror(errno));
			free(s);
		}
	}
	if (mode)
		rp_mode(p, mode, "boot.initramfs.files mode", &f->mode);
	if (f->path)
		p->r->nfiles++;
	return;
bad:
	free(f->path);
	f->path = NULL;
}

static void rp_boot(struct rp *p, const struct ynode *m)
{
	static const char *const keys[] = { "kernel", "cmdline", "initramfs", NULL };
	static const char *const kkeys[] = { "package", "file", NULL };
	static const char *const ikeys[] = { "packages", "depends", "modules", "files", "init",
					     "init-file", NULL };
	struct vsl_recipe *r = p->r;
	const struct ynode *k, *n, *im;

	if (!rp_want(p, m, YN_MAP, "boot"))
		return;
	rp_keys(p, m, keys, "boot");
	k = map_get(m, "kernel");
	if (!k) {
		rp_err(p, m, "boot: missing required key 'kernel'");
	} else if (k->type == YN_SCALAR) {
		r->kernel_package = rp_str(p, k, "boot.kernel");
		r->kernel_loc = rp_loc(k);
		if (r->kernel_package && !pkg_name_ok(r->kernel_package))
			rp_err(p, k, "boot.kernel: '%s' is not a valid Debian package name (use "
				     "{file: PATH} for a kernel file)", r->kernel_package);
	} else if (rp_want(p, k, YN_MAP, "boot.kernel")) {
		const struct ynode *pk = map_get(k, "package"), *f = map_get(k, "file");

		rp_keys(p, k, kkeys, "boot.kernel");
		if (!!pk == !!f) {
			rp_err(p, k, "boot.kernel: give exactly one of 'package' or 'file'");
		} else if (pk) {
			r->kernel_package = rp_str(p, pk, "boot.kernel.package");
			r->kernel_loc = rp_loc(pk);
			if (r->kernel_package && !pkg_name_ok(r->kernel_package))
				rp_err(p, pk, "boot.kernel.package: '%s' is not a valid Debian "
					      "package name", r->kernel_package);
		} else {
			char *s = rp_str(p, f, "boot.kernel.file");
			struct stat st;

			r->kernel_loc = rp_loc(f);
			if (s) {
				r->kernel_file = rp_host_path(p, s);
				if (r->kernel_file && (stat(r->kernel_file, &st) < 0 ||
						       !S_ISREG(st.st_mode)))
					rp_err(p, f, "boot.kernel.file: '%s': no such file", s);
				free(s);
			}
		}
	}
	if ((n = map_get(m, "cmdline"))) {
		p->taint = false;
		r->cmdline = rp_str(p, n, "boot.cmdline");
		if (r->cmdline && p->taint)
			rp_err(p, n, "boot.cmdline: a sensitive variable cannot go here: the kernel "
				     "command line is stored in clear in the bundle's vessel.yaml");
	}
	im = map_get(m, "initramfs");
	if (!im || !rp_want(p, im, YN_MAP, "boot.initramfs"))
		return;
	r->has_initramfs = true;
	rp_keys(p, im, ikeys, "boot.initramfs");
	if ((n = map_get(im, "packages")))
		rp_pkglist(p, n, "boot.initramfs.packages", &r->packages, &r->npackages, false);
	r->packages_depends = true;
	if ((k = map_get(im, "depends"))) {
		rp_bool(p, k, "boot.initramfs.depends", &r->packages_depends);
		if (!n)
			rp_err(p, k, "boot.initramfs.depends: there is no 'packages' list");
	}
	if ((n = map_get(im, "modules")))
		rp_pkglist(p, n, "boot.initramfs.modules", &r->modules, &r->nmodules, true);
	if (r->nmodules && !r->kernel_package)
		rp_err(p, n, "boot.initramfs.modules: kernel modules need the kernel from a "
			     "package (boot.kernel.package)");
	if ((n = map_get(im, "files")) && rp_want(p, n, YN_SEQ, "boot.initramfs.files")) {
		r->files = vsl_calloc(n->n + 1, sizeof(*r->files));
		for (size_t i = 0; r->files && i < n->n; i++)
			rp_file_entry(p, n->kids[i]);
	}
	n = map_get(im, "init");
	k = map_get(im, "init-file");
	if (n && k) {
		rp_err(p, k, "boot.initramfs: give only one of 'init' or 'init-file'");
	} else if (n) {
		p->taint = false;
		r->init = rp_str(p, n, "boot.initramfs.init");
		r->init_sensitive = p->taint;
		r->init_loc = rp_loc(n);
	} else if (k) {
		char *s = rp_str(p, k, "boot.initramfs.init-file");
		char *path = s ? rp_host_path(p, s) : NULL;
		FILE *f = path ? fopen(path, "rb") : NULL;

		r->init_loc = rp_loc(k);
		if (s && !f) {
			rp_err(p, k, "boot.initramfs.init-file: '%s': %s", s,
			       errno == ENOENT ? "no such file" : strerror(errno));
		} else if (f) {
			size_t len = 0, got;
			char buf[4096];

			/* an init script larger than 1 MiB is cut there (and will not run) */
			while ((got = fread(buf, 1, sizeof(buf), f)) > 0 && len < (1u << 20)) {
				char *nb = realloc(r->init, len + got + 1);
				if (!nb)
					break;
				r->init = nb;
				memcpy(r->init + len, buf, got);
				len += got;
				r->init[len] = '\0';
			}
			if (len >= (1u << 20))
				rp_err(p, k, "boot.initramfs.init-file: larger than 1 MiB");
			fclose(f);
		}
		free(path);
		free(s);
	}
}

static int find_source(const struct vsl_recipe *r, const char *name)
{
	for (size_t i = 0; i < r->nsources; i++)
		if (!strcmp(r->sources[i].name, name))
			return (int)i;
	return -1;
}

static int find_disk(const struct vsl_recipe *r, const char *name)
{
	for (size_t i = 0; i < r->ndisks; i++)
		if (r->disks[i].name && !strcmp(r->disks[i].name, name))
			return (int)i;
	return -1;
}

/* A reference to a source by name, with a did-you-mean. -1 after a diagnostic. */
static int rp_source_ref(struct rp *p, const struct ynode *n, const char *what, const char *name)
{
	const char *cands[64];
	size_t nc = 0;
	int i = find_source(p->r, name);
	const char *sug;

	if (i >= 0)
		return i;
	for (size_t j = 0; j < p->r->nsources && nc + 1 < VSL_ARRAY_SIZE(cands); j++)
		cands[nc++] = p->r->sources[j].name;
	cands[nc] = NULL;
	sug = vsl_suggest_closest(name, cands);
	if (sug)
		rp_err(p, n, "%s: no source named '%s'; did you mean '%s'?", what, name, sug);
	else
		rp_err(p, n, "%s: no source named '%s' (declare it under 'sources:')", what, name);
	return -1;
}

/*
 * A source's tarball or path (node n, named what): src->path becomes its
 * host path, which must be a regular file, or also a directory with dirs.
 */
static void rp_source_path(struct rp *p, const struct ynode *n, const char *what, bool dirs,
			   struct vsl_recipe_source *src)
{
	char *v = rp_str(p, n, what);
	struct stat st;

	if (!v)
		return;
	src->path = rp_host_path(p, v);
	if (src->path && stat(src->path, &st) < 0)
		rp_err(p, n, "source '%s': '%s': %s", src->name, v, strerror(errno));
	else if (src->path && !S_ISREG(st.st_mode) && !(dirs && S_ISDIR(st.st_mode)))
		rp_err(p, n, "source '%s': '%s' is %s", src->name, v,
		       dirs ? "neither a file nor a directory" : "not a file");
	free(v);
}

static void rp_sources(struct rp *p, const struct ynode *s)
{
	static const char *const keys[] = { "name", "path", "tarball", "package", "sha256",
					    "depends", NULL };
	struct vsl_recipe *r = p->r;

	if (!rp_want(p, s, YN_SEQ, "sources"))
		return;
	r->sources = vsl_calloc(s->n + 1, sizeof(*r->sources));
	for (size_t i = 0; r->sources && i < s->n; i++) {
		const struct ynode *e = s->kids[i], *name, *path, *pkg, *sha, *dep, *tar;
		struct vsl_recipe_source src = { .loc = rp_loc(e), .depends = true };

		if (!rp_want(p, e, YN_MAP, "sources entry"))
			continue;
		rp_keys(p, e, keys, "sources entry");
		name = map_get(e, "name");
		path = map_get(e, "path");
		pkg = map_get(e, "package");
		tar = map_get(e, "tarball");
		sha = map_get(e, "sha256");
		dep = map_get(e, "depends");
		if (!name) {
			rp_err(p, e, "sources entry: missing required key 'name'");
			continue;
		}
		if (!rp_want(p, name, YN_SCALAR, "sources name"))
			continue;
		if (!name_ok(name->str)) {
			rp_err(p, name, "sources name: '%s' is not a valid name", name->str);
			continue;
		}
		if (find_source(r, name->str) >= 0) {
			rp_err(p, name, "sources: '%s' is declared twice", name->str);
			continue;
		}
		if (!!path + !!pkg + !!tar != 1) {
			rp_err(p, e, "source '%s': give exactly one of 'path', 'tarball' or "
				     "'package'", name->str);
			continue;
		}
		src.name = strdup(name->str);
		if (tar) {
			src.kind = VSL_SOURCE_TARBALL;
			rp_source_path(p, tar, "sources tarball", false, &src);
		} else if (path) {
			src.kind = VSL_SOURCE_PATH;
			rp_source_path(p, path, "sources path", true, &src);
		} else {
			src.kind = VSL_SOURCE_PACKAGE;
			src.package = rp_str(p, pkg, "sources package");
			if (src.package && !pkg_name_ok(src.package))
				rp_err(p, pkg, "source '%s': '%s' is not a valid Debian package name",
				       src.name, src.package);
		}
		if (sha) {
			src.sha256 = rp_str(p, sha, "sources sha256");
			if (src.sha256 && (strlen(src.sha256) != 64 ||
					   strspn(src.sha256, "0123456789abcdef") != 64))
				rp_err(p, sha, "source '%s': sha256 must be 64 lowercase hex digits",
				       src.name);
			else if (src.sha256 && src.kind == VSL_SOURCE_PACKAGE)
				rp_err(p, sha, "source '%s': sha256 applies to path and tarball "
					       "sources only (apt verifies packages)", src.name);
		}
		if (dep && rp_bool(p, dep, "sources depends", &src.depends) &&
		    src.kind != VSL_SOURCE_PACKAGE)
			rp_err(p, dep, "source '%s': depends applies to package sources only",
			       src.name);
		r->sources[r->nsources++] = src;
	}
}

/* disk image: a host image that formats/ reads; its virtual size becomes the disk's. */
static void rp_disk_image(struct rp *p, const struct ynode *n, struct vsl_recipe_disk *d,
			  const char *where, const char *v)
{
	struct vsl_ctx *ctx;
	struct vsl_image *img = NULL;
	struct stat st;

	d->image = rp_host_path(p, v);
	if (!d->image)
		return;
	if (stat(d->image, &st) < 0) {
		rp_err(p, n, "%s: image '%s': %s", where, v, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		rp_err(p, n, "%s: image '%s' is not a file", where, v);
		return;
	}
	ctx = vsl_ctx_new();
	if (!ctx)
		return;
	if (vsl_image_open(ctx, d->image, NULL, VSL_IMAGE_RDONLY, &img) < 0)
		rp_err(p, n, "%s: image '%s': %s", where, v, vsl_ctx_error(ctx));
	else
		d->size = img->size;
	vsl_image_close(img);
	vsl_ctx_free(ctx);
}

static void rp_disks(struct rp *p, const struct ynode *s)
{
	static const char *const keys[] = { "name", "image", "size", "format", "partition-table",
					    "filesystem", "label", "contents", NULL };
	static const char *const new_only[] = { "size", "partition-table", "filesystem", "label",
						NULL };
	static const char *const ckeys[] = { "source", "to", NULL };
	static const char *const formats[] = { "qcow2", "raw", NULL };
	static const char *const pts[] = { "none", "mbr", "gpt", NULL };
	static const char *const fss[] = { "ext4", "xfs", "vfat", NULL };
	struct vsl_recipe *r = p->r;

	if (!rp_want(p, s, YN_SEQ, "disks"))
		return;
	r->disks = vsl_calloc(s->n + 1, sizeof(*r->disks));
	for (size_t i = 0; r->disks && i < s->n; i++) {
		const struct ynode *e = s->kids[i], *n;
		struct vsl_recipe_disk *d = &r->disks[r->ndisks];
		char where[160];
		int v;

		if (!rp_want(p, e, YN_MAP, "disks entry"))
			continue;
		*d = (struct vsl_recipe_disk){ .loc = rp_loc(e) };
		rp_keys(p, e, keys, "disks entry");
		n = map_get(e, "name");
		if (!n) {
			rp_err(p, e, "disks entry: missing required key 'name'");
			continue;
		}
		if (!rp_want(p, n, YN_SCALAR, "disks name"))
			continue;
		if (!name_ok(n->str) || !strcmp(n->str, "initramfs")) {
			rp_err(p, n, "disks name: '%s' is not a valid disk name", n->str);
			continue;
		}
		if (find_disk(r, n->str) >= 0) {
			rp_err(p, n, "disks: '%s' is declared twice", n->str);
			continue;
		}
		d->name = strdup(n->str);
		snprintf(where, sizeof(where), "disk '%s'", d->name);
		if ((n = map_get(e, "image"))) {
			char *img = rp_str(p, n, "disk image");

			if (img) {
				rp_disk_image(p, n, d, where, img);
				free(img);
			}
			for (size_t k = 0; new_only[k]; k++)
				if (map_get(e, new_only[k]))
					rp_err(p, map_get(e, new_only[k]), "%s: '%s' does not go with "
					       "'image' (the image brings its own)", where,
					       new_only[k]);
		} else if (!(n = map_get(e, "size"))) {
			rp_err(p, e, "%s: missing required key 'size'", where);
		} else {
			rp_size(p, n, "disk size", 1ull << 20, 16ull << 40, &d->size);
		}
		d->format = strdup("qcow2");
		if ((n = map_get(e, "format")) && rp_enum(p, n, "disk format", formats, &v)) {
			free(d->format);
			d->format = strdup(formats[v]);
		}
		if ((n = map_get(e, "partition-table")) &&
		    rp_enum(p, n, "disk partition-table", pts, &v))
			d->ptable = (enum vsl_recipe_ptable)v;
		if ((n = map_get(e, "filesystem")) && rp_enum(p, n, "disk filesystem", fss, &v))
			d->fs = (enum vsl_recipe_fs)v;
		if (!d->image && d->fs == VSL_FS_XFS && d->size && d->size < (320ull << 20))
			rp_err(p, map_get(e, "size"), "%s: xfs needs at least 320M (mkfs.xfs refuses "
						   "filesystems under 300 MB)", where);
		if ((n = map_get(e, "label")))
			d->label = rp_str(p, n, "disk label");
		if ((n = map_get(e, "contents")) && rp_want(p, n, YN_SEQ, "disk contents")) {
			d->contents = vsl_calloc(n->n + 1, sizeof(*d->contents));
			for (size_t j = 0; d->contents && j < n->n; j++) {
				const struct ynode *c = n->kids[j], *src, *to;
				struct vsl_recipe_content ct = { .loc = rp_loc(c) };

				if (!rp_want(p, c, YN_MAP, "disk contents entry"))
					continue;
				rp_keys(p, c, ckeys, "disk contents entry");
				src = map_get(c, "source");
				to = map_get(c, "to");
				if (!src) {
					rp_err(p, c, "disk contents entry: missing required key 'source'");
					continue;
				}
				ct.source = rp_str(p, src, "disk contents source");
				if (!ct.source)
					continue;
				ct.source_index = rp_source_ref(p, src, "disk contents", ct.source);
				ct.to = to ? rp_str(p, to, "disk contents to") : strdup("/");
				if (ct.to && !guest_path_ok(p, to, "disk contents to", ct.to)) {
					free(ct.to);
					ct.to = NULL;
				}
				if (ct.source_index < 0 || !ct.to) {
					free(ct.source);
					free(ct.to);
					continue;
				}
				d->contents[d->ncontents++] = ct;
			}
		}
		r->ndisks++;
	}
}

static const char *const step_names[] = {
	[VSL_STEP_WRITE] = "write", [VSL_STEP_COPY_IN] = "copy-in", [VSL_STEP_MKDIR] = "mkdir",
	[VSL_STEP_CHMOD] = "chmod", [VSL_STEP_CHOWN] = "chown", [VSL_STEP_SYMLINK] = "symlink",
	[VSL_STEP_DELETE] = "delete", [VSL_STEP_APPEND_LINE] = "append-line",
	[VSL_STEP_EDIT] = "edit", [VSL_STEP_HOSTNAME] = "hostname", [VSL_STEP_SSH_KEY] = "ssh-key",
	[VSL_STEP_ROOT_PASSWORD] = "root-password", [VSL_STEP_FIRSTBOOT] = "firstboot",
	[VSL_STEP_RUN] = "run", NULL
};

/* The modifier keys each step kind accepts (besides its own key and 'disk'). */
static const char *const step_mods[][5] = {
	[VSL_STEP_WRITE] = { "content", "mode" },
	[VSL_STEP_COPY_IN] = { "to" },
	[VSL_STEP_MKDIR] = { "mode" },
	[VSL_STEP_CHMOD] = { "mode" },
	[VSL_STEP_CHOWN] = { "owner" },
	[VSL_STEP_SYMLINK] = { "target" },
	[VSL_STEP_DELETE] = { NULL },
	[VSL_STEP_APPEND_LINE] = { "line" },
	[VSL_STEP_EDIT] = { "replace", "with" },
	[VSL_STEP_HOSTNAME] = { NULL },
	[VSL_STEP_SSH_KEY] = { "user" },
	[VSL_STEP_ROOT_PASSWORD] = { NULL },
	[VSL_STEP_FIRSTBOOT] = { NULL },
	[VSL_STEP_RUN] = { NULL },
};

/* A modifier's string value, required or optional; sets st->sensitive. */
static char *rp_mod(struct rp *p, const struct ynode *e, const char *key, bool required,
		    struct vsl_recipe_step *st)
{
	const struct ynode *n = map_get(e, key);
	char what[64];
	char *s;

	snprintf(what, sizeof(what), "%s %s", step_names[st->kind], key);
	if (!n) {
		if (required)
			rp_err(p, e, "step '%s': missing required key '%s'", step_names[st->kind],
			       key);
		return NULL;
	}
	p->taint = false;
	s = rp_str(p, n, what);
	if (p->taint)
		st->sensitive = true;
	return s;
}

static void rp_step(struct rp *p, const struct ynode *e)
{
	struct vsl_recipe *r = p->r;
	struct vsl_recipe_step st = { .loc = rp_loc(e), .disk_index = -1, .uid = -1, .gid = -1 };
	const struct ynode *kindn = NULL, *argn = NULL, *n;
	const char *allowed[8];
	size_t na = 0;
	int kind = -1;
	bool ok = true;

	if (!rp_want(p, e, YN_MAP, "customize step"))
		return;
	/* the step's kind is the first key that names one */
	for (size_t i = 0; i + 1 < e->n && kind < 0; i += 2) {
		const struct ynode *k = e->kids[i];
		for (int j = 0; k->type == YN_SCALAR && step_names[j]; j++)
			if (!strcmp(step_names[j], k->str)) {
				kind = j;
				kindn = k;
				argn = e->kids[i + 1];
			}
	}
	if (kind < 0) {
		const struct ynode *k = e->n ? e->kids[0] : e;
		const char *sug = k->type == YN_SCALAR ?
					  vsl_suggest_closest(k->str, step_names) : NULL;
		if (sug)
			rp_err(p, k, "customize: unknown step '%s'; did you mean '%s'?", k->str, sug);
		else
			rp_err(p, k, "customize: a step needs one of: write, copy-in, mkdir, chmod, "
				     "chown, symlink, delete, append-line, edit, hostname, ssh-key, "
				     "root-password, firstboot, run");
		return;
	}
	st.kind = (enum vsl_recipe_step_kind)kind;
	st.loc = rp_loc(kindn);
	allowed[na++] = step_names[kind];
	allowed[na++] = "disk";
	for (size_t i = 0; i < 5 && step_mods[kind][i]; i++)
		allowed[na++] = step_mods[kind][i];
	allowed[na] = NULL;
	{
		char where[64];
		snprintf(where, sizeof(where), "step '%s'", step_names[kind]);
		rp_keys(p, e, allowed, where);
	}
	p->taint = false;
	st.arg = rp_str(p, argn, step_names[kind]);
	st.sensitive = p->taint;
	if (!st.arg)
		ok = false;
	/* target: 'disk: NAME' or 'disk: initramfs'; default the first disk */
	if ((n = map_get(e, "disk"))) {
		st.target = rp_str(p, n, "step disk");
		if (st.target && strcmp(st.target, "initramfs")) {
			st.disk_index = find_disk(r, st.target);
			if (st.disk_index < 0) {
				const char *cands[64];
				size_t nc = 0;
				const char *sug;

				for (size_t j = 0; j < r->ndisks && nc < 62; j++)
					if (r->disks[j].name)
						cands[nc++] = r->disks[j].name;
				cands[nc++] = "initramfs";
				cands[nc] = NULL;
				sug = vsl_suggest_closest(st.target, cands);
				if (sug)
					rp_err(p, n, "step '%s': no disk named '%s'; did you mean '%s'?",
					       step_names[kind], st.target, sug);
				else
					rp_err(p, n, "step '%s': no disk named '%s'", step_names[kind],
					       st.target);
				ok = false;
			}
		}
	} else if (r->ndisks && r->disks[0].name) {
		st.target = strdup(r->disks[0].name);
		st.disk_index = 0;
	} else {
		st.target = strdup("initramfs");
	}
	if (st.disk_index < 0 && st.target && !strcmp(st.target, "initramfs") && !r->has_initramfs) {
		rp_err(p, e, "step '%s': the recipe has no disk and no boot.initramfs to change",
		       step_names[kind]);
		ok = false;
	}
	if (st.kind == VSL_STEP_RUN && st.disk_index < 0 && ok) {
		rp_err(p, kindn, "step 'run': commands run on a disk holding an operating system; "
				 "the initramfs cannot run them at build time (use 'firstboot')");
		ok = false;
	}
	switch (st.kind) {
	case VSL_STEP_WRITE:
		st.content = rp_mod(p, e, "content", true, &st);
		ok = ok && st.content;
		break;
	case VSL_STEP_COPY_IN:
		if (st.arg && (st.source_index = rp_source_ref(p, argn, "step 'copy-in'",
								st.arg)) < 0)
			ok = false;
		st.to = rp_mod(p, e, "to", false, &st);
		if (!st.to)
			st.to = strdup("/");
		else if (!guest_path_ok(p, map_get(e, "to"), "copy-in to", st.to))
			ok = false;
		break;
	case VSL_STEP_CHOWN: {
		char *o = rp_mod(p, e, "owner", true, &st);
		char *end;

		if (o) {
			errno = 0;
			st.uid = strtol(o, &end, 10);
			if (end == o || *end != ':' || st.uid < 0)
				ok = false;
			else {
				char *g = end + 1;
				st.gid = strtol(g, &end, 10);
				if (end == g || *end || st.gid < 0 || errno)
					ok = false;
			}
			if (!ok)
				rp_err(p, map_get(e, "owner"), "chown owner: expected \"UID:GID\" "
							       "(numbers), got '%s'", o);
			free(o);
		} else {
			ok = false;
		}
		break;
	}
	case VSL_STEP_SYMLINK:
		st.link_target = rp_mod(p, e, "target", true, &st);
		ok = ok && st.link_target;
		break;
	case VSL_STEP_APPEND_LINE:
		st.line = rp_mod(p, e, "line", true, &st);
		ok = ok && st.line;
		break;
	case VSL_STEP_EDIT:
		st.match = rp_mod(p, e, "replace", true, &st);
		st.replace = rp_mod(p, e, "with", true, &st);
		ok = ok && st.match && st.replace;
		if (st.match && !st.match[0]) {
			rp_err(p, map_get(e, "replace"), "edit replace: must not be empty");
			ok = false;
		}
		break;
	case VSL_STEP_SSH_KEY:
		st.user = rp_mod(p, e, "user", false, &st);
		if (!st.user)
			st.user = strdup("root");
		if (st.user && !name_ok(st.user)) {
			rp_err(p, map_get(e, "user"), "ssh-key user: '%s' is not a user name", st.user);
			ok = false;
		}
		break;
	case VSL_STEP_HOSTNAME:
		if (st.arg && !name_ok(st.arg)) {
			rp_err(p, argn, "hostname: '%s' is not a valid host name", st.arg);
			ok = false;
		}
		break;
	default:
		break;
	}
	/* the argument is a guest path for these kinds */
	if (st.arg && (st.kind == VSL_STEP_WRITE || st.kind == VSL_STEP_MKDIR ||
		       st.kind == VSL_STEP_CHMOD || st.kind == VSL_STEP_CHOWN ||
		       st.kind == VSL_STEP_SYMLINK || st.kind == VSL_STEP_DELETE ||
		       st.kind == VSL_STEP_APPEND_LINE || st.kind == VSL_STEP_EDIT) &&
	    !guest_path_ok(p, argn, step_names[kind], st.arg))
		ok = false;
	if (st.arg && st.kind == VSL_STEP_DELETE && !strcmp(st.arg, "/")) {
		rp_err(p, argn, "delete: refusing to delete '/'");
		ok = false;
	}
	if ((n = map_get(e, "mode")) && (st.kind == VSL_STEP_WRITE || st.kind == VSL_STEP_MKDIR ||
					 st.kind == VSL_STEP_CHMOD)) {
		char what[64];

		snprintf(what, sizeof(what), "%s mode", step_names[kind]);
		if (rp_mode(p, n, what, &st.mode))
			st.has_mode = true;
		else
			ok = false;
	} else if (st.kind == VSL_STEP_CHMOD) {
		rp_err(p, e, "step 'chmod': missing required key 'mode'");
		ok = false;
	}
	if (!ok) {
		free(st.arg); free(st.target); free(st.content); free(st.to);
		free(st.link_target); free(st.line); free(st.match); free(st.replace);
		free(st.user);
		return;
	}
	r->steps[r->nsteps++] = st;
}

static void rp_customize(struct rp *p, const struct ynode *s)
{
	if (!rp_want(p, s, YN_SEQ, "customize"))
		return;
	p->r->steps = vsl_calloc(s->n + 1, sizeof(*p->r->steps));
	for (size_t i = 0; p->r->steps && i < s->n; i++)
		rp_step(p, s->kids[i]);
}

static void rp_root(struct rp *p, const struct ynode *root)
{
	static const char *const keys[] = { "vessel", "description", "variables", "machine",
					    "boot", "sources", "disks", "customize", NULL };
	struct vsl_recipe *r = p->r;
	const struct ynode *n;

	if (!root || is_null(root)) {
		rp_err(p, NULL, "empty recipe (it starts with 'vessel: %d')", VSL_RECIPE_VERSION);
		return;
	}
	if (root->type != YN_MAP) {
		rp_err(p, root, "a recipe is a mapping that starts with 'vessel: %d', not %s",
		       VSL_RECIPE_VERSION, type_name(root));
		return;
	}
	/* the version comes first and decides everything else */
	n = root->n ? root->kids[0] : NULL;
	if (!n || n->type != YN_SCALAR || strcmp(n->str, "vessel")) {
		n = map_get(root, "vessel");
		if (!n) {
			rp_err(p, root->n ? root->kids[0] : root,
			       "the first key of a recipe must be 'vessel: %d' (the schema version)",
			       VSL_RECIPE_VERSION);
			return;
		}
		rp_err(p, root->kids[0], "'vessel: %d' must be the first key of the recipe",
		       VSL_RECIPE_VERSION);
	} else {
		n = root->kids[1];
	}
	if (n->type != YN_SCALAR || strspn(n->str, "0123456789") != strlen(n->str) ||
	    !n->str[0]) {
		rp_err(p, n, "vessel: the schema version is a number (this vessel reads "
			     "version %d)", VSL_RECIPE_VERSION);
		return;
	}
	if (strcmp(n->str, "1")) {
		rp_err(p, n, "recipe schema version %s is not supported: this vessel %s reads "
			     "version %d only; upgrade vessel to build it",
		       n->str, vsl_version(), VSL_RECIPE_VERSION);
		return;
	}
	rp_keys(p, root, keys, "the recipe");
	if ((n = map_get(root, "description")))
		r->description = rp_str(p, n, "description");
	if ((n = map_get(root, "variables")))
		rp_variables(p, n);
	rp_overrides(p);
	if (!(n = map_get(root, "machine")))
		rp_err(p, root, "missing required section 'machine'");
	else
		rp_machine(p, n);
	if (!(n = map_get(root, "boot")))
		rp_err(p, root, "missing required section 'boot'");
	else
		rp_boot(p, n);
	if ((n = map_get(root, "sources")))
		rp_sources(p, n);
	if ((n = map_get(root, "disks")))
		rp_disks(p, n);
	if ((n = map_get(root, "customize")))
		rp_customize(p, n);
}

/* ---- public ---- */

int vsl_recipe_parse(struct vsl_ctx *ctx, const char *path, const char *text, size_t len,
		     const struct vsl_recipe_opts *opts, struct vsl_recipe **out)
{
	struct vsl_recipe *r;
	struct rp p = { .opts = opts };
	struct ynode *root;
	const char *slash;
	bool failed;

	*out = NULL;
	if (len > VSL_RECIPE_MAX_BYTES)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: recipe is larger than %u MiB",
				     path, VSL_RECIPE_MAX_BYTES >> 20);
	r = calloc(1, sizeof(*r));
	if (!r)
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "recipe");
	p.r = r;
	p.text = text;
	p.len = len;
	r->path = strdup(path);
	slash = strrchr(path, '/');
	r->dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
	r->arch = strdup("x86_64");
	r->cpus = 1;
	r->memory = 256ull << 20;
	r->cmdline = NULL;
	if (!r->path || !r->dir || !r->arch) {
		vsl_recipe_free(r);
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "recipe");
	}
	vsl_sha256_hex(text, len, r->digest);
	root = rp_tree(&p, text, len, &failed);
	if (!failed)
		rp_root(&p, root);
	ynode_free(root);
	if (!r->cmdline)
		r->cmdline = strdup(r->serial == VSL_RECIPE_SERIAL_CONSOLE ? "console=ttyS0" : "");
	rp_sort_diags(&p);
	free(p.dl);
	if (p.too_many) {
		char **nd = vsl_reallocarray(r->diags, r->ndiags + 1, sizeof(*nd));
		if (nd) {
			r->diags = nd;
			nd[r->ndiags] = vsl_strdup_printf("%s: too many errors; stopping", r->path);
			if (nd[r->ndiags])
				r->ndiags++;
		}
	}
	*out = r;
	if (r->ndiags)
		return vsl_set_error(ctx, 0, VSL_EINVAL, "%s%s", r->diags[0],
				     r->ndiags > 1 ? " (and more errors)" : "");
	return 0;
}

int vsl_recipe_load(struct vsl_ctx *ctx, const char *path, const struct vsl_recipe_opts *opts,
		    struct vsl_recipe **out)
{
	int fd, rc;
	struct stat st;
	char *buf;
	size_t len = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vsl_set_error(ctx, errno, errno == ENOENT ? VSL_ENOENT : VSL_EIO, "%s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = vsl_set_error(ctx, S_ISDIR(st.st_mode) ? EISDIR : errno, VSL_EINVAL, "%s", path);
		close(fd);
		return rc;
	}
	if ((uint64_t)st.st_size > VSL_RECIPE_MAX_BYTES) {
		close(fd);
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: recipe is larger than %u MiB", path,
				     VSL_RECIPE_MAX_BYTES >> 20);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return vsl_set_error(ctx, ENOMEM, VSL_ENOMEM, "%s", path);
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = vsl_set_error(ctx, n < 0 ? errno : 0, VSL_EIO, "read %s", path);
			free(buf);
			close(fd);
			return rc;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	rc = vsl_recipe_parse(ctx, path, buf, len, opts, out);
	free(buf);
	return rc;
}

void vsl_recipe_free(struct vsl_recipe *r)
{
	if (!r)
		return;
	free(r->path); free(r->dir); free(r->name); free(r->description); free(r->arch);
	free(r->forwards);
	free(r->kernel_package); free(r->kernel_file); free(r->cmdline);
	for (size_t i = 0; i < r->npackages; i++)
		free(r->packages[i].name);
	free(r->packages);
	for (size_t i = 0; i < r->nmodules; i++)
		free(r->modules[i].name);
	free(r->modules);
	for (size_t i = 0; i < r->nfiles; i++) {
		free(r->files[i].path); free(r->files[i].content); free(r->files[i].source);
	}
	free(r->files);
	free(r->init);
	for (size_t i = 0; i < r->nsources; i++) {
		free(r->sources[i].name); free(r->sources[i].path);
		free(r->sources[i].package); free(r->sources[i].sha256);
	}
	free(r->sources);
	for (size_t i = 0; i < r->ndisks; i++) {
		struct vsl_recipe_disk *d = &r->disks[i];
		free(d->name); free(d->format); free(d->label); free(d->image);
		for (size_t j = 0; j < d->ncontents; j++) {
			free(d->contents[j].source); free(d->contents[j].to);
		}
		free(d->contents);
	}
	free(r->disks);
	for (size_t i = 0; i < r->nsteps; i++) {
		struct vsl_recipe_step *s = &r->steps[i];
		free(s->arg); free(s->target); free(s->content); free(s->to);
		free(s->link_target); free(s->line); free(s->match); free(s->replace);
		free(s->user);
	}
	free(r->steps);
	for (size_t i = 0; i < r->nvars; i++) {
		if (r->vars[i].value)
			explicit_bzero(r->vars[i].value, strlen(r->vars[i].value));
		free(r->vars[i].name); free(r->vars[i].value); free(r->vars[i].description);
	}
	free(r->vars);
	for (size_t i = 0; i < r->ndiags; i++)
		free(r->diags[i]);
	free(r->diags);
	free(r);
}

size_t vsl_recipe_ndiags(const struct vsl_recipe *r)
{
	return r ? r->ndiags : 0;
}

const char *vsl_recipe_diag(const struct vsl_recipe *r, size_t i)
{
	return r && i < r->ndiags ? r->diags[i] : NULL;
}

const char *vsl_recipe_step_name(enum vsl_recipe_step_kind kind)
{
	return (unsigned)kind < VSL_ARRAY_SIZE(step_names) - 1 ? step_names[kind] : "?";
}

const char *vsl_recipe_fs_name(enum vsl_recipe_fs fs)
{
	static const char *const n[] = { "ext4", "xfs", "vfat" };
	return (unsigned)fs < VSL_ARRAY_SIZE(n) ? n[fs] : "?";
}

const char *vsl_recipe_ptable_name(enum vsl_recipe_ptable pt)
{
	static const char *const n[] = { "none", "mbr", "gpt" };
	return (unsigned)pt < VSL_ARRAY_SIZE(n) ? n[pt] : "?";
}

char *vsl_recipe_where(const struct vsl_recipe *r, struct vsl_recipe_loc loc, char *buf,
		       size_t len)
{
	if (loc.line)
		snprintf(buf, len, "%s:%u:%u", r->path, loc.line, loc.col);
	else
		snprintf(buf, len, "%s", r->path);
	return buf;
}
