/*
 * OVF 1.x descriptors (DMTF DSP0243, schema DSP8023 1.1.1): generated and
 * parsed with libxml2.
 *
 * Generation writes the envelope every OVF 1.x consumer reads (vSphere,
 * VirtualBox, virt-v2v, Proxmox), in schema order:
 *
 *	Envelope (ovf, rasd, vssd, vmw, vessel namespaces)
 *	  References/File            one per VMDK (ovf:size, ovf:chunkSize when split)
 *	  DiskSection/Disk           capacity in bytes, populatedSize, streamOptimized format URI
 *	  NetworkSection/Network     "VM Network"
 *	  VirtualSystem
 *	    Info, Name
 *	    OperatingSystemSection   101 "Linux 64-Bit" (vmw:osType otherLinux64Guest)
 *	    VirtualHardwareSection
 *	      System                 vssd: ElementName InstanceID VirtualSystemIdentifier VirtualSystemType
 *	      Item*                  rasd children in the schema's (alphabetical) order
 *	      vmw:Config firmware    only for UEFI
 *
 * Items: CPU (3), memory (4), one SCSI lsilogic controller (6) for virtio
 * disks and/or an IDE controller (5) for ide disks, disks (17), NICs (10,
 * VmxNet3), serial port (21). vessel's own facts that OVF has no field for
 * (the bundle bus "virtio", the NIC model) ride as vessel:* attributes on
 * the items, which the schema allows (anyAttribute, lax) and others ignore,
 * so that a vessel -> OVA -> vessel round trip is exact.
 *
 * Parsing reads what VMware (ovftool, vSphere), VirtualBox and virt-v2v
 * write: File/Disk references, CPUs, memory with any AllocationUnits,
 * IDE/SCSI/SATA controllers and the disks below them, NICs with
 * MAC addresses (rasd:Address), serial ports, the OS id, EFI firmware
 * (vmw:Config firmware=efi, VirtualBox's vbox:Machine/Hardware/BIOS is
 * not read). Every item vessel cannot map becomes a warning.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/interchange_priv.h"

#define OVF_NS "http://schemas.dmtf.org/ovf/envelope/1"
#define OVF_NS2 "http://schemas.dmtf.org/ovf/envelope/2"
#define OVF_NS_OVIRT "http://schemas.dmtf.org/ovf/envelope/1/" /* oVirt's spelling */
#define OVF_RASD_NS "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
#define OVF_VSSD_NS "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
#define OVF_CIM_NS "http://schemas.dmtf.org/wbem/wscim/1/common"
#define OVF_VMW_NS "http://www.vmware.com/schema/ovf"
#define OVF_VESSEL_NS "urn:x-vessel:ovf:1"
#define OVF_VBOX_NS "http://www.virtualbox.org/ovf/machine"
/* libxml2 line numbers are long; messages print int */
#define OVF_LINE(n) ((int)xmlGetLineNo((xmlNode *)(n)))
#define OVF_VMDK_SO "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"

/* CIM ResourceType values (DSP0243 / CIM_ResourceAllocationSettingData). */
enum {
	OVF_RT_OTHER = 1, OVF_RT_CPU = 3, OVF_RT_MEMORY = 4, OVF_RT_IDE = 5, OVF_RT_SCSI = 6,
	OVF_RT_FC = 7, OVF_RT_ISCSI = 8, OVF_RT_IB = 9, OVF_RT_NIC = 10, OVF_RT_FLOPPY = 14,
	OVF_RT_CDDRIVE = 15, OVF_RT_DVDDRIVE = 16, OVF_RT_DISK = 17, OVF_RT_STORAGE = 20,
	OVF_RT_SERIAL = 21, OVF_RT_PARALLEL = 22, OVF_RT_USB = 23, OVF_RT_GRAPHICS = 24,
	OVF_RT_SOUND = 35,
};

/* ---- generation ---- */

struct ovf_gen {
	xmlDoc *doc;
	xmlNs *def;   /* default namespace (the envelope's): for elements */
	xmlNs *ovf;   /* the same with the ovf: prefix: for attributes (qualified) */
	xmlNs *rasd, *vssd, *vmw, *vessel;
	unsigned instance;
};

static xmlNode *ovf_el(xmlNode *parent, xmlNs *ns, const char *name, const char *text)
{
	return xmlNewTextChild(parent, ns, BAD_CAST name, text ? BAD_CAST text : NULL);
}

static void ovf_attr(xmlNode *n, xmlNs *ns, const char *name, const char *val)
{
	xmlNewNsProp(n, ns, BAD_CAST name, BAD_CAST val);
}

static void ovf_attr_u64(xmlNode *n, xmlNs *ns, const char *name, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	ovf_attr(n, ns, name, buf);
}

/*
 * One rasd Item. Fields must be given in the schema's alphabetical order;
 * the arguments are a NULL-terminated list of (name, value) pairs, value
 * NULL skipping the element. InstanceID is filled in here.
 */
static xmlNode *ovf_item(struct ovf_gen *g, xmlNode *vhs, unsigned *id, ...)
{
	xmlNode *it = ovf_el(vhs, g->def, "Item", NULL);
	char idbuf[16];
	const char *name, *val;
	bool id_done = false;
	va_list ap;

	*id = ++g->instance;
	snprintf(idbuf, sizeof(idbuf), "%u", *id);
	va_start(ap, id);
	while ((name = va_arg(ap, const char *))) {
		val = va_arg(ap, const char *);
		if (!id_done && strcmp(name, "InstanceID") > 0) {
			ovf_el(it, g->rasd, "InstanceID", idbuf);
			id_done = true;
		}
		if (val)
			ovf_el(it, g->rasd, name, val);
	}
	va_end(ap);
	if (!id_done)
		ovf_el(it, g->rasd, "InstanceID", idbuf);
	return it;
}

const char *vsl_ix_vmdk_adapter(enum vsl_disk_bus bus)
{
	return bus == VSL_DISK_BUS_IDE ? "ide" : "lsilogic";
}

