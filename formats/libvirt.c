/*
 * libvirt domain XML (https://libvirt.org/formatdomain.html): generated
 * with libxml2 for export, parsed for import.
 *
 * Export references the bundle's disks in place (absolute paths, their
 * format declared in <driver type=...>) and uses virtio devices:
 *
 *	<domain type='kvm'>
 *	  <name>web</name> <memory unit='KiB'>524288</memory> <vcpu>2</vcpu>
 *	  <os> <type arch='x86_64' machine='pc'>hvm</type>
 *	       <kernel/><initrd/><cmdline/>  (direct boot) or <boot dev='hd'/> </os>
 *	  <devices>
 *	    <disk type='file' device='disk'> <driver name='qemu' type='qcow2'/>
 *	      <source file='/abs/web.vessel/disks/root.qcow2'/> <target dev='vda' bus='virtio'/> </disk>
 *	    <interface type='user'> <mac/> <model type='virtio'/> </interface>
 *	    <serial type='pty'/> <console type='pty'/>
 *	  </devices>
 *	</domain>
 *
 * It passes `virt-xml-validate FILE domain` and `virsh -c test:///default
 * define FILE`. Import reads what virsh dumpxml and virt-v2v write:
 * memory with its unit, vcpu, os firmware/loader (UEFI), direct kernel
 * boot, file and block disks with their driver type and target bus,
 * interfaces (mac, model, link state), serial/console. Other devices
 * (graphics, video, sound, channels, cdroms, hostdevs, ...) are warnings.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/interchange_priv.h"

/* ---- generation ---- */

static xmlNode *lv_el(xmlNode *p, const char *name, const char *text)
{
	return xmlNewTextChild(p, NULL, BAD_CAST name, text ? BAD_CAST text : NULL);
}

static void lv_attr(xmlNode *n, const char *name, const char *val)
{
	xmlNewProp(n, BAD_CAST name, BAD_CAST val);
}

