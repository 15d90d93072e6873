/*
 * Writing vessel.yaml: check an in-memory config against the schema, then
 * emit it with libyaml's emitter.
 *
 * The output is deterministic: keys in the order of docs/bundle.md
 * (vessel-bundle first), optional keys left out when unset, block style,
 * no line folding, memory as its largest exact binary unit ("512M"),
 * strings that another YAML reader would take for a number, boolean or
 * null double-quoted. Example:
 *
 *	vessel-bundle: 1
 *	name: web
 *	arch: x86_64
 *	cpus: 2
 *	memory: 512M
 *	boot:
 *	  kernel: boot/vmlinuz
 *	...
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "formats/bundle_priv.h"
#include "vessel/bundle.h"

/* ---- checking a config built in memory ---- */

static bool check_sha256(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool check_format(const char *f)
{
	static const char *const names[] = { "raw", "qcow2", "vmdk", "vpc" };

	for (size_t i = 0; f && i < VSL_ARRAY_SIZE(names); i++)
		if (!strcmp(f, names[i]))
			return true;
	return false;
}

#define CHK(cond, ...) \
	do { \
		if (!(cond)) \
			vsl_problems_add(pr, VSL_PROBLEM_ERROR, "", 0, 0, __VA_ARGS__); \
	} while (0)

int vsl_bundle_config_check(struct vsl_ctx *ctx, const struct vsl_bundle_config *cfg,
			    struct vsl_problems *probs)
{
	struct vsl_problems local, *pr = probs;
	size_t before;
	int r = 0;

	if (!pr) {
		vsl_problems_init(&local);
		pr = &local;
	}
	before = pr->errors;
	CHK(cfg->schema == VSL_BUNDLE_SCHEMA, "vessel-bundle: schema %u is not %d", cfg->schema,
	    VSL_BUNDLE_SCHEMA);
	CHK(bundle_name_ok(cfg->name), "name: %s%s%s is not a valid name", cfg->name ? "'" : "",
	    cfg->name ? cfg->name : "(unset)", cfg->name ? "'" : "");
	CHK(cfg->arch && !strcmp(cfg->arch, "x86_64"), "arch: must be x86_64");
	CHK(cfg->cpus >= 1 && cfg->cpus <= VSL_BUNDLE_CPUS_MAX, "cpus: must be between 1 and %u, "
	    "found %u", VSL_BUNDLE_CPUS_MAX, cfg->cpus);
	CHK(cfg->memory >= VSL_BUNDLE_MEM_MIN && cfg->memory <= VSL_BUNDLE_MEM_MAX &&
	    cfg->memory % 4096 == 0, "memory: must be a multiple of 4 KiB between 16 MiB and 1 TiB, "
	    "found %llu bytes", (unsigned long long)cfg->memory);
	switch (cfg->boot.kind) {
	case VSL_BOOT_KERNEL:
		CHK(vsl_bundle_check_relpath(NULL, cfg->boot.kernel) == 0,
		    "boot.kernel: missing or not a bundle-relative path");
		CHK(!cfg->boot.initrd || vsl_bundle_check_relpath(NULL, cfg->boot.initrd) == 0,
		    "boot.initrd: not a bundle-relative path");
		CHK(!cfg->boot.disk, "boot.disk: only used with firmware boot");
		break;
	case VSL_BOOT_FIRMWARE:
		CHK(cfg->boot.firmware == VSL_FIRMWARE_BIOS || cfg->boot.firmware == VSL_FIRMWARE_UEFI,
		    "boot.firmware: invalid");
		CHK(cfg->boot.disk && vsl_bundle_config_disk(cfg, cfg->boot.disk),
		    "boot.disk: must name one of the disks");
		CHK(!cfg->boot.kernel && !cfg->boot.initrd && !cfg->boot.cmdline,
		    "boot: kernel, initrd and cmdline are only used with direct Linux boot");
		break;
	default:
		CHK(false, "boot: neither kernel nor firmware boot is set");
	}
	for (size_t i = 0; i < cfg->ndisks; i++) {
		const struct vsl_bundle_disk *d = &cfg->disks[i];

		CHK(bundle_name_ok(d->name), "disks[%zu].name: missing or invalid", i);
		for (size_t j = 0; j < i && d->name; j++)
			CHK(!cfg->disks[j].name || strcmp(cfg->disks[j].name, d->name),
			    "disks[%zu].name: duplicate disk name '%s'", i, d->name);
		CHK(vsl_bundle_check_relpath(NULL, d->file) == 0,
		    "disks[%zu].file: missing or not a bundle-relative path", i);
		CHK(check_format(d->format), "disks[%zu].format: must be raw, qcow2, vmdk or vpc", i);
		CHK(d->bus == VSL_DISK_BUS_VIRTIO || d->bus == VSL_DISK_BUS_IDE,
		    "disks[%zu].bus: invalid", i);
	}
	for (size_t i = 0; i < cfg->nnics; i++) {
		const struct vsl_bundle_nic *n = &cfg->nics[i];

		CHK(n->mode == VSL_NET_USER || n->mode == VSL_NET_NONE, "network[%zu].mode: invalid", i);
		CHK(!n->model || !strcmp(n->model, "virtio"), "network[%zu].model: must be virtio", i);
		CHK(!n->has_mac || !(n->mac[0] & 1), "network[%zu].mac: multicast address", i);
		CHK(n->mode == VSL_NET_USER || !n->nforwards, "network[%zu].forward: needs mode user",
		    i);
		for (size_t j = 0; j < n->nforwards; j++) {
			const struct vsl_bundle_forward *f = &n->forwards[j];
			struct in_addr a;

			CHK(f->host_port && f->guest_port, "network[%zu].forward[%zu]: ports must be "
			    "1..65535", i, j);
			CHK(f->proto == VSL_NET_TCP || f->proto == VSL_NET_UDP,
			    "network[%zu].forward[%zu].protocol: invalid", i, j);
			CHK(!f->host_addr || inet_pton(AF_INET, f->host_addr, &a) == 1,
			    "network[%zu].forward[%zu].host-address: not an IPv4 address", i, j);
		}
	}
	CHK(cfg->serial.port >= 1 && cfg->serial.port <= 4, "serial.port: must be com1..com4");
	CHK(cfg->serial.output == VSL_SERIAL_STDIO || cfg->serial.output == VSL_SERIAL_NONE,
	    "serial.output: invalid");
	CHK(!cfg->guest.os || vsl_bundle_guest_str_ok(cfg->guest.os),
	    "guest.os: empty, too long or with control characters");
	CHK(!cfg->guest.distro || vsl_bundle_guest_str_ok(cfg->guest.distro),
	    "guest.distro: empty, too long or with control characters");
	CHK(!cfg->guest.version || vsl_bundle_guest_str_ok(cfg->guest.version),
	    "guest.version: empty, too long or with control characters");
	CHK(!cfg->guest.product || vsl_bundle_guest_str_ok(cfg->guest.product),
	    "guest.product: empty, too long or with control characters");
	CHK(!cfg->provenance.recipe_digest || (!strncmp(cfg->provenance.recipe_digest, "sha256:", 7) &&
					       check_sha256(cfg->provenance.recipe_digest + 7)),
	    "provenance.recipe-digest: expected 'sha256:' and 64 lowercase hex digits");
	for (size_t i = 0; i < cfg->provenance.nsources; i++) {
		CHK(cfg->provenance.sources[i].uri && *cfg->provenance.sources[i].uri,
		    "provenance.sources[%zu].uri: missing", i);
		CHK(!cfg->provenance.sources[i].sha256 || check_sha256(cfg->provenance.sources[i].sha256),
		    "provenance.sources[%zu].sha256: expected 64 lowercase hex digits", i);
	}
	if (pr->errors > before) {
		for (size_t i = 0; i < pr->count; i++)
			if (pr->items[i].severity == VSL_PROBLEM_ERROR) {
				r = vsl_set_error(ctx, 0, VSL_EINVAL, "invalid bundle configuration: %s",
						  pr->items[i].message);
				break;
			}
		if (!r)
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	if (pr == &local)
		vsl_problems_fini(&local);
	return r;
}

/* ---- emitting ---- */

struct yemit {
	yaml_emitter_t e;
	char *buf;
	size_t len, cap;
	bool failed;
};

static int emit_output(void *data, unsigned char *bytes, size_t size)
{
	struct yemit *m = data;

	if (m->len + size + 1 > m->cap) {
		size_t ncap = (m->cap + size + 1) * 2;
		char *n = realloc(m->buf, ncap);
		if (!n)
			return 0;
		m->buf = n;
		m->cap = ncap;
	}
	memcpy(m->buf + m->len, bytes, size);
	m->len += size;
	m->buf[m->len] = '\0';
	return 1;
}

static void emit_event(struct yemit *m, yaml_event_t *ev, int ok)
{
	if (m->failed || !ok || !yaml_emitter_emit(&m->e, ev))
		m->failed = true;
}

/* Would a YAML 1.1/1.2 reader take this plain text for something else than a string? */
static bool emit_ambiguous(const char *s)
{
	static const char *const words[] = {
		"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
		"True", "False", "Yes", "No", "On", "Off", "Null", "TRUE", "FALSE", "NULL", NULL
	};

	if (!*s)
		return true;
	for (size_t i = 0; words[i]; i++)
		if (!strcmp(s, words[i]))
			return true;
	return strchr("0123456789+-.", s[0]) &&
	       strspn(s, "0123456789+-._:eExXoObBaAcCdDfF") == strlen(s);
}

static void emit_scalar(struct yemit *m, const char *s, bool is_string)
{
	yaml_event_t ev;
	yaml_scalar_style_t style = is_string && emit_ambiguous(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
								     : YAML_ANY_SCALAR_STYLE;

	emit_event(m, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s,
							(int)strlen(s), 1, 1, style));
}

static void emit_map_start(struct yemit *m)
{
	yaml_event_t ev;

	emit_event(m, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
							       YAML_BLOCK_MAPPING_STYLE));
}

static void emit_map_end(struct yemit *m)
{
	yaml_event_t ev;

	emit_event(m, &ev, yaml_mapping_end_event_initialize(&ev));
}

static void emit_seq_start(struct yemit *m, const char *key)
{
	yaml_event_t ev;

	emit_scalar(m, key, false);
	emit_event(m, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
								YAML_BLOCK_SEQUENCE_STYLE));
}