int vsl_ovf_generate(struct vsl_ctx *ctx, const struct vsl_bundle_config *cfg,
		     const struct vsl_ovf_disk *disks, char **xml, size_t *len,
		     struct vsl_problems *warn)
{
	struct ovf_gen g = { 0 };
	xmlNode *env, *refs, *ds, *ns, *vs, *os, *vhs, *sys, *n;
	unsigned scsi_id = 0, ide_id = 0, id, scsi_unit = 0, ide_unit = 0;
	char buf[128];
	int r;

	*xml = NULL;
	if (cfg->ndisks > VSL_IX_MAX_DISKS)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "more than %u disks", VSL_IX_MAX_DISKS);
	g.doc = xmlNewDoc(BAD_CAST "1.0");
	if (!g.doc)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	env = xmlNewNode(NULL, BAD_CAST "Envelope");
	xmlDocSetRootElement(g.doc, env);
	g.def = xmlNewNs(env, BAD_CAST OVF_NS, NULL);
	xmlSetNs(env, g.def);
	g.ovf = xmlNewNs(env, BAD_CAST OVF_NS, BAD_CAST "ovf");
	g.rasd = xmlNewNs(env, BAD_CAST OVF_RASD_NS, BAD_CAST "rasd");
	g.vssd = xmlNewNs(env, BAD_CAST OVF_VSSD_NS, BAD_CAST "vssd");
	xmlNewNs(env, BAD_CAST OVF_CIM_NS, BAD_CAST "cim");
	g.vmw = xmlNewNs(env, BAD_CAST OVF_VMW_NS, BAD_CAST "vmw");
	g.vessel = xmlNewNs(env, BAD_CAST OVF_VESSEL_NS, BAD_CAST "vessel");

	refs = ovf_el(env, g.def, "References", NULL);
	for (size_t i = 0; i < cfg->ndisks; i++) {
		n = ovf_el(refs, g.def, "File", NULL);
		snprintf(buf, sizeof(buf), "file%zu", i + 1);
		ovf_attr(n, g.ovf, "id", buf);
		ovf_attr(n, g.ovf, "href", disks[i].href);
		ovf_attr_u64(n, g.ovf, "size", disks[i].file_size);
		if (disks[i].chunk_size)
			ovf_attr_u64(n, g.ovf, "chunkSize", disks[i].chunk_size);
	}
	ds = ovf_el(env, g.def, "DiskSection", NULL);
	ovf_el(ds, g.def, "Info", "Virtual disk information");
	for (size_t i = 0; i < cfg->ndisks; i++) {
		n = ovf_el(ds, g.def, "Disk", NULL);
		snprintf(buf, sizeof(buf), "vmdisk%zu", i + 1);
		ovf_attr_u64(n, g.ovf, "capacity", disks[i].capacity);
		ovf_attr(n, g.ovf, "capacityAllocationUnits", "byte");
		ovf_attr(n, g.ovf, "diskId", buf);
		snprintf(buf, sizeof(buf), "file%zu", i + 1);
		ovf_attr(n, g.ovf, "fileRef", buf);
		ovf_attr(n, g.ovf, "format", OVF_VMDK_SO);
		if (disks[i].populated)
			ovf_attr_u64(n, g.ovf, "populatedSize", disks[i].populated);
	}
	ns = ovf_el(env, g.def, "NetworkSection", NULL);
	ovf_el(ns, g.def, "Info", "The list of logical networks");
	n = ovf_el(ns, g.def, "Network", NULL);
	ovf_attr(n, g.ovf, "name", "VM Network");
	ovf_el(n, g.def, "Description", "The VM Network network");

	vs = ovf_el(env, g.def, "VirtualSystem", NULL);
	ovf_attr(vs, g.ovf, "id", cfg->name);
	ovf_el(vs, g.def, "Info", "A virtual machine");
	ovf_el(vs, g.def, "Name", cfg->name);
	os = ovf_el(vs, g.def, "OperatingSystemSection", NULL);
	ovf_attr(os, g.ovf, "id", "101");
	ovf_attr(os, g.vmw, "osType", "otherLinux64Guest");
	ovf_el(os, g.def, "Info", "The kind of installed guest operating system");
	ovf_el(os, g.def, "Description", "Linux 64-Bit");

	vhs = ovf_el(vs, g.def, "VirtualHardwareSection", NULL);
	ovf_el(vhs, g.def, "Info", "Virtual hardware requirements");
	sys = ovf_el(vhs, g.def, "System", NULL);
	ovf_el(sys, g.vssd, "ElementName", "Virtual Hardware Family");
	ovf_el(sys, g.vssd, "InstanceID", "0");
	ovf_el(sys, g.vssd, "VirtualSystemIdentifier", cfg->name);
	ovf_el(sys, g.vssd, "VirtualSystemType", "vmx-13");

	{
		char q[32], en[64];

		snprintf(q, sizeof(q), "%u", cfg->cpus);
		snprintf(en, sizeof(en), "%u virtual CPU(s)", cfg->cpus);
		ovf_item(&g, vhs, &id, "AllocationUnits", "hertz * 10^6", "Description",
			 "Number of Virtual CPUs", "ElementName", en, "ResourceType", "3",
			 "VirtualQuantity", q, NULL);
	}
	{
		char q[32], en[64];
		bool mib = cfg->memory % (1u << 20) == 0;

		snprintf(q, sizeof(q), "%" PRIu64, cfg->memory >> (mib ? 20 : 10));
		snprintf(en, sizeof(en), "%s%s of memory", q, mib ? "MB" : "KB");
		ovf_item(&g, vhs, &id, "AllocationUnits", mib ? "byte * 2^20" : "byte * 2^10",
			 "Description", "Memory Size", "ElementName", en, "ResourceType", "4",
			 "VirtualQuantity", q, NULL);
	}
	for (size_t i = 0; i < cfg->ndisks; i++) {
		if (cfg->disks[i].bus == VSL_DISK_BUS_IDE && !ide_id)
			ovf_item(&g, vhs, &ide_id, "Address", "0", "Description", "IDE Controller",
				 "ElementName", "IDE 0", "ResourceType", "5", NULL);
		if (cfg->disks[i].bus != VSL_DISK_BUS_IDE && !scsi_id)
			ovf_item(&g, vhs, &scsi_id, "Address", "0", "Description", "SCSI Controller",
				 "ElementName", "SCSI Controller 0", "ResourceSubType", "lsilogic",
				 "ResourceType", "6", NULL);
	}
	for (size_t i = 0; i < cfg->ndisks; i++) {
		const struct vsl_bundle_disk *d = &cfg->disks[i];
		bool ide = d->bus == VSL_DISK_BUS_IDE;
		char aop[16], hr[64], parent[16];
		unsigned unit;

		if (ide && ide_unit >= 4)
			return xmlFreeDoc(g.doc), vsl_set_error(ctx, 0, VSL_ERANGE,
								"more than 4 IDE disks cannot be described");
		if (!ide && scsi_unit >= 15)
			return xmlFreeDoc(g.doc), vsl_set_error(ctx, 0, VSL_ERANGE,
								"more than 15 SCSI disks cannot be described");
		unit = ide ? ide_unit++ : scsi_unit++;
		if (!ide && unit >= 7)
			unit++; /* SCSI ID 7 is the controller's own */
		snprintf(aop, sizeof(aop), "%u", unit);
		snprintf(hr, sizeof(hr), "ovf:/disk/vmdisk%zu", i + 1);
		snprintf(parent, sizeof(parent), "%u", ide ? ide_id : scsi_id);
		n = ovf_item(&g, vhs, &id, "AddressOnParent", aop, "ElementName", d->name,
			     "HostResource", hr, "Parent", parent, "ResourceType", "17", NULL);
		ovf_attr(n, g.vessel, "bus", vsl_bundle_bus_name(d->bus));
		if (d->readonly) {
			ovf_attr(n, g.vessel, "read-only", "true");
			vsl_ix_warn(warn, NULL, "disk '%s': OVF has no read-only disks; it is writable in the OVF",
				    d->name);
		}
	}
	for (size_t i = 0; i < cfg->nnics; i++) {
		const struct vsl_bundle_nic *nic = &cfg->nics[i];
		char mac[24], en[48], desc[64];

		snprintf(en, sizeof(en), "Network adapter %zu", i + 1);
		snprintf(desc, sizeof(desc), "VmxNet3 ethernet adapter on \"VM Network\"");
		if (nic->has_mac)
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", nic->mac[0],
				 nic->mac[1], nic->mac[2], nic->mac[3], nic->mac[4], nic->mac[5]);
		n = ovf_item(&g, vhs, &id, "Address", nic->has_mac ? mac : NULL,
			     "AddressOnParent", (snprintf(en + 32, 16, "%zu", 7 + i), en + 32),
			     "AutomaticAllocation", nic->mode == VSL_NET_NONE ? "false" : "true",
			     "Connection", "VM Network", "Description", desc, "ElementName", en,
			     "ResourceSubType", "VmxNet3", "ResourceType", "10", NULL);
		ovf_attr(n, g.vessel, "model", nic->model ? nic->model : "virtio");
		ovf_attr(n, g.vessel, "mode", vsl_bundle_net_mode_name(nic->mode));
		if (nic->nforwards)
			vsl_ix_warn(warn, NULL,
				    "network[%zu]: %zu port forward(s) cannot be expressed in OVF and are left out",
				    i, nic->nforwards);
	}
	if (cfg->serial.output != VSL_SERIAL_NONE || cfg->serial.port) {
		char en[32];

		snprintf(en, sizeof(en), "Serial port %u", cfg->serial.port ? cfg->serial.port : 1);
		n = ovf_item(&g, vhs, &id, "AutomaticAllocation", "true", "ElementName", en,
			     "ResourceType", "21", NULL);
		ovf_attr(n, g.vessel, "output", vsl_bundle_serial_output_name(cfg->serial.output));
	}
	if (cfg->boot.kind == VSL_BOOT_FIRMWARE && cfg->boot.firmware == VSL_FIRMWARE_UEFI) {
		n = ovf_el(vhs, g.vmw, "Config", NULL);
		ovf_attr(n, g.ovf, "required", "false");
		ovf_attr(n, g.vmw, "key", "firmware");
		ovf_attr(n, g.vmw, "value", "efi");
	}
	if (cfg->boot.kind == VSL_BOOT_KERNEL)
		vsl_ix_warn(warn, NULL,
			    "boot: direct kernel boot (%s) cannot be expressed in OVF; the machine will boot from its first disk",
			    cfg->boot.kernel ? cfg->boot.kernel : "kernel");
	else if (cfg->boot.kind == VSL_BOOT_FIRMWARE && cfg->boot.disk && cfg->ndisks &&
		 strcmp(cfg->boot.disk, cfg->disks[0].name))
		vsl_ix_warn(warn, NULL,
			    "boot: OVF has no boot-disk field; '%s' is not the first disk, so consumers may boot '%s'",
			    cfg->boot.disk, cfg->disks[0].name);

	r = vsl_ix_xml_dump(ctx, g.doc, xml, len);
	xmlFreeDoc(g.doc);
	return r;
}