int vsl_libvirt_generate(struct vsl_ctx *ctx, const struct vsl_bundle_config *cfg,
			 const char *const *disk_paths, const char *kernel, const char *initrd,
			 char **xml, size_t *len, struct vsl_problems *warn)
{
	xmlDoc *doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNode *dom, *os, *n, *devs, *feat;
	char buf[64];
	unsigned vd = 0, hd = 0;
	int r;

	*xml = NULL;
	if (!doc)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	dom = xmlNewNode(NULL, BAD_CAST "domain");
	xmlDocSetRootElement(doc, dom);
	lv_attr(dom, "type", "kvm");
	lv_el(dom, "name", cfg->name);
	snprintf(buf, sizeof(buf), "%" PRIu64, cfg->memory >> 10);
	n = lv_el(dom, "memory", buf);
	lv_attr(n, "unit", "KiB");
	snprintf(buf, sizeof(buf), "%u", cfg->cpus);
	lv_el(dom, "vcpu", buf);
	os = lv_el(dom, "os", NULL);
	if (cfg->boot.kind == VSL_BOOT_FIRMWARE && cfg->boot.firmware == VSL_FIRMWARE_UEFI)
		lv_attr(os, "firmware", "efi");
	n = lv_el(os, "type", "hvm");
	lv_attr(n, "arch", "x86_64");
	lv_attr(n, "machine", "pc");
	if (cfg->boot.kind == VSL_BOOT_KERNEL) {
		lv_el(os, "kernel", kernel);
		if (initrd)
			lv_el(os, "initrd", initrd);
		if (cfg->boot.cmdline)
			lv_el(os, "cmdline", cfg->boot.cmdline);
	} else {
		lv_attr(lv_el(os, "boot", NULL), "dev", "hd");
	}
	feat = lv_el(dom, "features", NULL);
	lv_el(feat, "acpi", NULL);
	lv_el(feat, "apic", NULL);
	devs = lv_el(dom, "devices", NULL);
	/* the boot disk first: libvirt boots the first disk with boot dev='hd' */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < cfg->ndisks; i++) {
			const struct vsl_bundle_disk *d = &cfg->disks[i];
			bool boot = cfg->boot.kind == VSL_BOOT_FIRMWARE && cfg->boot.disk &&
				    !strcmp(cfg->boot.disk, d->name);
			bool ide = d->bus == VSL_DISK_BUS_IDE;
			char dev[16];

			if (boot != (pass == 0))
				continue;
			if ((ide && hd >= 4) || (!ide && vd >= 26)) {
				xmlFreeDoc(doc);
				return vsl_set_error(ctx, 0, VSL_ERANGE, "too many %s disks",
						     ide ? "IDE" : "virtio");
			}
			snprintf(dev, sizeof(dev), "%s%c", ide ? "hd" : "vd", 'a' + (ide ? hd++ : vd++));
			n = lv_el(devs, "disk", NULL);
			lv_attr(n, "type", "file");
			lv_attr(n, "device", "disk");
			lv_attr(os = lv_el(n, "driver", NULL), "name", "qemu");
			lv_attr(os, "type", d->format);
			lv_attr(lv_el(n, "source", NULL), "file", disk_paths[i]);
			os = lv_el(n, "target", NULL);
			lv_attr(os, "dev", dev);
			lv_attr(os, "bus", ide ? "ide" : "virtio");
			if (d->readonly)
				lv_el(n, "readonly", NULL);
		}
	}
	for (size_t i = 0; i < cfg->nnics; i++) {
		const struct vsl_bundle_nic *nic = &cfg->nics[i];

		n = lv_el(devs, "interface", NULL);
		lv_attr(n, "type", "user");
		if (nic->has_mac) {
			snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", nic->mac[0], nic->mac[1],
				 nic->mac[2], nic->mac[3], nic->mac[4], nic->mac[5]);
			lv_attr(lv_el(n, "mac", NULL), "address", buf);
		}
		lv_attr(lv_el(n, "model", NULL), "type", "virtio");
		if (nic->mode == VSL_NET_NONE)
			lv_attr(lv_el(n, "link", NULL), "state", "down");
		if (nic->nforwards)
			vsl_ix_warn(warn, NULL,
				    "network[%zu]: %zu port forward(s) are not written (libvirt's user networking forwards only with the passt backend)",
				    i, nic->nforwards);
	}
	if (cfg->serial.output != VSL_SERIAL_NONE) {
		n = lv_el(devs, "serial", NULL);
		lv_attr(n, "type", "pty");
		snprintf(buf, sizeof(buf), "%u", cfg->serial.port ? cfg->serial.port - 1 : 0);
		lv_attr(lv_el(n, "target", NULL), "port", buf);
		n = lv_el(devs, "console", NULL);
		lv_attr(n, "type", "pty");
		os = lv_el(n, "target", NULL);
		lv_attr(os, "type", "serial");
		lv_attr(os, "port", buf);
	}
	r = vsl_ix_xml_dump(ctx, doc, xml, len);
	xmlFreeDoc(doc);
	return r;
}

/* ---- parsing ---- */

#define LV_LINE(n) ((int)xmlGetLineNo((xmlNode *)(n)))

static uint64_t lv_unit(const char *u)
{
	static const struct { const char *name; uint64_t mul; } units[] = {
		{ "b", 1 }, { "bytes", 1 }, { "KB", 1000 }, { "k", 1024 }, { "KiB", 1024 },
		{ "MB", 1000000 }, { "M", 1ull << 20 }, { "MiB", 1ull << 20 },
		{ "GB", 1000000000 }, { "G", 1ull << 30 }, { "GiB", 1ull << 30 },
		{ "TB", 1000000000000ull }, { "T", 1ull << 40 }, { "TiB", 1ull << 40 },
	};

	if (!u)
		return 1024; /* libvirt's default unit for <memory> is KiB */
	for (size_t i = 0; i < VSL_ARRAY_SIZE(units); i++)
		if (!strcmp(units[i].name, u) || (units[i].name[1] == 0 && !strcasecmp(units[i].name, u)))
			return units[i].mul;
	return 0;
}

static int lv_disk(struct vsl_ctx *ctx, const char *file, xmlNode *dn, struct vsl_ix_vm *vm,
		   struct vsl_problems *warn)
{
	char *type = vsl_ix_xml_attr(dn, "type"), *device = vsl_ix_xml_attr(dn, "device");
	xmlNode *src = vsl_ix_xml_child(dn, "source", NULL), *drv = vsl_ix_xml_child(dn, "driver", NULL);
	xmlNode *tgt = vsl_ix_xml_child(dn, "target", NULL);
	char *path = NULL, *fmt = NULL, *bus = NULL, *dev = NULL;
	struct vsl_ix_disk *d;
	int r = 0;

