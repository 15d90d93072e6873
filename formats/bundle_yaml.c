/*
 * vessel.yaml: parse + validate (libyaml's loader) and emit (libyaml's
 * emitter). The schema is docs/bundle.md; this file is its executable form.
 *
 * Parsing loads the document into libyaml's node tree, then walks it once
 * against the schema below, collecting every problem with the line:col of
 * the node at fault instead of stopping at the first:
 *
 *	vessel.yaml:5:7: cpus: must be between 1 and 256, found 0
 *	vessel.yaml:9:3: boot: unknown key 'kernal' (did you mean 'kernel'?)
 *
 * A YAML syntax error stops the walk (there is no tree), and so does a
 * schema version other than 1: a reader never guesses at a schema it does
 * not know. Anchors/aliases are refused (a document may not share nodes),
 * which also bounds the walk by the input size (at most 1 MiB).
 *
 * Types are strict: integers and booleans must be plain (unquoted)
 * scalars; booleans are exactly true/false. Strings accept any scalar.
 *
 * Emitting writes keys in the schema's order with the schema version first
 * and leaves optional keys out when unset, so the same config always gives
 * the same bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "formats/bundle_priv.h"
#include "vessel/bundle.h"
#include "vessel/format.h"
#include "vessel/stream.h"
#include "vessel/suggest.h"

/* ---- the walker's state and reporting ---- */

struct ywalk {
	struct vsl_ctx *ctx;
	yaml_document_t *doc;
	const char *file;
	const char *dir;          /* NULL: do not look at files */
	struct vsl_problems *probs;
	bool oom;
};

static void yw_problem(struct ywalk *w, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void yw_problem(struct ywalk *w, const yaml_node_t *n, const char *fmt, ...)
{
	char *msg;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg || vsl_problems_add(w->probs, VSL_PROBLEM_ERROR, w->file,
				     n ? (int)n->start_mark.line + 1 : 0,
				     n ? (int)n->start_mark.column + 1 : 0, "%s", msg) < 0)
		w->oom = true;
	free(msg);
}

static yaml_node_t *yw_node(struct ywalk *w, int idx)
{
	return yaml_document_get_node(w->doc, idx);
}

static const char *yw_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a scalar";
	}
}

static const char *yw_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* A plain scalar that YAML reads as null: empty, "~", "null". */
static bool yw_is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = yw_text(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

/* ---- mappings against a key table ---- */

#define YW_MAX_KEYS 16

struct ykey {
	const char *name;
	bool required;
};

/*
 * Check that node is a mapping whose keys are all in keys[] (NULL-
 * terminated), none twice, every required one present. vals[i] receives the
 * value node of keys[i] (NULL when absent). Returns false when node is not
 * a mapping (already reported).
 */
static bool yw_map(struct ywalk *w, yaml_node_t *node, const char *path, const struct ykey *keys,
		   yaml_node_t **vals)
{
	const char *names[YW_MAX_KEYS + 1];
	yaml_node_t *keynodes[YW_MAX_KEYS] = { 0 };
	size_t nk = 0;

	while (keys[nk].name) {
		names[nk] = keys[nk].name;
		vals[nk] = NULL;
		nk++;
	}
	names[nk] = NULL;
	if (node->type != YAML_MAPPING_NODE) {
		if (yw_is_null(node))
			yw_problem(w, node, "%s: must not be empty (expected a mapping)", path);
		else
			yw_problem(w, node, "%s: expected a mapping, found %s", path, yw_kind(node));
		return false;
	}
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yw_node(w, p->key), *v = yw_node(w, p->value);
		const char *s;
		size_t i;

		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			yw_problem(w, k, "%s%skeys must be scalars, found %s", path ? path : "",
				   path ? ": " : "", yw_kind(k));
			continue;
		}
		s = yw_text(k);
		for (i = 0; i < nk && strcmp(s, names[i]); i++)
			;
		if (i == nk) {
			const char *sug = vsl_suggest_closest(s, names);
			if (sug)
				yw_problem(w, k, "%s%sunknown key '%s' (did you mean '%s'?)",
					   path ? path : "", path ? ": " : "", s, sug);
			else
				yw_problem(w, k, "%s%sunknown key '%s'", path ? path : "",
					   path ? ": " : "", s);
			continue;
		}
		if (keynodes[i]) {
			yw_problem(w, k, "%s%sduplicate key '%s' (first on line %d)", path ? path : "",
				   path ? ": " : "", s, (int)keynodes[i]->start_mark.line + 1);
			continue;
		}
		keynodes[i] = k;
		vals[i] = v;
	}
	for (size_t i = 0; i < nk; i++)
		if (keys[i].required && !vals[i])
			yw_problem(w, node, "%s%smissing required key '%s'", path ? path : "",
				   path ? ": " : "", keys[i].name);
	return true;
}

/* ---- typed scalars ---- */