/* ---- parsing ---- */

struct ovf_ctrl {
	char *id;           /* InstanceID */
	enum vsl_ix_ctrl kind;
	char *sub;
};

struct ovf_parse {
	struct vsl_ctx *ctx;
	const char *file;
	struct vsl_problems *warn;
	struct vsl_ix_vm *vm;
	struct ovf_ctrl ctrl[64];
	size_t nctrl;
	xmlNode *disk_section;
	unsigned warned_types[64];
	size_t nwarned;
	bool ovirt;         /* oVirt flavour: xsi:type'd Sections, its own ResourceType 20, MACAddress, ... */
};

/*
 * Section `name` of parent: the element itself (<DiskSection>) or, as
 * oVirt writes them, <Section xsi:type="ovf:DiskSection_Type"> (also
 * <Content xsi:type="ovf:VirtualSystem_Type"> for the VirtualSystem).
 */
static xmlNode *ovf_section(const xmlNode *parent, const char *name)
{
	xmlNode *n = vsl_ix_xml_child(parent, name, NULL);
	char want[64];

	if (n)
		return n;
	snprintf(want, sizeof(want), "%s_Type", name);
	for (n = parent ? parent->children : NULL; n; n = n->next) {
		char *t;
		const char *colon;
		bool m;

		if (n->type != XML_ELEMENT_NODE ||
		    (strcmp((const char *)n->name, "Section") && strcmp((const char *)n->name, "Content")))
			continue;
		t = vsl_ix_xml_attr(n, "type");
		colon = t ? strchr(t, ':') : NULL;
		m = t && !strcmp(colon ? colon + 1 : t, want);
		free(t);
		if (m)
			return n;
	}
	return NULL;
}