static void emit_seq_end(struct yemit *m)
{
	yaml_event_t ev;

	emit_event(m, &ev, yaml_sequence_end_event_initialize(&ev));
}

static void emit_str(struct yemit *m, const char *key, const char *val)
{
	if (!val)
		return;
	emit_scalar(m, key, false);
	emit_scalar(m, val, true);
}

static void emit_uint(struct yemit *m, const char *key, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	emit_scalar(m, key, false);
	emit_scalar(m, buf, false);
}

static void emit_bool(struct yemit *m, const char *key, bool v)
{
	emit_scalar(m, key, false);
	emit_scalar(m, v ? "true" : "false", false);
}

static void emit_memory(struct yemit *m, uint64_t v)
{
	static const char units[] = "KMGT";
	char buf[32];
	int u = -1;

	for (int i = 3; i >= 0 && u < 0; i--)
		if (v && v % (1ull << (10 * (i + 1))) == 0)
			u = i;
	if (u < 0)
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	else
		snprintf(buf, sizeof(buf), "%llu%c", (unsigned long long)(v >> (10 * (u + 1))), units[u]);
	emit_scalar(m, "memory", false);
	emit_scalar(m, buf, false);
}

static void emit_config(struct yemit *m, const struct vsl_bundle_config *cfg)
{
	const struct vsl_bundle_provenance *p = &cfg->provenance;
	char port[8];

	emit_map_start(m);
	emit_uint(m, "vessel-bundle", cfg->schema);
	emit_str(m, "name", cfg->name);
	emit_str(m, "arch", cfg->arch);
	emit_uint(m, "cpus", cfg->cpus);
	emit_memory(m, cfg->memory);

	emit_scalar(m, "boot", false);
	emit_map_start(m);
	if (cfg->boot.kind == VSL_BOOT_KERNEL) {
		emit_str(m, "kernel", cfg->boot.kernel);
		emit_str(m, "initrd", cfg->boot.initrd);
		emit_str(m, "cmdline", cfg->boot.cmdline);
	} else {
		emit_str(m, "firmware", vsl_bundle_firmware_name(cfg->boot.firmware));
		emit_str(m, "disk", cfg->boot.disk);
	}
	emit_map_end(m);

	if (cfg->ndisks) {
		emit_seq_start(m, "disks");
		for (size_t i = 0; i < cfg->ndisks; i++) {
			const struct vsl_bundle_disk *d = &cfg->disks[i];

			emit_map_start(m);
			emit_str(m, "name", d->name);
			emit_str(m, "file", d->file);
			emit_str(m, "format", d->format);
			emit_str(m, "bus", vsl_bundle_bus_name(d->bus));
			emit_bool(m, "read-only", d->readonly);
			emit_map_end(m);
		}
		emit_seq_end(m);
	}

	if (cfg->nnics) {
		emit_seq_start(m, "network");
		for (size_t i = 0; i < cfg->nnics; i++) {
			const struct vsl_bundle_nic *n = &cfg->nics[i];
			char mac[18];

			emit_map_start(m);
			emit_str(m, "mode", vsl_bundle_net_mode_name(n->mode));
			emit_str(m, "model", n->model);
			if (n->has_mac) {
				snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0],
					 n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
				emit_str(m, "mac", mac);
			}
			if (n->nforwards) {
				emit_seq_start(m, "forward");
				for (size_t j = 0; j < n->nforwards; j++) {
					const struct vsl_bundle_forward *f = &n->forwards[j];

					emit_map_start(m);
					emit_str(m, "protocol", vsl_bundle_proto_name(f->proto));
					emit_str(m, "host-address", f->host_addr);
					emit_uint(m, "host", f->host_port);
					emit_uint(m, "guest", f->guest_port);
					emit_map_end(m);
				}
				emit_seq_end(m);
			}
			emit_map_end(m);
		}
		emit_seq_end(m);
	}

	emit_scalar(m, "serial", false);
	emit_map_start(m);
	snprintf(port, sizeof(port), "com%u", cfg->serial.port);
	emit_str(m, "port", port);
	emit_str(m, "output", vsl_bundle_serial_output_name(cfg->serial.output));
	emit_map_end(m);

	if (cfg->guest.os || cfg->guest.distro || cfg->guest.version || cfg->guest.product) {
		emit_scalar(m, "guest", false);
		emit_map_start(m);
		emit_str(m, "os", cfg->guest.os);
		emit_str(m, "distro", cfg->guest.distro);
		emit_str(m, "version", cfg->guest.version);
		emit_str(m, "product", cfg->guest.product);
		emit_map_end(m);
	}

	if (p->recipe || p->recipe_digest || p->vessel_version || p->nsources) {
		emit_scalar(m, "provenance", false);
		emit_map_start(m);
		emit_str(m, "recipe", p->recipe);
		emit_str(m, "recipe-digest", p->recipe_digest);
		emit_str(m, "vessel-version", p->vessel_version);
		if (p->nsources) {
			emit_seq_start(m, "sources");
			for (size_t i = 0; i < p->nsources; i++) {
				emit_map_start(m);
				emit_str(m, "uri", p->sources[i].uri);
				emit_str(m, "sha256", p->sources[i].sha256);
				emit_map_end(m);
			}
			emit_seq_end(m);
		}
		emit_map_end(m);
	}
	emit_map_end(m);
}