/* A non-empty string; *out = strdup. */
static bool yw_str(struct ywalk *w, yaml_node_t *n, const char *path, char **out)
{
	if (n->type != YAML_SCALAR_NODE) {
		yw_problem(w, n, "%s: expected a string, found %s", path, yw_kind(n));
		return false;
	}
	if (yw_is_null(n) || !*yw_text(n)) {
		yw_problem(w, n, "%s: must not be empty", path);
		return false;
	}
	if (strlen(yw_text(n)) != n->data.scalar.length) {
		yw_problem(w, n, "%s: contains a NUL character", path);
		return false;
	}
	*out = strdup(yw_text(n));
	if (!*out)
		w->oom = true;
	return *out != NULL;
}

/* A plain decimal integer in [min, max]. */
static bool yw_uint(struct ywalk *w, yaml_node_t *n, const char *path, uint64_t min, uint64_t max,
		    uint64_t *out)
{
	const char *s;
	char *end;
	unsigned long long v;

	if (n->type != YAML_SCALAR_NODE) {
		yw_problem(w, n, "%s: expected an integer, found %s", path, yw_kind(n));
		return false;
	}
	s = yw_text(n);
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !*s ||
	    strspn(s, "0123456789") != strlen(s)) {
		if (yw_is_null(n))
			yw_problem(w, n, "%s: must not be empty (expected an integer)", path);
		else if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			yw_problem(w, n, "%s: expected an integer, found the quoted string '%s'", path, s);
		else
			yw_problem(w, n, "%s: expected an integer, found '%s'", path, s);
		return false;
	}
	if (s[0] == '0' && s[1]) {
		/* YAML 1.1 reads 010 as octal 8: refuse rather than guess */
		yw_problem(w, n, "%s: leading zeros are ambiguous, found '%s'", path, s);
		return false;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || v < min || v > max) {
		yw_problem(w, n, "%s: must be between %llu and %llu, found %s", path,
			   (unsigned long long)min, (unsigned long long)max, s);
		return false;
	}
	*out = v;
	return true;
}

static bool yw_bool(struct ywalk *w, yaml_node_t *n, const char *path, bool *out)
{
	if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (!strcmp(yw_text(n), "true")) {
			*out = true;
			return true;
		}
		if (!strcmp(yw_text(n), "false")) {
			*out = false;
			return true;
		}
	}
	if (n->type != YAML_SCALAR_NODE)
		yw_problem(w, n, "%s: expected true or false, found %s", path, yw_kind(n));
	else
		yw_problem(w, n, "%s: expected true or false, found '%s'", path, yw_text(n));
	return false;
}

/* One of names[] (NULL-terminated); *idx = its index. */
static bool yw_enum(struct ywalk *w, yaml_node_t *n, const char *path, const char *const *names,
		    int *idx)
{
	char expected[256] = "";
	const char *s, *sug;
	size_t len = 0;

	if (n->type == YAML_SCALAR_NODE) {
		s = yw_text(n);
		for (int i = 0; names[i]; i++)
			if (!strcmp(s, names[i])) {
				*idx = i;
				return true;
			}
	}
	for (int i = 0; names[i]; i++)
		len += (size_t)snprintf(expected + len, sizeof(expected) - VSL_MIN(len, sizeof(expected)),
					"%s%s", i == 0 ? "" : names[i + 1] ? ", " : " or ", names[i]);
	if (n->type != YAML_SCALAR_NODE) {
		yw_problem(w, n, "%s: expected %s, found %s", path, expected, yw_kind(n));
		return false;
	}
	sug = vsl_suggest_closest(yw_text(n), names);
	if (sug)
		yw_problem(w, n, "%s: unknown value '%s' (expected %s; did you mean '%s'?)", path,
			   yw_text(n), expected, sug);
	else
		yw_problem(w, n, "%s: unknown value '%s' (expected %s)", path, yw_text(n), expected);
	return false;
}

/*
 * A bundle-relative path: syntax always; with a directory, it must also
 * resolve inside the bundle to an existing regular file.
 */
static bool yw_path(struct ywalk *w, yaml_node_t *n, const char *path, char **out)
{
	char *abs = NULL;
	struct stat st;
	int r;

	if (!yw_str(w, n, path, out))
		return false;
	if (vsl_bundle_check_relpath(w->ctx, *out) < 0) {
		yw_problem(w, n, "%s: %s", path, vsl_ctx_error(w->ctx));
		return false;
	}
	if (!w->dir)
		return true;
	r = vsl_bundle_resolve_path(w->ctx, w->dir, *out, &abs);
	if (r < 0) {
		yw_problem(w, n, "%s: %s", path, vsl_ctx_error(w->ctx));
		return false;
	}
	if (stat(abs, &st) < 0 || !S_ISREG(st.st_mode))
		yw_problem(w, n, "%s: '%s' is not a regular file", path, *out);
	free(abs);
	return true;
}

/* ---- the schema, section by section ---- */

static const char *const yw_arches[] = { "x86_64", NULL };
static const char *const yw_formats[] = { "raw", "qcow2", "vmdk", "vpc", NULL };
static const char *const yw_buses[] = { "virtio", "ide", NULL };     /* enum vsl_disk_bus */
static const char *const yw_firmwares[] = { "bios", "uefi", NULL };  /* enum vsl_firmware */
static const char *const yw_modes[] = { "user", "none", NULL };      /* enum vsl_net_mode */
static const char *const yw_models[] = { "virtio", NULL };
static const char *const yw_protos[] = { "tcp", "udp", NULL };       /* enum vsl_net_proto */
static const char *const yw_ports[] = { "com1", "com2", "com3", "com4", NULL };
static const char *const yw_outputs[] = { "stdio", "none", NULL };   /* vsl_serial_output */