/* "byte * 2^20", "MegaBytes", "KB", "byte"... -> multiplier; 0 when unknown. */
static uint64_t ovf_units(const char *u)
{
	char s[64];
	size_t n = 0;
	unsigned base, exp;

	if (!u || !*u)
		return 1;
	for (; *u && n < sizeof(s) - 1; u++)
		if (!isspace((unsigned char)*u))
			s[n++] = (char)tolower((unsigned char)*u);
	s[n] = 0;
	if (!strcmp(s, "byte") || !strcmp(s, "bytes"))
		return 1;
	if (sscanf(s, "byte*%u^%u", &base, &exp) == 2 && (base == 2 || base == 10)) {
		uint64_t m = 1;

		for (unsigned i = 0; i < exp; i++) {
			if (m > UINT64_MAX / base)
				return 0;
			m *= base;
		}
		return m;
	}
	if (!strcmp(s, "kilobytes") || !strcmp(s, "kb") || !strcmp(s, "kib"))
		return 1ull << 10;
	if (!strcmp(s, "megabytes") || !strcmp(s, "mb") || !strcmp(s, "mib"))
		return 1ull << 20;
	if (!strcmp(s, "gigabytes") || !strcmp(s, "gb") || !strcmp(s, "gib"))
		return 1ull << 30;
	if (!strcmp(s, "terabytes") || !strcmp(s, "tb") || !strcmp(s, "tib"))
		return 1ull << 40;
	return 0;
}

/* value * units, with the element named in errors. */
static int ovf_quantity(struct ovf_parse *p, const char *what, const char *val, const char *units,
			uint64_t *out)
{
	uint64_t v, m = ovf_units(units);
	int r;

	if (!m)
		return vsl_set_error(p->ctx, 0, VSL_ENOTSUP, "%s: %s: unknown allocation units '%s'",
				     p->file, what, units);
	r = vsl_ix_parse_u64(val, &v);
	if (r < 0)
		return vsl_set_error(p->ctx, 0, r, "%s: %s: '%s' is not a %s", p->file, what,
				     val ? val : "", r == VSL_ERANGE ? "representable size" : "number");
	if (v && m > UINT64_MAX / v)
		return vsl_set_error(p->ctx, 0, VSL_ERANGE, "%s: %s: %s x %s overflows", p->file, what,
				     val, units);
	*out = v * m;
	return 0;
}

static char *ovf_rasd(const xmlNode *item, const char *name)
{
	return vsl_ix_xml_text(vsl_ix_xml_child(item, name, NULL));
}

static int ovf_references(struct ovf_parse *p, xmlNode *refs)
{
	for (xmlNode *f = vsl_ix_xml_child(refs, "File", NULL); f; f = vsl_ix_xml_next(f, "File", NULL)) {
		struct vsl_ix_file *xf = vsl_ix_vm_add_file(p->ctx, p->vm);
		char *size, *chunk, *comp;
		int r = 0;

		if (!xf)
			return vsl_ctx_code(p->ctx) ? vsl_ctx_code(p->ctx) : VSL_ENOMEM;
		xf->id = vsl_ix_xml_attr(f, "id");
		xf->href = vsl_ix_xml_attr(f, "href");
		if (!xf->id || !xf->href || !*xf->id || !*xf->href)
			return vsl_set_error(p->ctx, 0, VSL_EINVAL,
					     "%s:%d: File without ovf:id or ovf:href", p->file, OVF_LINE(f));
		size = vsl_ix_xml_attr(f, "size");
		chunk = vsl_ix_xml_attr(f, "chunkSize");
		comp = vsl_ix_xml_attr(f, "compression");
		if (size && vsl_ix_parse_u64(size, &xf->size) < 0)
			r = vsl_set_error(p->ctx, 0, VSL_EINVAL, "%s:%d: File '%s': bad ovf:size '%s'",
					  p->file, OVF_LINE(f), xf->id, size);
		if (!r && chunk && (vsl_ix_parse_u64(chunk, &xf->chunk_size) < 0 || !xf->chunk_size))
			r = vsl_set_error(p->ctx, 0, VSL_EINVAL, "%s:%d: File '%s': bad ovf:chunkSize '%s'",
					  p->file, OVF_LINE(f), xf->id, chunk);
		if (!r && comp && *comp && strcmp(comp, "identity"))
			r = vsl_set_error(p->ctx, 0, VSL_ENOTSUP,
					  "%s:%d: File '%s': ovf:compression '%s' is not supported",
					  p->file, OVF_LINE(f), xf->id, comp);
		free(size);
		free(chunk);
		free(comp);
		if (r)
			return r;
		for (size_t i = 0; i + 1 < p->vm->nfiles; i++)
			if (!strcmp(p->vm->files[i].id, xf->id))
				return vsl_set_error(p->ctx, 0, VSL_EINVAL, "%s:%d: duplicate File id '%s'",
						     p->file, OVF_LINE(f), xf->id);
	}
	return 0;
}

