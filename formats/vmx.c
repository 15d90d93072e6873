/*
 * VMware .vmx configuration files (Workstation, Player, Fusion):
 * generated for export and parsed for import.
 *
 * A .vmx is a list of `key = "value"` lines; keys are case-insensitive,
 * '#' starts a comment, and VMware escapes characters in values as |XX
 * (hex). Generation writes the keys a VMware product needs to power the
 * machine on:
 *
 *	.encoding = "UTF-8"
 *	config.version = "8"
 *	virtualHW.version = "13"
 *	displayName = "web"
 *	guestOS = "otherlinux-64"
 *	memsize = "512"                    MiB (VMware wants a multiple of 4)
 *	numvcpus = "2"
 *	scsi0.present = "TRUE"             virtio disks -> LSI Logic SCSI
 *	scsi0.virtualDev = "lsilogic"      (VMDK ddb.adapterType "lsilogic")
 *	scsi0:0.fileName = "web-disk1.vmdk"
 *	ide0:0.fileName = ...              ide disks (ddb.adapterType "ide")
 *	ethernet0.virtualDev = "vmxnet3"   NAT; MAC kept with checkMACAddress FALSE
 *	serial0.fileType = "file"          the console goes to NAME-serial0.log
 *
 * Parsing reads what those products write: memsize, numvcpus, guestOS,
 * firmware, disks on ideN:M, scsiN:M, sataN:M and nvmeN:M (with their
 * controller's virtualDev), ethernetN (address or generatedAddress,
 * virtualDev, startConnected), serialN. CD-ROMs, floppies, USB, sound and
 * other devices become warnings.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/interchange_priv.h"

#define VMX_MAX_KEYS 20000u

/* ---- generation ---- */

struct vmx_buf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void vmx_put(struct vmx_buf *b, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void vmx_put(struct vmx_buf *b, const char *key, const char *fmt, ...)
{
	char val[1024], esc[3200], *o = esc;
	char line[4400];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	/* VMware's escape: '|' followed by two hex digits for '"', '|', '#' and controls */
	for (const char *p = val; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"' || c == '|' || c == '#' || c < 0x20)
			o += sprintf(o, "|%02X", c);
		else
			*o++ = (char)c;
	}
	*o = 0;
	n = snprintf(line, sizeof(line), "%s = \"%s\"\n", key, esc);
	if (b->oom || n < 0)
		return;
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t nc = VSL_MAX(b->cap * 2, b->len + (size_t)n + 1024);
		char *ns = realloc(b->s, nc);

		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = nc;
	}
	memcpy(b->s + b->len, line, (size_t)n + 1);
	b->len += (size_t)n;
}

int vsl_vmx_generate(struct vsl_ctx *ctx, const struct vsl_bundle_config *cfg,
		     const char *const *disk_files, char **text, size_t *len,
		     struct vsl_problems *warn)
{
	struct vmx_buf b = { 0 };
	unsigned scsi_unit = 0, ide_unit = 0;
	bool scsi = false;
	uint64_t mib = (cfg->memory + (4ull << 20) - 1) / (4ull << 20) * 4;