static void yw_memory(struct ywalk *w, yaml_node_t *n, struct vsl_bundle_config *cfg)
{
	char lo[32], hi[32], got[32];
	uint64_t v;
	int r;

	if (n->type != YAML_SCALAR_NODE || yw_is_null(n)) {
		yw_problem(w, n, "memory: expected a size such as 512M or 2G, found %s",
			   n->type == YAML_SCALAR_NODE ? "nothing" : yw_kind(n));
		return;
	}
	r = vsl_parse_size(yw_text(n), &v);
	if (r == VSL_EINVAL) {
		yw_problem(w, n, "memory: expected a size such as 512M or 2G (or bytes), found '%s'",
			   yw_text(n));
		return;
	}
	vsl_format_size(VSL_BUNDLE_MEM_MIN, lo, sizeof(lo));
	vsl_format_size(VSL_BUNDLE_MEM_MAX, hi, sizeof(hi));
	if (r == VSL_ERANGE || v < VSL_BUNDLE_MEM_MIN || v > VSL_BUNDLE_MEM_MAX) {
		if (r == VSL_ERANGE)
			snprintf(got, sizeof(got), "more than 16 EiB");
		else
			vsl_format_size(v, got, sizeof(got));
		yw_problem(w, n, "memory: must be between %s and %s, found %s (%s)", lo, hi, yw_text(n),
			   got);
		return;
	}
	if (v % 4096) {
		yw_problem(w, n, "memory: must be a multiple of 4 KiB, found %s", yw_text(n));
		return;
	}
	cfg->memory = v;
}

static void yw_boot(struct ywalk *w, yaml_node_t *n, struct vsl_bundle_config *cfg)
{
	static const struct ykey keys[] = {
		{ "kernel", false }, { "initrd", false }, { "cmdline", false },
		{ "firmware", false }, { "disk", false }, { NULL, false }
	};
	enum { K_KERNEL, K_INITRD, K_CMDLINE, K_FIRMWARE, K_DISK };
	struct vsl_bundle_boot *b = &cfg->boot;
	yaml_node_t *v[VSL_ARRAY_SIZE(keys)];
	int idx;

	if (!yw_map(w, n, "boot", keys, v))
		return;
	if (v[K_KERNEL] && v[K_FIRMWARE]) {
		yw_problem(w, v[K_FIRMWARE], "boot: give either 'kernel' (direct Linux boot) or "
			   "'firmware' (boot from a disk), not both");
		return;
	}
	if (!v[K_KERNEL] && !v[K_FIRMWARE]) {
		yw_problem(w, n, "boot: missing 'kernel' (direct Linux boot) or 'firmware' (boot from "
			   "a disk)");
		return;
	}
	if (v[K_KERNEL]) {
		b->kind = VSL_BOOT_KERNEL;
		yw_path(w, v[K_KERNEL], "boot.kernel", &b->kernel);
		if (v[K_INITRD])
			yw_path(w, v[K_INITRD], "boot.initrd", &b->initrd);
		if (v[K_CMDLINE])
			yw_str(w, v[K_CMDLINE], "boot.cmdline", &b->cmdline);
		if (v[K_DISK])
			yw_problem(w, v[K_DISK], "boot.disk: only used with 'firmware'");
		return;
	}
	b->kind = VSL_BOOT_FIRMWARE;
	if (yw_enum(w, v[K_FIRMWARE], "boot.firmware", yw_firmwares, &idx))
		b->firmware = (enum vsl_firmware)idx;
	if (v[K_INITRD])
		yw_problem(w, v[K_INITRD], "boot.initrd: only used with 'kernel'");
	if (v[K_CMDLINE])
		yw_problem(w, v[K_CMDLINE], "boot.cmdline: only used with 'kernel'");
	if (!v[K_DISK])
		yw_problem(w, n, "boot: missing required key 'disk' (the disk to boot with firmware)");
	else
		yw_str(w, v[K_DISK], "boot.disk", &b->disk);
}

/*
 * With a directory: the image must be what its format says (probed by
 * magic, as qemu-img does), open cleanly, and any backing file it names
 * must itself lie inside the bundle. A raw declaration of a file that
 * looks like another format is only a warning (a raw disk's guest may
 * have written anything), the other way round an error.
 */