static struct ovf_ctrl *ovf_find_ctrl(struct ovf_parse *p, const char *id)
{
	for (size_t i = 0; id && i < p->nctrl; i++)
		if (!strcmp(p->ctrl[i].id, id))
			return &p->ctrl[i];
	return NULL;
}

static void ovf_warn_type(struct ovf_parse *p, unsigned rt, const xmlNode *item, const char *what)
{
	char *en;

	for (size_t i = 0; i < p->nwarned; i++)
		if (p->warned_types[i] == rt)
			return;
	if (p->nwarned < VSL_ARRAY_SIZE(p->warned_types))
		p->warned_types[p->nwarned++] = rt;
	en = ovf_rasd(item, "ElementName");
	if (!en)
		en = ovf_rasd(item, "Caption"); /* oVirt */
	vsl_ix_warn(p->warn, p->file, "line %d: %s ('%s', ResourceType %u) is not mapped: vessel has none",
		    OVF_LINE(item), what, en ? en : "", rt);
	free(en);
}

/*
 * oVirt: HostResource is "IMAGE/VOLUME", the Disk's ovf:fileRef and the
 * File's ovf:href; the bus is the Disk's ovf:disk-interface, the format
 * its ovf:volume-format (RAW, COW = qcow2), the size ovf:capacity (bytes)
 * or ovf:size (GiB).
 */
static int ovf_ovirt_disk(struct ovf_parse *p, xmlNode *item, const char *hr, struct vsl_ix_disk *d)
{
	xmlNode *dn;
	char *cap = NULL, *gib = NULL, *iface = NULL, *vf = NULL;
	int r = 0;

	for (dn = vsl_ix_xml_child(p->disk_section, "Disk", NULL); dn; dn = vsl_ix_xml_next(dn, "Disk", NULL)) {
		char *fr = vsl_ix_xml_attr(dn, "fileRef");
		bool m = fr && !strcmp(fr, hr);

		free(fr);
		if (m)
			break;
	}
	if (!dn)
		return vsl_set_error(p->ctx, 0, VSL_EINVAL,
				     "%s:%d: disk item refers to '%s', which DiskSection does not list", p->file,
				     OVF_LINE(item), hr);
	for (size_t i = 0; i < p->vm->nfiles; i++)
		if (!strcmp(p->vm->files[i].href, hr))
			d->file = strdup(p->vm->files[i].id);
	if (!d->file)
		return vsl_set_error(p->ctx, 0, VSL_EINVAL, "%s:%d: disk '%s' has no File in References",
				     p->file, OVF_LINE(dn), hr);
	cap = vsl_ix_xml_attr(dn, "capacity");
	gib = vsl_ix_xml_attr(dn, "size");
	iface = vsl_ix_xml_attr(dn, "disk-interface");
	vf = vsl_ix_xml_attr(dn, "volume-format");
	if (cap)
		r = ovf_quantity(p, "Disk capacity", cap, "byte", &d->capacity);
	else if (gib)
		r = ovf_quantity(p, "Disk size", gib, "byte * 2^30", &d->capacity);
	if (!r && d->capacity > (64ull << 40))
		r = vsl_set_error(p->ctx, 0, VSL_ERANGE, "%s:%d: disk '%s' is over 64 TiB", p->file,
				  OVF_LINE(dn), hr);
	d->format = vf && !strcasecmp(vf, "COW") ? strdup("qcow2") : vf && !strcasecmp(vf, "RAW") ? strdup("raw") : NULL;
	if (!iface || !strcasecmp(iface, "VirtIO")) {
		d->ctrl = VSL_IX_CTRL_VIRTIO;
	} else if (!strcasecmp(iface, "IDE")) {
		d->ctrl = VSL_IX_CTRL_IDE;
	} else if (!strcasecmp(iface, "SATA")) {
		d->ctrl = VSL_IX_CTRL_SATA;
	} else {
		d->ctrl = VSL_IX_CTRL_SCSI;
		d->ctrl_sub = strdup(iface);
	}
	free(cap);
	free(gib);
	free(iface);
	free(vf);
	return r;
}

