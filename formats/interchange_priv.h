/*
 * Helpers shared by the interchange modules (ovf.c, ova.c, vmx.c,
 * libvirt.c, interchange.c); not a public API.
 */
#ifndef VESSEL_INTERCHANGE_PRIV_H
#define VESSEL_INTERCHANGE_PRIV_H

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "vessel/interchange.h"

/*
 * Parse untrusted XML from memory: no network, no DTD loading, no entity
 * substitution, and any DOCTYPE is refused (entity bombs and external
 * entities need one). Errors name file:line. *out: free with xmlFreeDoc.
 */
int vsl_ix_xml_read(struct vsl_ctx *ctx, const char *text, size_t len, const char *file,
		    xmlDoc **out);

/* First element child of n named name (any namespace when ns is NULL); NULL if none. */
xmlNode *vsl_ix_xml_child(const xmlNode *n, const char *name, const char *ns);
/* Next element sibling after n with the same rules. */
xmlNode *vsl_ix_xml_next(const xmlNode *n, const char *name, const char *ns);
/* Text content of n (trimmed), heap, or NULL. Only direct text children are read. */
char *vsl_ix_xml_text(const xmlNode *n);
/* Attribute by local name (namespaced or not); heap or NULL. */
char *vsl_ix_xml_attr(const xmlNode *n, const char *name);

/* Strict decimal uint64 (no sign, no spaces, no overflow); 0 or VSL_EINVAL/VSL_ERANGE. */
int vsl_ix_parse_u64(const char *s, uint64_t *out);
/* "52:54:00:12:34:56" (also '-' separated); 0 or VSL_EINVAL. */
int vsl_ix_parse_mac(const char *s, uint8_t mac[6]);
/* A valid bundle name made from s (invalid characters become '-'), or NULL if nothing usable. */
char *vsl_ix_bundle_name(const char *s);
/* True when s is a valid bundle name ([A-Za-z0-9][A-Za-z0-9._-]{0,63}). */
bool vsl_ix_valid_name(const char *s);

/* Append a warning about file (may be NULL). */
void vsl_ix_warn(struct vsl_problems *warn, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Append a zeroed disk/nic/file; NULL on out-of-memory or over the VSL_IX_MAX_* limit. */
struct vsl_ix_disk *vsl_ix_vm_add_disk(struct vsl_ctx *ctx, struct vsl_ix_vm *vm);
struct vsl_ix_nic *vsl_ix_vm_add_nic(struct vsl_ctx *ctx, struct vsl_ix_vm *vm);
struct vsl_ix_file *vsl_ix_vm_add_file(struct vsl_ctx *ctx, struct vsl_ix_vm *vm);

/* Generated XML serialised with two-space indentation; heap string. */
int vsl_ix_xml_dump(struct vsl_ctx *ctx, xmlDoc *doc, char **xml, size_t *len);

#endif