static void yw_disk_image(struct ywalk *w, yaml_node_t *fnode, yaml_node_t *fmtnode, int i,
			  const struct vsl_bundle_disk *d)
{
	const struct vsl_format_ops *ops;
	struct vsl_image *img = NULL;
	struct vsl_stream *s;
	char *abs = NULL, *root = NULL;

	if (!w->dir || !d->file || !d->format ||
	    vsl_bundle_resolve_path(w->ctx, w->dir, d->file, &abs) < 0)
		return;
	if (vsl_stream_open_file(w->ctx, abs, VSL_STREAM_RDONLY, &s) < 0)
		goto out; /* not a regular file: reported by yw_path */
	ops = vsl_format_probe(s);
	vsl_stream_free(s);
	if (ops && strcmp(ops->name, d->format)) {
		if (!strcmp(d->format, "raw")) {
			if (vsl_problems_add(w->probs, VSL_PROBLEM_WARNING, w->file,
					     (int)fmtnode->start_mark.line + 1,
					     (int)fmtnode->start_mark.column + 1,
					     "disks[%d].format: raw, but '%s' looks like a %s image", i,
					     d->file, ops->name) < 0)
				w->oom = true;
		} else {
			yw_problem(w, fmtnode, "disks[%d].format: '%s' is not a %s image (it looks "
				   "like %s)", i, d->file, d->format, ops->name);
		}
		goto out;
	}
	if (vsl_image_open(w->ctx, abs, d->format, VSL_IMAGE_RDONLY, &img) < 0) {
		yw_problem(w, fnode, "disks[%d].file: %s", i, vsl_ctx_error(w->ctx));
		goto out;
	}
	root = realpath(w->dir, NULL);
	for (struct vsl_image *b = img->backing; b && root; b = b->backing) {
		char *real = b->path ? realpath(b->path, NULL) : NULL;
		size_t n = strlen(root);

		if (!real || strncmp(real, root, n) || real[n] != '/') {
			/* name it as the image does: relative to the top image's directory */
			const char *shown = b->path ? b->path : "(unnamed)";
			const char *slash = strrchr(abs, '/');
			size_t dl = slash ? (size_t)(slash - abs) + 1 : 0;

			if (dl && !strncmp(shown, abs, dl))
				shown += dl;
			yw_problem(w, fnode, "disks[%d].file: backing file '%s' is outside the bundle", i,
				   shown);
		}
		free(real);
	}
out:
	if (img)
		vsl_image_close(img);
	free(root);
	free(abs);
}

static void yw_disks(struct ywalk *w, yaml_node_t *n, struct vsl_bundle_config *cfg)
{
	static const struct ykey keys[] = {
		{ "name", true }, { "file", true }, { "format", true }, { "bus", false },
		{ "read-only", false }, { NULL, false }
	};
	enum { K_NAME, K_FILE, K_FORMAT, K_BUS, K_RO };
	int i = 0;

	if (n->type != YAML_SEQUENCE_NODE) {
		yw_problem(w, n, "disks: expected a list, found %s", yw_kind(n));
		return;
	}
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		yaml_node_t *e = yw_node(w, *it), *v[VSL_ARRAY_SIZE(keys)];
		struct vsl_bundle_disk *d;
		char path[64];
		int idx;

		snprintf(path, sizeof(path), "disks[%d]", i);
		if (!e || !yw_map(w, e, path, keys, v))
			continue;
		d = vsl_bundle_config_add_disk(cfg);
		if (!d) {
			w->oom = true;
			return;
		}
		snprintf(path, sizeof(path), "disks[%d].name", i);
		if (v[K_NAME] && yw_str(w, v[K_NAME], path, &d->name)) {
			if (!bundle_name_ok(d->name))
				yw_problem(w, v[K_NAME], "%s: '%s' is not a valid name (letters, digits, "
					   "'.', '_', '-'; at most %d)", path, d->name,
					   VSL_BUNDLE_NAME_MAX);
			for (size_t j = 0; j + 1 < cfg->ndisks; j++)
				if (cfg->disks[j].name && !strcmp(cfg->disks[j].name, d->name))
					yw_problem(w, v[K_NAME], "%s: duplicate disk name '%s' (also "
						   "disks[%zu])", path, d->name, j);
		}
		snprintf(path, sizeof(path), "disks[%d].file", i);
		if (v[K_FILE])
			yw_path(w, v[K_FILE], path, &d->file);
		snprintf(path, sizeof(path), "disks[%d].format", i);
		if (v[K_FORMAT] && yw_enum(w, v[K_FORMAT], path, yw_formats, &idx) &&
		    !(d->format = strdup(yw_formats[idx])))
			w->oom = true;
		snprintf(path, sizeof(path), "disks[%d].bus", i);
		if (v[K_BUS] && yw_enum(w, v[K_BUS], path, yw_buses, &idx))
			d->bus = (enum vsl_disk_bus)idx;
		snprintf(path, sizeof(path), "disks[%d].read-only", i);
		if (v[K_RO])
			yw_bool(w, v[K_RO], path, &d->readonly);
		if (v[K_FILE] && v[K_FORMAT])
			yw_disk_image(w, v[K_FILE], v[K_FORMAT], i, d);
	}
}

static bool yw_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++) {
		if (s[i * 3 + 2] != ':' && i < 5)
			return false;
		mac[i] = (uint8_t)b[i];
	}
	return true;
}

static void yw_forwards(struct ywalk *w, yaml_node_t *n, const char *nicpath,
			struct vsl_bundle_nic *nic)
{
	static const struct ykey keys[] = {
		{ "protocol", false }, { "host-address", false }, { "host", true }, { "guest", true },
		{ NULL, false }
	};
	enum { K_PROTO, K_ADDR, K_HOST, K_GUEST };
	int i = 0;