/* The disk referenced by HostResource "ovf:/disk/ID" or "ovf:/file/ID". */
static int ovf_disk_item(struct ovf_parse *p, xmlNode *item)
{
	char *hr = ovf_rasd(item, "HostResource"), *parent = ovf_rasd(item, "Parent");
	char *en = ovf_rasd(item, "ElementName"), *bus = vsl_ix_xml_attr(item, "bus");
	char *ro = vsl_ix_xml_attr(item, "read-only");
	const char *ref = NULL;
	struct ovf_ctrl *c = ovf_find_ctrl(p, parent);
	struct vsl_ix_disk *d;
	int r = 0;

	if (!hr) {
		vsl_ix_warn(p->warn, p->file, "line %d: disk item '%s' has no HostResource (an empty disk); skipped",
			    OVF_LINE(item), en ? en : "");
		goto out;
	}
	d = vsl_ix_vm_add_disk(p->ctx, p->vm);
	if (!d) {
		r = vsl_ctx_code(p->ctx);
		goto out;
	}
	if (!strncmp(hr, "ovf:/disk/", 10) || !strncmp(hr, "/disk/", 6)) {
		char *cap = NULL, *units = NULL, *fref = NULL, *fmt = NULL;
		xmlNode *dn;

		ref = strchr(hr + 1, '/') ? strrchr(hr, '/') + 1 : hr;
		for (dn = vsl_ix_xml_child(p->disk_section, "Disk", NULL); dn;
		     dn = vsl_ix_xml_next(dn, "Disk", NULL)) {
			char *id = vsl_ix_xml_attr(dn, "diskId");
			bool m = id && !strcmp(id, ref);

			free(id);
			if (m)
				break;
		}
		if (!dn) {
			r = vsl_set_error(p->ctx, 0, VSL_EINVAL,
					  "%s:%d: disk item refers to '%s', which DiskSection does not list",
					  p->file, OVF_LINE(item), hr);
			goto out;
		}
		cap = vsl_ix_xml_attr(dn, "capacity");
		units = vsl_ix_xml_attr(dn, "capacityAllocationUnits");
		fref = vsl_ix_xml_attr(dn, "fileRef");
		fmt = vsl_ix_xml_attr(dn, "format");
		if (!cap)
			r = vsl_set_error(p->ctx, 0, VSL_EINVAL, "%s:%d: Disk '%s' has no ovf:capacity",
					  p->file, OVF_LINE(dn), ref);
		else
			r = ovf_quantity(p, "Disk capacity", cap, units, &d->capacity);
		if (!r && d->capacity > (64ull << 40))
			r = vsl_set_error(p->ctx, 0, VSL_ERANGE,
					  "%s:%d: Disk '%s': capacity %" PRIu64 " bytes is over 64 TiB",
					  p->file, OVF_LINE(dn), ref, d->capacity);
		if (!r && !fref)
			vsl_ix_warn(p->warn, p->file, "line %d: Disk '%s' has no file (a blank disk of %" PRIu64
				    " bytes); it will be created empty", OVF_LINE(dn), ref, d->capacity);
		if (!r && fmt && !strstr(fmt, "vmdk"))
			vsl_ix_warn(p->warn, p->file, "line %d: Disk '%s': format '%s' is not VMDK; the disk is probed",
				    OVF_LINE(dn), ref, fmt);
		d->file = fref;
		fref = NULL;
		d->format = fmt && strstr(fmt, "vmdk") ? strdup("vmdk") : NULL;
		free(cap);
		free(units);
		free(fmt);
		free(fref);
		if (r)
			goto out;
	} else if (!strncmp(hr, "ovf:/file/", 10)) {
		d->file = strdup(hr + 10);
	} else if (p->ovirt) {
		r = ovf_ovirt_disk(p, item, hr, d);
		if (r < 0)
			goto out;
	} else {
		r = vsl_set_error(p->ctx, 0, VSL_ENOTSUP, "%s:%d: disk HostResource '%s' is not understood",
				  p->file, OVF_LINE(item), hr);
		goto out;
	}
	if (p->ovirt) {
		/* oVirt names the bus on the Disk (ovf:disk-interface), not with a controller item */
	} else if (c) {
		d->ctrl = c->kind;
		d->ctrl_sub = c->sub ? strdup(c->sub) : NULL;
	} else {
		vsl_ix_warn(p->warn, p->file, "line %d: disk '%s' has no known controller (Parent '%s')",
			    OVF_LINE(item), en ? en : "", parent ? parent : "");
	}
	if (bus && !strcmp(bus, "virtio"))
		d->ctrl = VSL_IX_CTRL_VIRTIO;
	d->readonly = ro && !strcmp(ro, "true");
	if (en && vsl_ix_valid_name(en))
		d->name = strdup(en);
out:
	free(hr);
	free(parent);
	free(en);
	free(bus);
	free(ro);
	return r;
}