int vsl_bundle_format_config(struct vsl_ctx *ctx, const struct vsl_bundle_config *cfg, char **text,
			     size_t *len)
{
	struct yemit m = { 0 };
	yaml_event_t ev;
	int r;

	*text = NULL;
	*len = 0;
	r = vsl_bundle_config_check(ctx, cfg, NULL);
	if (r < 0)
		return r;
	if (!yaml_emitter_initialize(&m.e))
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	yaml_emitter_set_output(&m.e, emit_output, &m);
	yaml_emitter_set_unicode(&m.e, 1);
	yaml_emitter_set_width(&m.e, -1);
	yaml_emitter_set_indent(&m.e, 2);
	emit_event(&m, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	emit_event(&m, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	emit_config(&m, cfg);
	emit_event(&m, &ev, yaml_document_end_event_initialize(&ev, 1));
	emit_event(&m, &ev, yaml_stream_end_event_initialize(&ev));
	if (!m.failed && !yaml_emitter_flush(&m.e))
		m.failed = true;
	if (m.failed) {
		r = vsl_set_error(ctx, 0, m.e.error == YAML_MEMORY_ERROR || !m.e.problem ? VSL_ENOMEM
											  : VSL_EINVAL,
				  "emit vessel.yaml: %s", m.e.problem ? m.e.problem : "out of memory");
		free(m.buf);
	} else {
		*text = m.buf ? m.buf : strdup("");
		*len = m.len;
		if (!*text)
			r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	yaml_emitter_delete(&m.e);
	return r;
}

int vsl_bundle_write_config(struct vsl_ctx *ctx, const char *dir,
			    const struct vsl_bundle_config *cfg)
{
	char *text;
	size_t len;
	int r;

	r = vsl_bundle_format_config(ctx, cfg, &text, &len);
	if (r < 0)
		return r;
	r = bundle_write_file(ctx, dir, VSL_BUNDLE_CONFIG, text, len);
	free(text);
	return r;
}