	if (n->type != YAML_SEQUENCE_NODE) {
		yw_problem(w, n, "%s.forward: expected a list, found %s", nicpath, yw_kind(n));
		return;
	}
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		yaml_node_t *e = yw_node(w, *it), *v[VSL_ARRAY_SIZE(keys)];
		struct vsl_bundle_forward *f;
		char path[96];
		uint64_t port;
		int idx;

		snprintf(path, sizeof(path), "%s.forward[%d]", nicpath, i);
		if (!e || !yw_map(w, e, path, keys, v))
			continue;
		f = vsl_bundle_nic_add_forward(nic);
		if (!f) {
			w->oom = true;
			return;
		}
		snprintf(path, sizeof(path), "%s.forward[%d].protocol", nicpath, i);
		if (v[K_PROTO] && yw_enum(w, v[K_PROTO], path, yw_protos, &idx))
			f->proto = (enum vsl_net_proto)idx;
		snprintf(path, sizeof(path), "%s.forward[%d].host-address", nicpath, i);
		if (v[K_ADDR] && yw_str(w, v[K_ADDR], path, &f->host_addr)) {
			struct in_addr a;
			if (inet_pton(AF_INET, f->host_addr, &a) != 1)
				yw_problem(w, v[K_ADDR], "%s: '%s' is not an IPv4 address", path,
					   f->host_addr);
		}
		snprintf(path, sizeof(path), "%s.forward[%d].host", nicpath, i);
		if (v[K_HOST] && yw_uint(w, v[K_HOST], path, 1, 65535, &port))
			f->host_port = (uint16_t)port;
		snprintf(path, sizeof(path), "%s.forward[%d].guest", nicpath, i);
		if (v[K_GUEST] && yw_uint(w, v[K_GUEST], path, 1, 65535, &port))
			f->guest_port = (uint16_t)port;
	}
}

static void yw_network(struct ywalk *w, yaml_node_t *n, struct vsl_bundle_config *cfg)
{
	static const struct ykey keys[] = {
		{ "mode", true }, { "model", false }, { "mac", false }, { "forward", false },
		{ NULL, false }
	};
	enum { K_MODE, K_MODEL, K_MAC, K_FWD };
	int i = 0;

	if (n->type != YAML_SEQUENCE_NODE) {
		yw_problem(w, n, "network: expected a list of network cards, found %s", yw_kind(n));
		return;
	}
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		yaml_node_t *e = yw_node(w, *it), *v[VSL_ARRAY_SIZE(keys)];
		struct vsl_bundle_nic *nic;
		char path[64], sub[80];
		int idx;

		snprintf(path, sizeof(path), "network[%d]", i);
		if (!e || !yw_map(w, e, path, keys, v))
			continue;
		nic = vsl_bundle_config_add_nic(cfg);
		if (!nic) {
			w->oom = true;
			return;
		}
		snprintf(sub, sizeof(sub), "%s.mode", path);
		if (v[K_MODE] && yw_enum(w, v[K_MODE], sub, yw_modes, &idx))
			nic->mode = (enum vsl_net_mode)idx;
		snprintf(sub, sizeof(sub), "%s.model", path);
		if (v[K_MODEL] && yw_enum(w, v[K_MODEL], sub, yw_models, &idx) &&
		    !(nic->model = strdup(yw_models[idx])))
			w->oom = true;
		snprintf(sub, sizeof(sub), "%s.mac", path);
		if (v[K_MAC]) {
			if (v[K_MAC]->type != YAML_SCALAR_NODE || !yw_parse_mac(yw_text(v[K_MAC]), nic->mac))
				yw_problem(w, v[K_MAC], "%s: expected a MAC address such as "
					   "52:54:00:12:34:56, found %s%s%s", sub,
					   v[K_MAC]->type == YAML_SCALAR_NODE ? "'" : "",
					   v[K_MAC]->type == YAML_SCALAR_NODE ? yw_text(v[K_MAC])
									      : yw_kind(v[K_MAC]),
					   v[K_MAC]->type == YAML_SCALAR_NODE ? "'" : "");
			else if (nic->mac[0] & 1)
				yw_problem(w, v[K_MAC], "%s: %s is a multicast address", sub,
					   yw_text(v[K_MAC]));
			else
				nic->has_mac = true;
		}
		if (v[K_FWD]) {
			if (nic->mode == VSL_NET_NONE && v[K_MODE])
				yw_problem(w, v[K_FWD], "%s.forward: needs mode 'user'", path);
			yw_forwards(w, v[K_FWD], path, nic);
		}
	}
	/* one host port can be forwarded once per protocol */
	for (size_t a = 0; a < cfg->nnics; a++)
		for (size_t fa = 0; fa < cfg->nics[a].nforwards; fa++)
			for (size_t b = a; b < cfg->nnics; b++)
				for (size_t fb = b == a ? fa + 1 : 0; fb < cfg->nics[b].nforwards; fb++) {
					struct vsl_bundle_forward *x = &cfg->nics[a].forwards[fa];
					struct vsl_bundle_forward *y = &cfg->nics[b].forwards[fb];
					if (x->host_port && x->host_port == y->host_port &&
					    x->proto == y->proto)
						yw_problem(w, n, "network: host port %u/%s is "
							   "forwarded twice", x->host_port,
							   vsl_bundle_proto_name(x->proto));
				}
}