static int ovf_item_parse(struct ovf_parse *p, xmlNode *item)
{
	char *rts = ovf_rasd(item, "ResourceType");
	char *cfgattr = vsl_ix_xml_attr(item, "configuration");
	uint64_t rt = 0;
	int r = 0;

	if (!rts || vsl_ix_parse_u64(rts, &rt) < 0 || rt > 65535) {
		r = vsl_set_error(p->ctx, 0, VSL_EINVAL, "%s:%d: Item without a valid rasd:ResourceType",
				  p->file, OVF_LINE(item));
		goto out;
	}
	if (cfgattr)
		vsl_ix_warn(p->warn, p->file,
			    "line %d: item for deployment configuration '%s' is read as if always present",
			    OVF_LINE(item), cfgattr);
	switch (rt) {
	case OVF_RT_CPU: {
		char *q = ovf_rasd(item, "VirtualQuantity");
		uint64_t v;

		if (!q && p->ovirt) { /* oVirt: sockets x cores x threads */
			static const char *const f[] = { "num_of_sockets", "cpu_per_socket", "threads_per_cpu" };
			uint64_t prod = 1, x;

			for (size_t i = 0; i < 3; i++) {
				char *t = ovf_rasd(item, f[i]);

				x = 1;
				if (t && (vsl_ix_parse_u64(t, &x) < 0 || x > VSL_BUNDLE_CPUS_MAX))
					x = 0;
				free(t);
				prod = x && prod <= VSL_BUNDLE_CPUS_MAX ? prod * x : 0;
			}
			q = vsl_strdup_printf("%llu", (unsigned long long)prod);
		}
		if (!q || vsl_ix_parse_u64(q, &v) < 0 || v < 1 || v > VSL_BUNDLE_CPUS_MAX)
			r = vsl_set_error(p->ctx, 0, VSL_ERANGE,
					  "%s:%d: CPU count '%s' is not between 1 and %u", p->file,
					  OVF_LINE(item), q ? q : "", VSL_BUNDLE_CPUS_MAX);
		else
			p->vm->cpus = (unsigned)v;
		free(q);
		break;
	}
	case OVF_RT_MEMORY: {
		char *q = ovf_rasd(item, "VirtualQuantity"), *u = ovf_rasd(item, "AllocationUnits");

		if (!u) /* OVF 1.0 writers used VirtualQuantityUnits; MB is the VMware default */
			u = ovf_rasd(item, "VirtualQuantityUnits");
		r = ovf_quantity(p, "memory", q, u ? u : "byte * 2^20", &p->vm->memory);
		if (!r && (p->vm->memory < VSL_BUNDLE_MEM_MIN || p->vm->memory > VSL_BUNDLE_MEM_MAX))
			r = vsl_set_error(p->ctx, 0, VSL_ERANGE,
					  "%s:%d: memory of %" PRIu64 " bytes is outside 16 MiB..1 TiB",
					  p->file, OVF_LINE(item), p->vm->memory);
		free(q);
		free(u);
		break;
	}
	case OVF_RT_STORAGE:
		if (p->ovirt) {
			ovf_warn_type(p, (unsigned)rt, item, "video card (vessel has a serial console only)");
			break;
		}
		/* fall through */
	case OVF_RT_IDE:
	case OVF_RT_SCSI: {
		struct ovf_ctrl *c;
		char *sub;

		if (p->nctrl >= VSL_ARRAY_SIZE(p->ctrl)) {
			r = vsl_set_error(p->ctx, 0, VSL_ERANGE, "%s: more than %zu disk controllers",
					  p->file, VSL_ARRAY_SIZE(p->ctrl));
			break;
		}
		c = &p->ctrl[p->nctrl];
		c->id = ovf_rasd(item, "InstanceID");
		if (!c->id) {
			r = vsl_set_error(p->ctx, 0, VSL_EINVAL, "%s:%d: controller without InstanceID",
					  p->file, OVF_LINE(item));
			break;
		}
		p->nctrl++;
		sub = ovf_rasd(item, "ResourceSubType");
		c->sub = sub;
		c->kind = rt == OVF_RT_IDE ? VSL_IX_CTRL_IDE :
			  rt == OVF_RT_SCSI ? VSL_IX_CTRL_SCSI : VSL_IX_CTRL_SATA;
		if (rt == OVF_RT_STORAGE && sub && strcasestr(sub, "nvme"))
			c->kind = VSL_IX_CTRL_NVME;
		break;
	}
	case OVF_RT_DISK:
		r = ovf_disk_item(p, item);
		break;
	case OVF_RT_NIC: {
		struct vsl_ix_nic *n = vsl_ix_vm_add_nic(p->ctx, p->vm);
		char *mac = ovf_rasd(item, p->ovirt ? "MACAddress" : "Address");
		char *sub = ovf_rasd(item, "ResourceSubType");
		char *aa = ovf_rasd(item, "AutomaticAllocation"), *model = vsl_ix_xml_attr(item, "model");
		char *mode = vsl_ix_xml_attr(item, "mode");

		if (!n) {
			r = vsl_ctx_code(p->ctx);
		} else {
			if (mac && *mac) {
				if (vsl_ix_parse_mac(mac, n->mac) == 0)
					n->has_mac = true;
				else
					vsl_ix_warn(p->warn, p->file,
						    "line %d: network card address '%s' is not a MAC address; ignored",
						    OVF_LINE(item), mac);
			}
			if (p->ovirt && sub && !model) { /* oVirt's VmInterfaceType numbers */
				static const char *const ovirt_nics[] = { "rtl8139_pv", "rtl8139", "e1000", "virtio",
									  "spapr-vlan", "pci-passthrough" };
				uint64_t k;

				if (vsl_ix_parse_u64(sub, &k) == 0 && k < VSL_ARRAY_SIZE(ovirt_nics)) {
					free(sub);
					sub = strdup(ovirt_nics[k]);
				}
			}
			n->model = model ? strdup(model) : sub ? strdup(sub) : NULL;
			for (char *c = n->model; c && *c; c++)
				*c = (char)tolower((unsigned char)*c);
			n->connected = !(aa && !strcasecmp(aa, "false")) && !(mode && !strcmp(mode, "none"));
		}
		free(mac);
		free(sub);
		free(aa);
		free(model);
		free(mode);
		break;
	}
	case OVF_RT_SERIAL: {
		char *en = ovf_rasd(item, "ElementName"), *out = vsl_ix_xml_attr(item, "output");
		unsigned port = 0;

		if (p->vm->serial) {
			vsl_ix_warn(p->warn, p->file, "line %d: only one serial port is kept", OVF_LINE(item));
		} else {
			p->vm->serial = true;
			if (en && sscanf(en, "Serial port %u", &port) == 1 && port >= 1 && port <= 4)
				p->vm->serial_port = port;
			p->vm->serial_silent = out && !strcmp(out, "none");
		}
		free(en);
		free(out);
		break;
	}
	case OVF_RT_CDDRIVE:
	case OVF_RT_DVDDRIVE:
		ovf_warn_type(p, (unsigned)rt, item, "CD/DVD drive");
		break;
	case OVF_RT_FLOPPY:
		ovf_warn_type(p, (unsigned)rt, item, "floppy drive");
		break;
	case OVF_RT_USB:
		ovf_warn_type(p, (unsigned)rt, item, "USB controller");
		break;
	case OVF_RT_GRAPHICS:
		ovf_warn_type(p, (unsigned)rt, item, "video card (vessel has a serial console only)");
		break;
	case OVF_RT_SOUND:
		ovf_warn_type(p, (unsigned)rt, item, "sound card");
		break;
	case OVF_RT_PARALLEL:
		ovf_warn_type(p, (unsigned)rt, item, "parallel port");
		break;
	default:
		ovf_warn_type(p, (unsigned)rt, item, "device");
		break;
	}
out:
	free(rts);
	free(cfgattr);
	return r;
}

/*
 * VirtualBox keeps the MAC addresses out of the RASD items, in its own
 * <vbox:Machine><Hardware><Network><Adapter MACAddress="0800271A2B3C"
 * enabled="true"> section: give them, in slot order, to the NICs that
 * have none.
 */
static void ovf_vbox_macs(struct ovf_parse *p, xmlNode *vs)
{
	xmlNode *m = vsl_ix_xml_child(vs, "Machine", OVF_VBOX_NS);
	xmlNode *net = vsl_ix_xml_child(vsl_ix_xml_child(m, "Hardware", NULL), "Network", NULL);
	size_t next = 0;

	for (xmlNode *a = vsl_ix_xml_child(net, "Adapter", NULL); a; a = vsl_ix_xml_next(a, "Adapter", NULL)) {
		char *en = vsl_ix_xml_attr(a, "enabled"), *mac = vsl_ix_xml_attr(a, "MACAddress");
		char colon[18];

		if (en && !strcmp(en, "true") && mac && strlen(mac) == 12 && next < p->vm->nnics) {
			snprintf(colon, sizeof(colon), "%.2s:%.2s:%.2s:%.2s:%.2s:%.2s", mac, mac + 2, mac + 4,
				 mac + 6, mac + 8, mac + 10);
			while (next < p->vm->nnics && p->vm->nics[next].has_mac)
				next++;
			if (next < p->vm->nnics && vsl_ix_parse_mac(colon, p->vm->nics[next].mac) == 0)
				p->vm->nics[next++].has_mac = true;
		}
		free(en);
		free(mac);
	}
}