	*text = NULL;
	if (mib << 20 != cfg->memory)
		vsl_ix_warn(warn, NULL, "memory: %" PRIu64 " bytes rounded up to %" PRIu64
			    " MiB (VMware wants a multiple of 4 MiB)", cfg->memory, mib);
	vmx_put(&b, ".encoding", "UTF-8");
	vmx_put(&b, "config.version", "8");
	vmx_put(&b, "virtualHW.version", "13");
	vmx_put(&b, "displayName", "%s", cfg->name);
	vmx_put(&b, "guestOS", "otherlinux-64");
	vmx_put(&b, "memsize", "%" PRIu64, mib);
	vmx_put(&b, "numvcpus", "%u", cfg->cpus);
	if (cfg->boot.kind == VSL_BOOT_FIRMWARE && cfg->boot.firmware == VSL_FIRMWARE_UEFI)
		vmx_put(&b, "firmware", "efi");
	if (cfg->boot.kind == VSL_BOOT_KERNEL)
		vsl_ix_warn(warn, NULL,
			    "boot: direct kernel boot (%s) cannot be expressed in a .vmx; the machine boots from its first disk",
			    cfg->boot.kernel ? cfg->boot.kernel : "kernel");
	for (size_t i = 0; i < cfg->ndisks; i++)
		if (cfg->disks[i].bus != VSL_DISK_BUS_IDE)
			scsi = true;
	if (scsi) {
		vmx_put(&b, "scsi0.present", "TRUE");
		vmx_put(&b, "scsi0.virtualDev", "lsilogic");
	}
	for (size_t i = 0; i < cfg->ndisks; i++) {
		const struct vsl_bundle_disk *d = &cfg->disks[i];
		char key[64];
		unsigned bus, unit;
		bool ide = d->bus == VSL_DISK_BUS_IDE;

		if (ide) {
			if (ide_unit >= 4)
				return free(b.s), vsl_set_error(ctx, 0, VSL_ERANGE,
								"more than 4 IDE disks cannot be described");
			bus = ide_unit / 2;
			unit = ide_unit % 2;
			ide_unit++;
		} else {
			if (scsi_unit >= 15)
				return free(b.s), vsl_set_error(ctx, 0, VSL_ERANGE,
								"more than 15 SCSI disks cannot be described");
			bus = 0;
			unit = scsi_unit < 7 ? scsi_unit : scsi_unit + 1;
			scsi_unit++;
		}
		snprintf(key, sizeof(key), "%s%u:%u.present", ide ? "ide" : "scsi", bus, unit);
		vmx_put(&b, key, "TRUE");
		snprintf(key, sizeof(key), "%s%u:%u.fileName", ide ? "ide" : "scsi", bus, unit);
		vmx_put(&b, key, "%s", disk_files[i]);
		snprintf(key, sizeof(key), "%s%u:%u.deviceType", ide ? "ide" : "scsi", bus, unit);
		vmx_put(&b, key, ide ? "ata-hardDisk" : "scsi-hardDisk");
		if (cfg->boot.kind == VSL_BOOT_FIRMWARE && cfg->boot.disk && !strcmp(cfg->boot.disk, d->name)) {
			snprintf(key, sizeof(key), "%s%u:%u", ide ? "ide" : "scsi", bus, unit);
			vmx_put(&b, "bios.hddOrder", "%s", key);
		}
		if (d->readonly) {
			snprintf(key, sizeof(key), "%s%u:%u.mode", ide ? "ide" : "scsi", bus, unit);
			vmx_put(&b, key, "independent-nonpersistent");
			vsl_ix_warn(warn, NULL,
				    "disk '%s': read-only becomes VMware's independent-nonpersistent mode (writes are discarded at power-off)",
				    d->name);
		}
	}
	for (size_t i = 0; i < cfg->nnics; i++) {
		const struct vsl_bundle_nic *n = &cfg->nics[i];
		char key[64];

#define VMX_NIC(k, ...) (snprintf(key, sizeof(key), "ethernet%zu." k, i), vmx_put(&b, key, __VA_ARGS__))
		VMX_NIC("present", "TRUE");
		VMX_NIC("virtualDev", "vmxnet3");
		VMX_NIC("connectionType", "nat");
		VMX_NIC("startConnected", n->mode == VSL_NET_NONE ? "FALSE" : "TRUE");
		if (n->has_mac) {
			VMX_NIC("addressType", "static");
			VMX_NIC("address", "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
				n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
			VMX_NIC("checkMACAddress", "FALSE");
		} else {
			VMX_NIC("addressType", "generated");
		}
#undef VMX_NIC
		if (n->nforwards)
			vsl_ix_warn(warn, NULL,
				    "network[%zu]: port forwards cannot be expressed in a .vmx (configure NAT in the VMware product)",
				    i);
	}
	if (cfg->serial.output != VSL_SERIAL_NONE) {
		char key[64];
		unsigned port = cfg->serial.port ? cfg->serial.port - 1 : 0;

		snprintf(key, sizeof(key), "serial%u.present", port);
		vmx_put(&b, key, "TRUE");
		snprintf(key, sizeof(key), "serial%u.fileType", port);
		vmx_put(&b, key, "file");
		snprintf(key, sizeof(key), "serial%u.fileName", port);
		vmx_put(&b, key, "%s-serial%u.log", cfg->name, port);
	}
	if (b.oom) {
		free(b.s);
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	*text = b.s;
	*len = b.len;
	return 0;
}

/* ---- parsing ---- */

struct vmx_kv {
	char *key;   /* lowercased */
	char *val;   /* unescaped */
	int line;
	bool used;
};

struct vmx_doc {
	struct vmx_kv *kv;
	size_t n;
};

static void vmx_doc_free(struct vmx_doc *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->kv[i].key);
		free(d->kv[i].val);
	}
	free(d->kv);
}