static void yw_serial(struct ywalk *w, yaml_node_t *n, struct vsl_bundle_config *cfg)
{
	static const struct ykey keys[] = { { "port", false }, { "output", false }, { NULL, false } };
	yaml_node_t *v[VSL_ARRAY_SIZE(keys)];
	int idx;

	if (!yw_map(w, n, "serial", keys, v))
		return;
	if (v[0] && yw_enum(w, v[0], "serial.port", yw_ports, &idx))
		cfg->serial.port = (unsigned)idx + 1;
	if (v[1] && yw_enum(w, v[1], "serial.output", yw_outputs, &idx))
		cfg->serial.output = (enum vsl_serial_output)idx;
}

static bool yw_is_sha256(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* guest.KEY: a string of printable characters (it is shown by inspect), bounded. */
static void yw_guest_str(struct ywalk *w, yaml_node_t *n, const char *key, char **out)
{
	char path[32];

	snprintf(path, sizeof(path), "guest.%s", key);
	if (!yw_str(w, n, path, out))
		return;
	if (!vsl_bundle_guest_str_ok(*out))
		yw_problem(w, n, "%s: must be at most %d printable characters (no control "
			   "characters)", path, VSL_BUNDLE_GUEST_STR_MAX);
}

static void yw_guest(struct ywalk *w, yaml_node_t *n, struct vsl_bundle_config *cfg)
{
	static const struct ykey keys[] = {
		{ "os", false }, { "distro", false }, { "version", false }, { "product", false },
		{ NULL, false }
	};
	struct vsl_bundle_guest *g = &cfg->guest;
	char **dst[] = { &g->os, &g->distro, &g->version, &g->product };
	yaml_node_t *v[VSL_ARRAY_SIZE(keys)];

	if (!yw_map(w, n, "guest", keys, v))
		return;
	for (size_t i = 0; i < VSL_ARRAY_SIZE(dst); i++)
		if (v[i])
			yw_guest_str(w, v[i], keys[i].name, dst[i]);
}

static void yw_provenance(struct ywalk *w, yaml_node_t *n, struct vsl_bundle_config *cfg)
{
	static const struct ykey keys[] = {
		{ "recipe", false }, { "recipe-digest", false }, { "vessel-version", false },
		{ "sources", false }, { NULL, false }
	};
	static const struct ykey skeys[] = { { "uri", true }, { "sha256", false }, { NULL, false } };
	enum { K_RECIPE, K_DIGEST, K_VERSION, K_SOURCES };
	struct vsl_bundle_provenance *p = &cfg->provenance;
	yaml_node_t *v[VSL_ARRAY_SIZE(keys)];
	int i = 0;

	if (!yw_map(w, n, "provenance", keys, v))
		return;
	if (v[K_RECIPE])
		yw_str(w, v[K_RECIPE], "provenance.recipe", &p->recipe);
	if (v[K_DIGEST] && yw_str(w, v[K_DIGEST], "provenance.recipe-digest", &p->recipe_digest) &&
	    (strncmp(p->recipe_digest, "sha256:", 7) || !yw_is_sha256(p->recipe_digest + 7)))
		yw_problem(w, v[K_DIGEST], "provenance.recipe-digest: expected 'sha256:' and 64 "
			   "lowercase hex digits");
	if (v[K_VERSION])
		yw_str(w, v[K_VERSION], "provenance.vessel-version", &p->vessel_version);
	if (!v[K_SOURCES])
		return;
	if (v[K_SOURCES]->type != YAML_SEQUENCE_NODE) {
		yw_problem(w, v[K_SOURCES], "provenance.sources: expected a list, found %s",
			   yw_kind(v[K_SOURCES]));
		return;
	}
	for (yaml_node_item_t *it = v[K_SOURCES]->data.sequence.items.start;
	     it < v[K_SOURCES]->data.sequence.items.top; it++, i++) {
		yaml_node_t *e = yw_node(w, *it), *sv[VSL_ARRAY_SIZE(skeys)];
		struct vsl_bundle_source *s;
		char path[64];

		snprintf(path, sizeof(path), "provenance.sources[%d]", i);
		if (!e || !yw_map(w, e, path, skeys, sv))
			continue;
		s = vsl_bundle_config_add_source(cfg);
		if (!s) {
			w->oom = true;
			return;
		}
		snprintf(path, sizeof(path), "provenance.sources[%d].uri", i);
		if (sv[0])
			yw_str(w, sv[0], path, &s->uri);
		snprintf(path, sizeof(path), "provenance.sources[%d].sha256", i);
		if (sv[1] && yw_str(w, sv[1], path, &s->sha256) && !yw_is_sha256(s->sha256))
			yw_problem(w, sv[1], "%s: expected 64 lowercase hex digits", path);
	}
}

/* Refuse shared nodes (aliases): each node may be reached once. */
static bool yw_check_aliases(struct ywalk *w, int idx, unsigned char *seen, int nnodes, int depth)
{
	yaml_node_t *n = yw_node(w, idx);

	if (!n)
		return true;
	if (seen[idx - 1]) {
		yw_problem(w, n, "anchors and aliases are not allowed in vessel.yaml");
		return false;
	}
	seen[idx - 1] = 1;
	if (depth > 64) {
		yw_problem(w, n, "nested more than 64 levels deep");
		return false;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
		     it++)
			if (!yw_check_aliases(w, *it, seen, nnodes, depth + 1))
				return false;
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
		     p++)
			if (!yw_check_aliases(w, p->key, seen, nnodes, depth + 1) ||
			    !yw_check_aliases(w, p->value, seen, nnodes, depth + 1))
				return false;
	}
	return true;
}