int vsl_ovf_parse(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
		  struct vsl_ix_vm *vm, struct vsl_problems *warn)
{
	struct ovf_parse p = { .ctx = ctx, .file = file, .warn = warn, .vm = vm };
	xmlDoc *doc = NULL;
	xmlNode *env, *vs, *vhs, *n;
	const char *ns;
	int r;

	vsl_ix_vm_init(vm);
	r = vsl_ix_xml_read(ctx, text, len, file, &doc);
	if (r < 0)
		return r;
	env = xmlDocGetRootElement(doc);
	ns = env->ns && env->ns->href ? (const char *)env->ns->href : "";
	if (strcmp((const char *)env->name, "Envelope") ||
	    (strcmp(ns, OVF_NS) && strcmp(ns, OVF_NS2) && strcmp(ns, OVF_NS_OVIRT))) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL,
				  "%s: not an OVF descriptor (root element is <%s> in namespace '%s', expected <Envelope> in %s)",
				  file, (const char *)env->name, ns, OVF_NS);
		goto out;
	}
	if (!strcmp(ns, OVF_NS2))
		vsl_ix_warn(warn, file, "OVF 2.0 envelope: read with the OVF 1.x rules");
	vm->ovirt = p.ovirt = !strcmp(ns, OVF_NS_OVIRT);
	r = ovf_references(&p, vsl_ix_xml_child(env, "References", NULL));
	if (r < 0)
		goto out;
	p.disk_section = ovf_section(env, "DiskSection");
	if (vsl_ix_xml_child(env, "VirtualSystemCollection", NULL)) {
		r = vsl_set_error(ctx, 0, VSL_ENOTSUP,
				  "%s: a VirtualSystemCollection (a multi-VM vApp) is not supported; import one VirtualSystem at a time",
				  file);
		goto out;
	}
	vs = ovf_section(env, "VirtualSystem");
	if (!vs) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: no VirtualSystem element", file);
		goto out;
	}
	if (!p.ovirt && vsl_ix_xml_next(vs, "VirtualSystem", NULL))
		vsl_ix_warn(warn, file, "more than one VirtualSystem: only the first is imported");
	n = vsl_ix_xml_child(vs, "Name", NULL);
	vm->name = n ? vsl_ix_xml_text(n) : vsl_ix_xml_attr(vs, "id");
	n = ovf_section(vs, "OperatingSystemSection");
	if (n) {
		vm->os = p.ovirt ? vsl_ix_xml_text(vsl_ix_xml_child(n, "Description", NULL)) :
				   vsl_ix_xml_attr(n, "osType");
		if (!vm->os)
			vm->os = vsl_ix_xml_attr(n, "id");
	}
	vhs = ovf_section(vs, "VirtualHardwareSection");
	if (!vhs) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: VirtualSystem has no VirtualHardwareSection", file);
		goto out;
	}
	if (!p.ovirt && vsl_ix_xml_next(vhs, "VirtualHardwareSection", NULL))
		vsl_ix_warn(warn, file, "more than one VirtualHardwareSection: only the first is read");
	/* controllers first: disks refer to them by InstanceID wherever they are */
	for (n = vsl_ix_xml_child(vhs, "Item", NULL); n; n = vsl_ix_xml_next(n, "Item", NULL)) {
		char *rt = ovf_rasd(n, "ResourceType");
		bool ctrl = rt && (!strcmp(rt, "5") || !strcmp(rt, "6") || (!strcmp(rt, "20") && !p.ovirt));

		free(rt);
		if (ctrl && (r = ovf_item_parse(&p, n)) < 0)
			goto out;
	}
	for (n = vsl_ix_xml_child(vhs, "Item", NULL); n; n = vsl_ix_xml_next(n, "Item", NULL)) {
		char *rt = ovf_rasd(n, "ResourceType");
		bool ctrl = rt && (!strcmp(rt, "5") || !strcmp(rt, "6") || (!strcmp(rt, "20") && !p.ovirt));

		free(rt);
		if (!ctrl && (r = ovf_item_parse(&p, n)) < 0)
			goto out;
	}
	ovf_vbox_macs(&p, vs);
	for (n = vsl_ix_xml_child(vhs, "Config", OVF_VMW_NS); n; n = vsl_ix_xml_next(n, "Config", OVF_VMW_NS)) {
		char *k = vsl_ix_xml_attr(n, "key"), *v = vsl_ix_xml_attr(n, "value");

		if (k && v && !strcmp(k, "firmware") && !strcmp(v, "efi"))
			vm->firmware = VSL_FIRMWARE_UEFI;
		free(k);
		free(v);
	}
	if (!vm->cpus) {
		vm->cpus = 1;
		vsl_ix_warn(warn, file, "no CPU item: 1 CPU assumed");
	}
	if (!vm->memory) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: no memory item (ResourceType 4)", file);
		goto out;
	}
	/* every disk's file must be a listed reference */
	for (size_t i = 0; i < vm->ndisks; i++) {
		bool found = !vm->disks[i].file;

		for (size_t j = 0; !found && j < vm->nfiles; j++)
			found = !strcmp(vm->files[j].id, vm->disks[i].file);
		if (!found) {
			r = vsl_set_error(ctx, 0, VSL_EINVAL,
					  "%s: disk %zu refers to file '%s', which References does not list",
					  file, i + 1, vm->disks[i].file);
			goto out;
		}
	}
out:
	for (size_t i = 0; i < p.nctrl; i++) {
		free(p.ctrl[i].id);
		free(p.ctrl[i].sub);
	}
	xmlFreeDoc(doc);
	return r;
}