static struct vmx_kv *vmx_get(struct vmx_doc *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static struct vmx_kv *vmx_get(struct vmx_doc *d, const char *fmt, ...)
{
	char key[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	for (char *c = key; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	/* the last assignment wins, as in VMware */
	for (size_t i = d->n; i-- > 0;)
		if (!strcmp(d->kv[i].key, key)) {
			d->kv[i].used = true;
			return &d->kv[i];
		}
	return NULL;
}

static const char *vmx_val(struct vmx_doc *d, const char *key)
{
	struct vmx_kv *kv = vmx_get(d, "%s", key);

	return kv ? kv->val : NULL;
}

static bool vmx_true(const char *v)
{
	return v && (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1"));
}

static int vmx_split(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
		     struct vmx_doc *d)
{
	const char *p = text, *end = text + len;
	int lineno = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
		const char *k, *ke, *v, *ve, *eq;
		struct vmx_kv *kv;
		char *val, *o;

		lineno++;
		k = p;
		p = nl ? nl + 1 : end;
		if (le > k && le[-1] == '\r')
			le--;
		while (k < le && isspace((unsigned char)*k))
			k++;
		if (k == le || *k == '#')
			continue;
		if (memchr(k, 0, (size_t)(le - k)))
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s:%d: NUL byte in a .vmx line", file, lineno);
		eq = memchr(k, '=', (size_t)(le - k));
		if (!eq)
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s:%d: expected 'key = \"value\"'", file,
					     lineno);
		ke = eq;
		while (ke > k && isspace((unsigned char)ke[-1]))
			ke--;
		v = eq + 1;
		while (v < le && isspace((unsigned char)*v))
			v++;
		ve = le;
		while (ve > v && isspace((unsigned char)ve[-1]))
			ve--;
		if (ke == k || ke - k > 100)
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s:%d: bad key", file, lineno);
		if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
			v++;
			ve--;
		} else if (ve > v && (*v == '"' || ve[-1] == '"')) {
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s:%d: unbalanced quotes", file, lineno);
		}
		if (d->n >= VMX_MAX_KEYS)
			return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: more than %u settings", file,
					     VMX_MAX_KEYS);
		kv = vsl_reallocarray(d->kv, d->n + 1, sizeof(*kv));
		if (!kv)
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		d->kv = kv;
		kv = &d->kv[d->n];
		*kv = (struct vmx_kv){ .line = lineno };
		kv->key = strndup(k, (size_t)(ke - k));
		val = malloc((size_t)(ve - v) + 1);
		if (!kv->key || !val) {
			free(kv->key);
			free(val);
			return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		}
		d->n++;
		for (char *c = kv->key; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		for (o = val; v < ve; v++) {
			unsigned x;

			if (*v == '|' && ve - v >= 3 && isxdigit((unsigned char)v[1]) &&
			    isxdigit((unsigned char)v[2]) && sscanf(v + 1, "%2x", &x) == 1 && x) {
				*o++ = (char)x;
				v += 2;
			} else {
				*o++ = *v;
			}
		}
		*o = 0;
		kv->val = val;
	}
	return 0;
}

static int vmx_disks(struct vsl_ctx *ctx, struct vmx_doc *d, const char *file,
		     struct vsl_ix_vm *vm, struct vsl_problems *warn)
{
	static const struct { const char *prefix; enum vsl_ix_ctrl ctrl; unsigned buses, units; } kinds[] = {
		{ "scsi", VSL_IX_CTRL_SCSI, 4, 16 },
		{ "sata", VSL_IX_CTRL_SATA, 4, 30 },
		{ "nvme", VSL_IX_CTRL_NVME, 4, 15 },
		{ "ide", VSL_IX_CTRL_IDE, 2, 2 },
	};

	struct vmx_kv *ho = vmx_get(d, "bios.hddorder");
	char hdd[64] = "", slot[64];

	if (ho)
		snprintf(hdd, sizeof(hdd), "%.*s", (int)strcspn(ho->val, ","), ho->val);
	for (size_t k = 0; k < VSL_ARRAY_SIZE(kinds); k++) {
		for (unsigned bus = 0; bus < kinds[k].buses; bus++) {
			const char *bpresent = NULL, *vdev;
			struct vmx_kv *bp = vmx_get(d, "%s%u.present", kinds[k].prefix, bus);

			bpresent = bp ? bp->val : NULL;
			vdev = (vmx_get(d, "%s%u.virtualdev", kinds[k].prefix, bus) ?
				vmx_get(d, "%s%u.virtualdev", kinds[k].prefix, bus)->val : NULL);
			for (unsigned unit = 0; unit < kinds[k].units; unit++) {
				struct vmx_kv *fn = vmx_get(d, "%s%u:%u.filename", kinds[k].prefix, bus, unit);
				struct vmx_kv *pr = vmx_get(d, "%s%u:%u.present", kinds[k].prefix, bus, unit);
				struct vmx_kv *dt = vmx_get(d, "%s%u:%u.devicetype", kinds[k].prefix, bus, unit);
				struct vmx_kv *mode = vmx_get(d, "%s%u:%u.mode", kinds[k].prefix, bus, unit);
				struct vsl_ix_disk *dk;

				if (!pr || !vmx_true(pr->val))
					continue;
				if (kinds[k].ctrl != VSL_IX_CTRL_IDE && bpresent && !vmx_true(bpresent))
					continue;
				if (dt && (strstr(dt->val, "cdrom") || strstr(dt->val, "atapi"))) {
					vsl_ix_warn(warn, file, "line %d: CD-ROM %s%u:%u ('%s') is not mapped: vessel has none",
						    dt->line, kinds[k].prefix, bus, unit, fn ? fn->val : "");
					continue;
				}
				if (!fn || !*fn->val) {
					vsl_ix_warn(warn, file, "line %d: %s%u:%u has no fileName; skipped",
						    pr->line, kinds[k].prefix, bus, unit);
					continue;
				}
				if (dt && strcmp(dt->val, "disk") && !strstr(dt->val, "hardDisk") &&
				    !strstr(dt->val, "harddisk")) {
					vsl_ix_warn(warn, file, "line %d: %s%u:%u of type '%s' is not a disk; skipped",
						    dt->line, kinds[k].prefix, bus, unit, dt->val);
					continue;
				}
				dk = vsl_ix_vm_add_disk(ctx, vm);
				if (!dk)
					return vsl_ctx_code(ctx);
				dk->file = strdup(fn->val);
				/* bios.hddOrder names the boot disk: it goes first */
				if (*hdd && !strcasecmp(hdd, (snprintf(slot, sizeof(slot), "%s%u:%u", kinds[k].prefix,
								      bus, unit), slot)) && vm->ndisks > 1) {
					struct vsl_ix_disk t = *dk;

					memmove(&vm->disks[1], &vm->disks[0], (vm->ndisks - 1) * sizeof(t));
					vm->disks[0] = t;
					dk = &vm->disks[0];
				}
				dk->format = strdup("vmdk");
				dk->ctrl = kinds[k].ctrl;
				dk->ctrl_sub = vdev ? strdup(vdev) : NULL;
				if (mode && strstr(mode->val, "nonpersistent"))
					dk->readonly = true;
				if (!dk->file || !dk->format)
					return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
			}
		}
	}
	return 0;
}

int vsl_vmx_parse(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
		  struct vsl_ix_vm *vm, struct vsl_problems *warn)
{
	struct vmx_doc d = { 0 };
	const char *v;
	uint64_t n;
	int r;

	vsl_ix_vm_init(vm);
	if (len > VSL_IX_DESC_MAX)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: too large for a .vmx", file);
	r = vmx_split(ctx, text, len, file, &d);
	if (r < 0)
		goto out;
	v = vmx_val(&d, "config.version");
	if (!v && !vmx_val(&d, "virtualHW.version")) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL,
				  "%s: not a VMware .vmx (neither config.version nor virtualHW.version)", file);
		goto out;
	}
	v = vmx_val(&d, "displayName");
	vm->name = v ? strdup(v) : NULL;
	v = vmx_val(&d, "guestOS");
	vm->os = v ? strdup(v) : NULL;
	v = vmx_val(&d, "numvcpus");
	vm->cpus = 1;
	if (v) {
		if (vsl_ix_parse_u64(v, &n) < 0 || n < 1 || n > VSL_BUNDLE_CPUS_MAX) {
			r = vsl_set_error(ctx, 0, VSL_ERANGE, "%s:%d: numvcpus '%s' is not between 1 and %u",
					  file, vmx_get(&d, "numvcpus")->line, v, VSL_BUNDLE_CPUS_MAX);
			goto out;
		}
		vm->cpus = (unsigned)n;
	}
	v = vmx_val(&d, "memsize");
	if (!v) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: no memsize", file);
		goto out;
	}
	if (vsl_ix_parse_u64(v, &n) < 0 || n < (VSL_BUNDLE_MEM_MIN >> 20) ||
	    n > (VSL_BUNDLE_MEM_MAX >> 20)) {
		r = vsl_set_error(ctx, 0, VSL_ERANGE, "%s:%d: memsize '%s' MiB is outside 16 MiB..1 TiB",
				  file, vmx_get(&d, "memsize")->line, v);
		goto out;
	}
	vm->memory = n << 20;
	v = vmx_val(&d, "firmware");
	if (v && !strcasecmp(v, "efi"))
		vm->firmware = VSL_FIRMWARE_UEFI;
	r = vmx_disks(ctx, &d, file, vm, warn);
	if (r < 0)
		goto out;
	for (unsigned i = 0; i < VSL_IX_MAX_NICS; i++) {
		struct vmx_kv *pr = vmx_get(&d, "ethernet%u.present", i);
		struct vmx_kv *kv;
		struct vsl_ix_nic *nic;

		if (!pr || !vmx_true(pr->val))
			continue;
		nic = vsl_ix_vm_add_nic(ctx, vm);
		if (!nic) {
			r = vsl_ctx_code(ctx);
			goto out;
		}
		kv = vmx_get(&d, "ethernet%u.virtualdev", i);
		nic->model = strdup(kv ? kv->val : "vlance");
		kv = vmx_get(&d, "ethernet%u.address", i);
		if (!kv)
			kv = vmx_get(&d, "ethernet%u.generatedaddress", i);
		if (kv && vsl_ix_parse_mac(kv->val, nic->mac) == 0)
			nic->has_mac = true;
		else if (kv)
			vsl_ix_warn(warn, file, "line %d: '%s' is not a MAC address; ignored", kv->line, kv->val);
		kv = vmx_get(&d, "ethernet%u.startconnected", i);
		nic->connected = !kv || vmx_true(kv->val);
	}
	for (unsigned i = 0; i < 4; i++) {
		struct vmx_kv *pr = vmx_get(&d, "serial%u.present", i);

		if (pr && vmx_true(pr->val)) {
			if (vm->serial) {
				vsl_ix_warn(warn, file, "line %d: only one serial port is kept", pr->line);
				continue;
			}
			vm->serial = true;
			vm->serial_port = i + 1;
		}
	}
	{
		static const char *const others[] = { "floppy0", "usb", "ehci", "usb_xhci", "sound",
						      "parallel0", "svga", NULL };

		for (size_t i = 0; others[i]; i++) {
			struct vmx_kv *pr = vmx_get(&d, "%s.present", others[i]);

			if (pr && vmx_true(pr->val))
				vsl_ix_warn(warn, file, "line %d: device '%s' is not mapped: vessel has none",
					    pr->line, others[i]);
		}
	}
out:
	vmx_doc_free(&d);
	return r;
}