	if (device && strcmp(device, "disk")) {
		vsl_ix_warn(warn, file, "line %d: %s device is not mapped: vessel has none", LV_LINE(dn),
			    device);
		goto out;
	}
	if (type && strcmp(type, "file") && strcmp(type, "block")) {
		r = vsl_set_error(ctx, 0, VSL_ENOTSUP,
				  "%s:%d: disk of type '%s' is not supported (only file and block disks)",
				  file, LV_LINE(dn), type);
		goto out;
	}
	path = src ? vsl_ix_xml_attr(src, type && !strcmp(type, "block") ? "dev" : "file") : NULL;
	if (!path || !*path) {
		vsl_ix_warn(warn, file, "line %d: disk without a source (an empty drive); skipped", LV_LINE(dn));
		goto out;
	}
	if (vsl_ix_xml_child(src, "dataStore", NULL) || vsl_ix_xml_child(dn, "backingStore", NULL))
		vsl_ix_warn(warn, file, "line %d: <backingStore> is ignored; the image's own backing file is followed",
			    LV_LINE(dn));
	fmt = drv ? vsl_ix_xml_attr(drv, "type") : NULL;
	bus = tgt ? vsl_ix_xml_attr(tgt, "bus") : NULL;
	dev = tgt ? vsl_ix_xml_attr(tgt, "dev") : NULL;
	d = vsl_ix_vm_add_disk(ctx, vm);
	if (!d) {
		r = vsl_ctx_code(ctx);
		goto out;
	}
	d->file = path;
	path = NULL;
	if (fmt && !strcmp(fmt, "aio"))
		fmt = (free(fmt), NULL);
	if (fmt && strcmp(fmt, "raw") && strcmp(fmt, "qcow2") && strcmp(fmt, "vmdk") &&
	    strcmp(fmt, "vpc")) {
		r = vsl_set_error(ctx, 0, VSL_ENOTSUP, "%s:%d: disk format '%s' is not supported (raw, qcow2, vmdk, vpc)",
				  file, LV_LINE(dn), fmt);
		goto out;
	}
	d->format = fmt;
	fmt = NULL;
	if (!bus && dev)
		bus = strdup(!strncmp(dev, "vd", 2) ? "virtio" : !strncmp(dev, "hd", 2) ? "ide" : "scsi");
	d->ctrl = !bus || !strcmp(bus, "virtio") ? VSL_IX_CTRL_VIRTIO :
		  !strcmp(bus, "ide") ? VSL_IX_CTRL_IDE :
		  !strcmp(bus, "sata") ? VSL_IX_CTRL_SATA :
		  !strcmp(bus, "nvme") ? VSL_IX_CTRL_NVME : VSL_IX_CTRL_SCSI;
	if (d->ctrl == VSL_IX_CTRL_SCSI && bus)
		d->ctrl_sub = strdup(bus);
	d->readonly = vsl_ix_xml_child(dn, "readonly", NULL) != NULL;
out:
	free(type);
	free(device);
	free(path);
	free(fmt);
	free(bus);
	free(dev);
	return r;
}

int vsl_libvirt_parse(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
		      struct vsl_ix_vm *vm, struct vsl_problems *warn)
{
	xmlDoc *doc = NULL;
	xmlNode *dom, *n, *os, *devs;
	char *s = NULL, *u = NULL;
	uint64_t v, mul;
	int r;

