/*
 * Interchange helpers: safe XML reading, small parsers, the neutral VM
 * description (struct vsl_ix_vm) and its lists.
 *
 * XML from other tools is untrusted. libxml2 is asked for no network
 * (XML_PARSE_NONET), no DTD loading and no entity substitution (neither
 * XML_PARSE_DTDLOAD nor XML_PARSE_NOENT), and a document with a DOCTYPE is
 * refused outright: OVF, .vmx-adjacent and libvirt XML never need one, and
 * both external entities and entity-expansion bombs ("billion laughs")
 * need a DTD to declare their entities. Refusing it also keeps later
 * xmlNodeGetContent() calls from expanding anything.
 *
 *	xmlDoc *doc;
 *	if (vsl_ix_xml_read(ctx, text, len, "web.ovf", &doc) < 0) ...
 *	xmlNode *root = xmlDocGetRootElement(doc);
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "formats/interchange_priv.h"

/* libxml2 would print parse errors to stderr by default: libraries never print. */
static void ix_xml_quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

int vsl_ix_xml_read(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
		    xmlDoc **out)
{
	xmlParserCtxt *pc;
	xmlDoc *doc;
	int r = 0;

	*out = NULL;
	if (len > VSL_IX_DESC_MAX)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: %zu bytes is over the %u MiB limit for a descriptor",
				     file, len, VSL_IX_DESC_MAX >> 20);
	if (len == 0)
		return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: empty document", file);
	{
		/* refuse before parsing: no entity declaration is ever looked at */
		const char *dt = memmem(text, len, "<!DOCTYPE", 9);

		if (dt) {
			int line = 1;

			for (const char *c = text; c < dt; c++)
				line += *c == '\n';
			return vsl_set_error(ctx, 0, VSL_EPERM,
					     "%s:%d: the document has a DOCTYPE declaration; refused (entities are not accepted in descriptors)",
					     file, line);
		}
	}
	pc = xmlNewParserCtxt();
	if (!pc)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	xmlSetGenericErrorFunc(NULL, ix_xml_quiet);
	doc = xmlCtxtReadMemory(pc, text, (int)len, file, NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				XML_PARSE_NOCDATA);
	if (!doc) {
		xmlError *e = xmlCtxtGetLastError(pc);
		char msg[256] = "not well-formed XML";

		if (e && e->message) {
			snprintf(msg, sizeof(msg), "%s", e->message);
			msg[strcspn(msg, "\n")] = 0;
		}
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s:%d: %s", file, e ? e->line : 0, msg);
		goto out;
	}
	if (doc->intSubset || doc->extSubset) {
		r = vsl_set_error(ctx, 0, VSL_EPERM,
				  "%s: the document has a DOCTYPE declaration; refused (entities are not accepted in descriptors)",
				  file);
		xmlFreeDoc(doc);
		goto out;
	}
	if (!xmlDocGetRootElement(doc)) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: no root element", file);
		xmlFreeDoc(doc);
		goto out;
	}
	*out = doc;
out:
	xmlFreeParserCtxt(pc);
	return r;
}

static bool ix_xml_match(const xmlNode *n, const char *name, const char *ns)
{
	if (n->type != XML_ELEMENT_NODE)
		return false;
	if (name && strcmp((const char *)n->name, name))
		return false;
	if (ns && (!n->ns || !n->ns->href || strcmp((const char *)n->ns->href, ns)))
		return false;
	return true;
}

xmlNode *vsl_ix_xml_child(const xmlNode *n, const char *name, const char *ns)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (ix_xml_match(c, name, ns))
			return c;
	return NULL;
}

xmlNode *vsl_ix_xml_next(const xmlNode *n, const char *name, const char *ns)
{
	for (xmlNode *c = n ? n->next : NULL; c; c = c->next)
		if (ix_xml_match(c, name, ns))
			return c;
	return NULL;
}

char *vsl_ix_xml_text(const xmlNode *n)
{
	size_t cap = 0, len = 0;
	char *s = NULL;

	if (!n)
		return NULL;
	for (xmlNode *c = n->children; c; c = c->next) {
		size_t l;
		char *ns;

		/* entity references are never expanded (there are no DTDs anyway) */
		if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) || !c->content)
			continue;
		l = strlen((const char *)c->content);
		if (len + l + 1 > cap) {
			cap = len + l + 1;
			ns = realloc(s, cap);
			if (!ns) {
				free(s);
				return NULL;
			}
			s = ns;
		}
		memcpy(s + len, c->content, l);
		len += l;
		s[len] = 0;
	}
	if (!s)
		return NULL;
	{
		char *b = s, *e = s + len;

		while (*b && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		memmove(s, b, (size_t)(e - b));
		s[e - b] = 0;
	}
	return s;
}

char *vsl_ix_xml_attr(const xmlNode *n, const char *name)
{
	for (xmlAttr *a = n ? n->properties : NULL; a; a = a->next) {
		if (strcmp((const char *)a->name, name))
			continue;
		if (!a->children)
			return strdup("");
		if (a->children->type == XML_TEXT_NODE && !a->children->next && a->children->content)
			return strdup((const char *)a->children->content);
		return NULL;
	}
	return NULL;
}