static void yw_top(struct ywalk *w, yaml_node_t *root, struct vsl_bundle_config *cfg)
{
	static const struct ykey keys[] = {
		{ "vessel-bundle", true }, { "name", true }, { "arch", true }, { "cpus", true },
		{ "memory", true }, { "boot", true }, { "disks", false }, { "network", false },
		{ "serial", false }, { "guest", false }, { "provenance", false }, { NULL, false }
	};
	enum { K_SCHEMA, K_NAME, K_ARCH, K_CPUS, K_MEMORY, K_BOOT, K_DISKS, K_NET, K_SERIAL, K_GUEST,
	       K_PROV };
	yaml_node_t *v[VSL_ARRAY_SIZE(keys)];
	yaml_node_t *first;
	uint64_t u;
	int idx;

	if (root->type != YAML_MAPPING_NODE) {
		yw_problem(w, root, "expected a mapping of keys (vessel-bundle, name, ...), found %s",
			   yw_kind(root));
		return;
	}
	/* the schema version decides how to read the rest: check it alone first */
	v[K_SCHEMA] = NULL;
	first = NULL;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yw_node(w, p->key);
		if (!k)
			continue;
		if (!first)
			first = k;
		if (k->type == YAML_SCALAR_NODE && !strcmp(yw_text(k), "vessel-bundle") && !v[K_SCHEMA])
			v[K_SCHEMA] = yw_node(w, p->value);
	}
	if (!v[K_SCHEMA]) {
		yw_problem(w, first ? first : root, "missing 'vessel-bundle: %d' (the schema version) "
			   "as the first key", VSL_BUNDLE_SCHEMA);
		return;
	}
	if (v[K_SCHEMA]->type != YAML_SCALAR_NODE ||
	    v[K_SCHEMA]->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    strspn(yw_text(v[K_SCHEMA]), "0123456789") != strlen(yw_text(v[K_SCHEMA])) ||
	    !*yw_text(v[K_SCHEMA]) || (yw_text(v[K_SCHEMA])[0] == '0' && yw_text(v[K_SCHEMA])[1])) {
		yw_problem(w, v[K_SCHEMA], "vessel-bundle: expected the schema version %d",
			   VSL_BUNDLE_SCHEMA);
		return;
	}
	if (strcmp(yw_text(v[K_SCHEMA]), "1")) {
		const char *s = yw_text(v[K_SCHEMA]);
		if (strlen(s) > 1 || s[0] > '1')
			yw_problem(w, v[K_SCHEMA], "vessel-bundle: schema version %s is newer than "
				   "this vessel reads (%d); upgrade vessel to read this bundle", s,
				   VSL_BUNDLE_SCHEMA);
		else
			yw_problem(w, v[K_SCHEMA], "vessel-bundle: schema version %s does not exist; "
				   "this vessel reads version %d", s, VSL_BUNDLE_SCHEMA);
		return;
	}
	if (first && (first->type != YAML_SCALAR_NODE || strcmp(yw_text(first), "vessel-bundle")))
		yw_problem(w, first, "'vessel-bundle' must be the first key");
	cfg->facts.parsed = true;

	if (!yw_map(w, root, NULL, keys, v))
		return;
	if (v[K_NAME] && yw_str(w, v[K_NAME], "name", &cfg->name) && !bundle_name_ok(cfg->name))
		yw_problem(w, v[K_NAME], "name: '%s' is not a valid name (letters, digits, '.', '_', "
			   "'-'; at most %d)", cfg->name, VSL_BUNDLE_NAME_MAX);
	if (v[K_ARCH] && yw_enum(w, v[K_ARCH], "arch", yw_arches, &idx) &&
	    !(cfg->arch = strdup(yw_arches[idx])))
		w->oom = true;
	if (v[K_CPUS] && yw_uint(w, v[K_CPUS], "cpus", 1, VSL_BUNDLE_CPUS_MAX, &u))
		cfg->cpus = (unsigned)u;
	if (v[K_MEMORY])
		yw_memory(w, v[K_MEMORY], cfg);
	if (v[K_BOOT])
		yw_boot(w, v[K_BOOT], cfg);
	if (v[K_DISKS])
		yw_disks(w, v[K_DISKS], cfg);
	if (v[K_NET])
		yw_network(w, v[K_NET], cfg);
	if (v[K_SERIAL])
		yw_serial(w, v[K_SERIAL], cfg);
	if (v[K_GUEST])
		yw_guest(w, v[K_GUEST], cfg);
	if (v[K_PROV])
		yw_provenance(w, v[K_PROV], cfg);
	/* cross-references, once every section is read */
	if (cfg->boot.kind == VSL_BOOT_FIRMWARE && cfg->boot.disk &&
	    !vsl_bundle_config_disk(cfg, cfg->boot.disk)) {
		yaml_node_t *bn = NULL;

		/* find the value node again for its position (boot is small) */
		for (yaml_node_pair_t *p = v[K_BOOT]->data.mapping.pairs.start;
		     p < v[K_BOOT]->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yw_node(w, p->key);
			if (k && k->type == YAML_SCALAR_NODE && !strcmp(yw_text(k), "disk"))
				bn = yw_node(w, p->value);
		}
		yw_problem(w, bn ? bn : v[K_BOOT], "boot.disk: no disk named '%s' in disks",
			   cfg->boot.disk);
	}
}