	vsl_ix_vm_init(vm);
	r = vsl_ix_xml_read(ctx, text, len, file, &doc);
	if (r < 0)
		return r;
	dom = xmlDocGetRootElement(doc);
	if (strcmp((const char *)dom->name, "domain")) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: not a libvirt domain (root element <%s>)", file,
				  (const char *)dom->name);
		goto out;
	}
	vm->name = vsl_ix_xml_text(vsl_ix_xml_child(dom, "name", NULL));
	n = vsl_ix_xml_child(dom, "vcpu", NULL);
	vm->cpus = 1;
	if (n) {
		s = vsl_ix_xml_text(n);
		if (!s || vsl_ix_parse_u64(s, &v) < 0 || v < 1 || v > VSL_BUNDLE_CPUS_MAX) {
			r = vsl_set_error(ctx, 0, VSL_ERANGE, "%s:%d: vcpu '%s' is not between 1 and %u", file,
					  LV_LINE(n), s ? s : "", VSL_BUNDLE_CPUS_MAX);
			goto out;
		}
		vm->cpus = (unsigned)v;
		free(s);
		s = NULL;
	}
	n = vsl_ix_xml_child(dom, "memory", NULL);
	if (!n) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: no <memory>", file);
		goto out;
	}
	s = vsl_ix_xml_text(n);
	u = vsl_ix_xml_attr(n, "unit");
	mul = lv_unit(u);
	if (!mul || !s || vsl_ix_parse_u64(s, &v) < 0 || (v && mul > UINT64_MAX / v) ||
	    v * mul < VSL_BUNDLE_MEM_MIN || v * mul > VSL_BUNDLE_MEM_MAX) {
		r = vsl_set_error(ctx, 0, VSL_ERANGE, "%s:%d: memory '%s %s' is not a size within 16 MiB..1 TiB",
				  file, LV_LINE(n), s ? s : "", u ? u : "KiB");
		goto out;
	}
	vm->memory = v * mul;
	os = vsl_ix_xml_child(dom, "os", NULL);
	if (os) {
		char *fw = vsl_ix_xml_attr(os, "firmware"), *loader;
		xmlNode *t = vsl_ix_xml_child(os, "type", NULL);
		char *arch = t ? vsl_ix_xml_attr(t, "arch") : NULL;

		loader = vsl_ix_xml_text(vsl_ix_xml_child(os, "loader", NULL));
		if ((fw && !strcmp(fw, "efi")) || (loader && (strcasestr(loader, "ovmf") || strcasestr(loader, "efi"))))
			vm->firmware = VSL_FIRMWARE_UEFI;
		if (arch && strcmp(arch, "x86_64")) {
			r = vsl_set_error(ctx, 0, VSL_ENOTSUP, "%s:%d: architecture '%s' is not supported (x86_64 only)",
					  file, LV_LINE(t), arch);
		}
		free(fw);
		free(loader);
		free(arch);
		if (r < 0)
			goto out;
		vm->kernel = vsl_ix_xml_text(vsl_ix_xml_child(os, "kernel", NULL));
		vm->initrd = vsl_ix_xml_text(vsl_ix_xml_child(os, "initrd", NULL));
		vm->cmdline = vsl_ix_xml_text(vsl_ix_xml_child(os, "cmdline", NULL));
	}
	devs = vsl_ix_xml_child(dom, "devices", NULL);
	for (n = devs ? devs->children : NULL; n; n = n->next) {
		const char *name = (const char *)n->name;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (!strcmp(name, "disk")) {
			r = lv_disk(ctx, file, n, vm, warn);
			if (r < 0)
				goto out;
		} else if (!strcmp(name, "interface")) {
			struct vsl_ix_nic *nic = vsl_ix_vm_add_nic(ctx, vm);
			xmlNode *m = vsl_ix_xml_child(n, "mac", NULL), *mo = vsl_ix_xml_child(n, "model", NULL);
			xmlNode *link = vsl_ix_xml_child(n, "link", NULL);
			char *mac = m ? vsl_ix_xml_attr(m, "address") : NULL;
			char *st = link ? vsl_ix_xml_attr(link, "state") : NULL;

			if (!nic) {
				free(mac);
				free(st);
				r = vsl_ctx_code(ctx);
				goto out;
			}
			if (mac && vsl_ix_parse_mac(mac, nic->mac) == 0)
				nic->has_mac = true;
			else if (mac)
				vsl_ix_warn(warn, file, "line %d: '%s' is not a MAC address; ignored", LV_LINE(m), mac);
			nic->model = mo ? vsl_ix_xml_attr(mo, "type") : NULL;
			nic->connected = !(st && !strcmp(st, "down"));
			free(mac);
			free(st);
		} else if (!strcmp(name, "serial") || !strcmp(name, "console")) {
			xmlNode *tg = vsl_ix_xml_child(n, "target", NULL);
			char *port = tg ? vsl_ix_xml_attr(tg, "port") : NULL;
			uint64_t pn;

			if (!vm->serial && port && vsl_ix_parse_u64(port, &pn) == 0 && pn < 4)
				vm->serial_port = (unsigned)pn + 1;
			vm->serial = true;
			free(port);
		} else if (!strcmp(name, "emulator") || !strcmp(name, "controller") ||
			   !strcmp(name, "memballoon") || !strcmp(name, "rng") || !strcmp(name, "input")) {
			/* provided by vessel's machine (controllers, balloon, rng) or meaningless for it */
		} else {
			vsl_ix_warn(warn, file, "line %d: <%s> device is not mapped: vessel has none", LV_LINE(n),
				    name);
		}
	}
out:
	free(s);
	free(u);
	xmlFreeDoc(doc);
	return r;
}