int vsl_ix_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return VSL_EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return VSL_EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return VSL_ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int vsl_ix_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char sep[5], tail;

	if (!s || strlen(s) != 17)
		return VSL_EINVAL;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2) {
			if (s[i] != ':' && s[i] != '-')
				return VSL_EINVAL;
		} else if (!isxdigit((unsigned char)s[i])) {
			return VSL_EINVAL;
		}
	}
	if (sscanf(s, "%2x%c%2x%c%2x%c%2x%c%2x%c%2x%c", &v[0], &sep[0], &v[1], &sep[1], &v[2],
		   &sep[2], &v[3], &sep[3], &v[4], &sep[4], &v[5], &tail) != 11)
		return VSL_EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

bool vsl_ix_valid_name(const char *s)
{
	size_t n;

	if (!s || !isalnum((unsigned char)s[0]))
		return false;
	n = strlen(s);
	if (n > VSL_BUNDLE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return !(s[0] && (unsigned char)s[0] >= 0x80);
}

char *vsl_ix_bundle_name(const char *s)
{
	char buf[VSL_BUNDLE_NAME_MAX + 1];
	size_t n = 0;

	if (!s)
		return NULL;
	while (*s && !isalnum((unsigned char)*s))
		s++;
	for (; *s && n < VSL_BUNDLE_NAME_MAX; s++) {
		unsigned char c = (unsigned char)*s;

		buf[n++] = (c < 0x80 && (isalnum(c) || c == '.' || c == '_' || c == '-')) ? (char)c : '-';
	}
	while (n && buf[n - 1] == '-')
		n--;
	buf[n] = 0;
	return n && vsl_ix_valid_name(buf) ? strdup(buf) : NULL;
}

void vsl_ix_warn(struct vsl_problems *warn, const char *file, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vsl_problems_add(warn, VSL_PROBLEM_WARNING, file ? file : "", 0, 0, "%s", msg);
}

void vsl_ix_vm_init(struct vsl_ix_vm *vm)
{
	*vm = (struct vsl_ix_vm){ .firmware = VSL_FIRMWARE_BIOS };
}

void vsl_ix_vm_fini(struct vsl_ix_vm *vm)
{
	if (!vm)
		return;
	free(vm->name);
	free(vm->os);
	free(vm->kernel);
	free(vm->initrd);
	free(vm->cmdline);
	for (size_t i = 0; i < vm->ndisks; i++) {
		free(vm->disks[i].name);
		free(vm->disks[i].file);
		free(vm->disks[i].format);
		free(vm->disks[i].ctrl_sub);
	}
	free(vm->disks);
	for (size_t i = 0; i < vm->nnics; i++)
		free(vm->nics[i].model);
	free(vm->nics);
	for (size_t i = 0; i < vm->nfiles; i++) {
		free(vm->files[i].id);
		free(vm->files[i].href);
	}
	free(vm->files);
	vsl_ix_vm_init(vm);
}

static void *ix_grow(struct vsl_ctx *ctx, void **arr, size_t *n, size_t size, size_t max,
		     const char *what)
{
	void *p;

	if (*n >= max) {
		vsl_set_error(ctx, 0, VSL_ERANGE, "more than %zu %s", max, what);
		return NULL;
	}
	p = vsl_reallocarray(*arr, *n + 1, size);
	if (!p) {
		vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		return NULL;
	}
	*arr = p;
	p = (char *)p + *n * size;
	memset(p, 0, size);
	(*n)++;
	return p;
}

struct vsl_ix_disk *vsl_ix_vm_add_disk(struct vsl_ctx *ctx, struct vsl_ix_vm *vm)
{
	return ix_grow(ctx, (void **)&vm->disks, &vm->ndisks, sizeof(*vm->disks), VSL_IX_MAX_DISKS,
		       "disks");
}

struct vsl_ix_nic *vsl_ix_vm_add_nic(struct vsl_ctx *ctx, struct vsl_ix_vm *vm)
{
	struct vsl_ix_nic *n = ix_grow(ctx, (void **)&vm->nics, &vm->nnics, sizeof(*vm->nics),
				       VSL_IX_MAX_NICS, "network cards");
	if (n)
		n->connected = true;
	return n;
}

struct vsl_ix_file *vsl_ix_vm_add_file(struct vsl_ctx *ctx, struct vsl_ix_vm *vm)
{
	return ix_grow(ctx, (void **)&vm->files, &vm->nfiles, sizeof(*vm->files), VSL_IX_MAX_FILES,
		       "file references");
}

int vsl_ix_xml_dump(struct vsl_ctx *ctx, xmlDoc *doc, char **xml, size_t *len)
{
	xmlChar *buf = NULL;
	int n = 0;

	xmlDocDumpFormatMemoryEnc(doc, &buf, &n, "UTF-8", 1);
	if (!buf || n <= 0)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory serialising XML");
	*xml = strdup((const char *)buf);
	xmlFree(buf);
	if (!*xml)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	*len = (size_t)n;
	return 0;
}