/* Problems of one document in line:col order (stable: insertion sort, lists are short). */
static void yw_sort(struct vsl_problems *pr, size_t from)
{
	for (size_t i = from + 1; i < pr->count; i++) {
		struct vsl_problem t = pr->items[i];
		size_t j = i;

		while (j > from && (pr->items[j - 1].line > t.line ||
				    (pr->items[j - 1].line == t.line && pr->items[j - 1].col > t.col))) {
			pr->items[j] = pr->items[j - 1];
			j--;
		}
		pr->items[j] = t;
	}
}

int bundle_parse(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
		 const char *dir, struct vsl_bundle_config *cfg, struct vsl_problems *probs)
{
	struct vsl_problems local;
	struct ywalk w = { .ctx = ctx, .file = file, .dir = dir, .probs = probs };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	size_t errors_before, count_before;
	yaml_node_t *root;
	int r = 0;

	vsl_bundle_config_init(cfg);
	if (!w.probs) {
		vsl_problems_init(&local);
		w.probs = &local;
	}
	errors_before = w.probs->errors;
	count_before = w.probs->count;
	if (len > VSL_BUNDLE_CONFIG_MAX) {
		vsl_problems_add(w.probs, VSL_PROBLEM_ERROR, file, 0, 0, "larger than %u bytes",
				 VSL_BUNDLE_CONFIG_MAX);
		goto done;
	}
	if (!yaml_parser_initialize(&parser)) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		if (parser.error == YAML_MEMORY_ERROR) {
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		} else if (parser.context) {
			vsl_problems_add(w.probs, VSL_PROBLEM_ERROR, file,
					 (int)parser.problem_mark.line + 1,
					 (int)parser.problem_mark.column + 1, "%s (%s at line %d)",
					 parser.problem ? parser.problem : "syntax error", parser.context,
					 (int)parser.context_mark.line + 1);
		} else {
			vsl_problems_add(w.probs, VSL_PROBLEM_ERROR, file,
					 (int)parser.problem_mark.line + 1,
					 (int)parser.problem_mark.column + 1, "%s",
					 parser.problem ? parser.problem : "syntax error");
		}
		yaml_parser_delete(&parser);
		goto done;
	}
	w.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		vsl_problems_add(w.probs, VSL_PROBLEM_ERROR, file, 1, 1,
				 "empty document (expected 'vessel-bundle: %d' and the configuration)",
				 VSL_BUNDLE_SCHEMA);
	} else {
		int nnodes = (int)(doc.nodes.top - doc.nodes.start);
		unsigned char *seen = calloc((size_t)nnodes + 1, 1);

		if (!seen) {
			w.oom = true;
		} else if (yw_check_aliases(&w, 1, seen, nnodes, 0)) {
			/* a second document in the stream is not ours to guess about */
			if (!yaml_parser_load(&parser, &extra)) {
				vsl_problems_add(w.probs, VSL_PROBLEM_ERROR, file,
						 (int)parser.problem_mark.line + 1,
						 (int)parser.problem_mark.column + 1, "%s",
						 parser.problem ? parser.problem : "syntax error");
			} else {
				yaml_node_t *xr = yaml_document_get_root_node(&extra);
				if (xr)
					vsl_problems_add(w.probs, VSL_PROBLEM_ERROR, file,
							 (int)xr->start_mark.line + 1,
							 (int)xr->start_mark.column + 1,
							 "more than one YAML document");
				yaml_document_delete(&extra);
			}
			yw_top(&w, root, cfg);
		}
		free(seen);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	yw_sort(w.probs, count_before);
	if (w.oom)
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
done:
	if (r == 0 && w.probs->errors > errors_before) {
		char first[1024] = "";
		for (size_t i = 0; i < w.probs->count; i++)
			if (w.probs->items[i].severity == VSL_PROBLEM_ERROR) {
				vsl_problem_format(&w.probs->items[i], first, sizeof(first));
				break;
			}
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s", first);
	}
out:
	if (w.probs == &local)
		vsl_problems_fini(&local);
	return r;
}

int vsl_bundle_parse_config(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
			    struct vsl_bundle_config *cfg, struct vsl_problems *probs)
{
	return bundle_parse(ctx, text, len, file ? file : VSL_BUNDLE_CONFIG, NULL, cfg, probs);
}
