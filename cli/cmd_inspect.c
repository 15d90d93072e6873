/*
 * vessel inspect BUNDLE [--json] [--no-verify]
 *
 * Loads a bundle with vsl_bundle_load (schema, files, MANIFEST), prints its
 * configuration on stdout (readable or --json) and every problem on stderr
 * as "vessel: BUNDLE/FILE:LINE:COL: message"; exits 1 if any is an error.
 *
 *	$ vessel inspect web.vessel
 *	bundle      web.vessel
 *	name        web
 *	...
 *	$ vessel inspect disks/root.qcow2
 *	image       disks/root.qcow2
 *	format      qcow2 (...)
 *	$ vessel inspect bad.vessel
 *	vessel: bad.vessel/vessel.yaml:4:7: cpus: must be between 1 and 256, found 0
 *
 * An argument that is not a directory is taken for a disk image and shown
 * through the formats registry (format, virtual size, allocation, backing
 * chain). The guest OS recorded in vessel.yaml ("guest:", written by p2v
 * and import) is shown when present; inspecting the disks themselves
 * (filesystems, kernel) is left to a later libguestfs-based command.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "vessel/bundle.h"
#include "vessel/format.h"

extern const struct vsl_cmd vsl_cmd_inspect;

/* Print "vessel: DIR/FILE:LINE:COL: [warning: ]message" for every problem. */
static void inspect_print_problems(const char *dir, const struct vsl_problems *pr)
{
	size_t dl = strlen(dir);

	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	for (size_t i = 0; i < pr->count; i++) {
		const struct vsl_problem *p = &pr->items[i];
		char loc[64] = "";

		if (p->line > 0 && p->col > 0)
			snprintf(loc, sizeof(loc), ":%d:%d", p->line, p->col);
		else if (p->line > 0)
			snprintf(loc, sizeof(loc), ":%d", p->line);
		fprintf(stderr, "vessel: %.*s%s%s%s: %s%s\n", (int)dl, dir, *p->file ? "/" : "",
			p->file, loc, p->severity == VSL_PROBLEM_WARNING ? "warning: " : "",
			p->message);
	}
}

/* Host sizes of a file named by the bundle: apparent and allocated bytes. */
static bool inspect_file_size(struct vsl_cli *cli, const char *dir, const char *rel,
			      uint64_t *size, uint64_t *alloc)
{
	struct stat st;
	char *abs;
	bool ok;

	if (!rel || vsl_bundle_resolve_path(cli->ctx, dir, rel, &abs) < 0)
		return false;
	ok = stat(abs, &st) == 0;
	if (ok) {
		*size = (uint64_t)st.st_size;
		*alloc = (uint64_t)st.st_blocks * 512;
	}
	free(abs);
	return ok;
}

/* Virtual size of a bundle disk, opened as its declared format; false if it cannot be. */
static bool inspect_disk_virtual(struct vsl_cli *cli, const char *dir,
				 const struct vsl_bundle_disk *d, uint64_t *size)
{
	struct vsl_image *img;
	char *abs;
	int r;

	if (!d->file || !d->format || vsl_bundle_resolve_path(cli->ctx, dir, d->file, &abs) < 0)
		return false;
	r = vsl_image_open(cli->ctx, abs, d->format, VSL_IMAGE_RDONLY | VSL_IMAGE_NO_BACKING, &img);
	free(abs);
	if (r < 0)
		return false;
	*size = img->size;
	vsl_image_close(img);
	return true;
}

static void inspect_mac(const struct vsl_bundle_nic *n, char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
		 n->mac[3], n->mac[4], n->mac[5]);
}

static void inspect_print_text(struct vsl_cli *cli, const char *dir,
			       const struct vsl_bundle_config *c, const struct vsl_problems *pr)
{
	const struct vsl_bundle_facts *f = &c->facts;
	char sz[32], sz2[32];
	uint64_t size, alloc;

	printf("bundle      %s\n", dir);
	if (!f->parsed) {
		printf("config      unreadable (see the problems)\n");
	} else {
		printf("name        %s\n", c->name ? c->name : "?");
		printf("arch        %s\n", c->arch ? c->arch : "?");
		printf("cpus        %u\n", c->cpus);
		printf("memory      %s (%llu bytes)\n", vsl_format_size(c->memory, sz, sizeof(sz)),
		       (unsigned long long)c->memory);
		if (c->boot.kind == VSL_BOOT_KERNEL) {
			printf("boot        linux kernel %s\n", c->boot.kernel ? c->boot.kernel : "?");
			if (c->boot.initrd)
				printf("            initrd %s\n", c->boot.initrd);
			if (c->boot.cmdline)
				printf("            cmdline %s\n", c->boot.cmdline);
		} else if (c->boot.kind == VSL_BOOT_FIRMWARE) {
			printf("boot        %s firmware from disk %s\n",
			       vsl_bundle_firmware_name(c->boot.firmware),
			       c->boot.disk ? c->boot.disk : "?");
		} else {
			printf("boot        ?\n");
		}
		if (!c->ndisks)
			printf("disks       none\n");
		for (size_t i = 0; i < c->ndisks; i++) {
			const struct vsl_bundle_disk *d = &c->disks[i];

			printf("%s %-10s %s %s %s %s", i ? "           " : "disks      ",
			       d->name ? d->name : "?", d->file ? d->file : "?",
			       d->format ? d->format : "?", vsl_bundle_bus_name(d->bus),
			       d->readonly ? "read-only" : "read-write");
			if (inspect_disk_virtual(cli, dir, d, &size))
				printf(", virtual %s", vsl_format_size(size, sz, sizeof(sz)));
			if (inspect_file_size(cli, dir, d->file, &size, &alloc))
				printf(", file %s, allocated %s", vsl_format_size(size, sz, sizeof(sz)),
				       vsl_format_size(alloc, sz2, sizeof(sz2)));
			printf("\n");
		}
		if (!c->nnics)
			printf("network     none\n");
		for (size_t i = 0; i < c->nnics; i++) {
			const struct vsl_bundle_nic *n = &c->nics[i];
			char mac[18];

			printf("%s nic%zu %s %s", i ? "           " : "network    ", i,
			       vsl_bundle_net_mode_name(n->mode), n->model ? n->model : "virtio");
			if (n->has_mac) {
				inspect_mac(n, mac);
				printf(" mac %s", mac);
			}
			printf("\n");
			for (size_t j = 0; j < n->nforwards; j++) {
				const struct vsl_bundle_forward *fw = &n->forwards[j];
				printf("              forward %s %s:%u -> guest %u\n",
				       vsl_bundle_proto_name(fw->proto),
				       fw->host_addr ? fw->host_addr : "127.0.0.1", fw->host_port,
				       fw->guest_port);
			}
		}
		printf("serial      com%u -> %s\n", c->serial.port,
		       vsl_bundle_serial_output_name(c->serial.output));
		if (c->guest.os || c->guest.distro || c->guest.version || c->guest.product) {
			const char *parts[] = { c->guest.os, c->guest.distro, c->guest.version };
			bool any = false;

			printf("guest      ");
			for (size_t i = 0; i < VSL_ARRAY_SIZE(parts); i++)
				if (parts[i]) {
					printf(" %s", parts[i]);
					any = true;
				}
			if (c->guest.product)
				printf(any ? " (%s)" : " %s", c->guest.product);
			printf("\n");
		}
		if (c->provenance.recipe || c->provenance.recipe_digest || c->provenance.vessel_version ||
		    c->provenance.nsources) {
			printf("provenance  recipe %s%s%s, built by vessel %s\n",
			       c->provenance.recipe ? c->provenance.recipe : "-",
			       c->provenance.recipe_digest ? " " : "",
			       c->provenance.recipe_digest ? c->provenance.recipe_digest : "",
			       c->provenance.vessel_version ? c->provenance.vessel_version : "?");
			for (size_t i = 0; i < c->provenance.nsources; i++)
				printf("            source %s%s%s\n", c->provenance.sources[i].uri,
				       c->provenance.sources[i].sha256 ? " sha256:" : "",
				       c->provenance.sources[i].sha256 ? c->provenance.sources[i].sha256
								       : "");
		} else {
			printf("provenance  none\n");
		}
	}
	if (!f->manifest_present)
		printf("manifest    missing\n");
	else if (f->manifest_problems)
		printf("manifest    %zu files listed, %zu problem%s\n", f->manifest_files,
		       f->manifest_problems, f->manifest_problems == 1 ? "" : "s");
	else
		printf("manifest    %zu files listed, %s\n", f->manifest_files,
		       f->manifest_verified ? "all digests match" : "not verified (--no-verify)");
	printf("state       %s\n", f->suspended ? "suspended (state/ holds a snapshot)" : "not suspended");
	printf("status      %s\n", pr->errors ? "INVALID" : "valid");
}

static void json_key_str(const char *key, const char *val, bool comma)
{
	printf("\"%s\":", key);
	if (val)
		cli_json_str(stdout, val);
	else
		printf("null");
	if (comma)
		putchar(',');
}

static void inspect_print_json(struct vsl_cli *cli, const char *dir,
			       const struct vsl_bundle_config *c, const struct vsl_problems *pr)
{
	const struct vsl_bundle_facts *f = &c->facts;
	uint64_t size, alloc;

	printf("{");
	json_key_str("bundle", dir, true);
	printf("\"valid\":%s,", pr->errors ? "false" : "true");
	printf("\"config\":");
	if (!f->parsed) {
		printf("null,");
	} else {
		printf("{\"vessel-bundle\":%u,", c->schema);
		json_key_str("name", c->name, true);
		json_key_str("arch", c->arch, true);
		printf("\"cpus\":%u,\"memory\":%llu,\"boot\":{", c->cpus, (unsigned long long)c->memory);
		if (c->boot.kind == VSL_BOOT_KERNEL) {
			json_key_str("kernel", c->boot.kernel, true);
			json_key_str("initrd", c->boot.initrd, true);
			json_key_str("cmdline", c->boot.cmdline, false);
		} else if (c->boot.kind == VSL_BOOT_FIRMWARE) {
			json_key_str("firmware", vsl_bundle_firmware_name(c->boot.firmware), true);
			json_key_str("disk", c->boot.disk, false);
		}
		printf("},\"disks\":[");
		for (size_t i = 0; i < c->ndisks; i++) {
			const struct vsl_bundle_disk *d = &c->disks[i];

			printf("%s{", i ? "," : "");
			json_key_str("name", d->name, true);
			json_key_str("file", d->file, true);
			json_key_str("format", d->format, true);
			json_key_str("bus", vsl_bundle_bus_name(d->bus), true);
			printf("\"read-only\":%s", d->readonly ? "true" : "false");
			if (inspect_disk_virtual(cli, dir, d, &size))
				printf(",\"virtual-size\":%llu", (unsigned long long)size);
			if (inspect_file_size(cli, dir, d->file, &size, &alloc))
				printf(",\"file-size\":%llu,\"allocated-size\":%llu",
				       (unsigned long long)size, (unsigned long long)alloc);
			printf("}");
		}
		printf("],\"network\":[");
		for (size_t i = 0; i < c->nnics; i++) {
			const struct vsl_bundle_nic *n = &c->nics[i];
			char mac[18];

			printf("%s{", i ? "," : "");
			json_key_str("mode", vsl_bundle_net_mode_name(n->mode), true);
			json_key_str("model", n->model ? n->model : "virtio", true);
			if (n->has_mac)
				inspect_mac(n, mac);
			json_key_str("mac", n->has_mac ? mac : NULL, true);
			printf("\"forward\":[");
			for (size_t j = 0; j < n->nforwards; j++) {
				const struct vsl_bundle_forward *fw = &n->forwards[j];
				printf("%s{", j ? "," : "");
				json_key_str("protocol", vsl_bundle_proto_name(fw->proto), true);
				json_key_str("host-address", fw->host_addr ? fw->host_addr : "127.0.0.1",
					     true);
				printf("\"host\":%u,\"guest\":%u}", fw->host_port, fw->guest_port);
			}
			printf("]}");
		}
		printf("],\"serial\":{\"port\":\"com%u\",", c->serial.port);
		json_key_str("output", vsl_bundle_serial_output_name(c->serial.output), false);
		printf("},\"guest\":");
		if (c->guest.os || c->guest.distro || c->guest.version || c->guest.product) {
			printf("{");
			json_key_str("os", c->guest.os, true);
			json_key_str("distro", c->guest.distro, true);
			json_key_str("version", c->guest.version, true);
			json_key_str("product", c->guest.product, false);
			printf("}");
		} else {
			printf("null");
		}
		printf(",\"provenance\":{");
		json_key_str("recipe", c->provenance.recipe, true);
		json_key_str("recipe-digest", c->provenance.recipe_digest, true);
		json_key_str("vessel-version", c->provenance.vessel_version, true);
		printf("\"sources\":[");
		for (size_t i = 0; i < c->provenance.nsources; i++) {
			printf("%s{", i ? "," : "");
			json_key_str("uri", c->provenance.sources[i].uri, true);
			json_key_str("sha256", c->provenance.sources[i].sha256, false);
			printf("}");
		}
		printf("]}},");
	}
	printf("\"manifest\":{\"present\":%s,\"files\":%zu,\"verified\":%s,\"problems\":%zu},",
	       f->manifest_present ? "true" : "false", f->manifest_files,
	       f->manifest_verified ? "true" : "false", f->manifest_problems);
	printf("\"suspended\":%s,\"problems\":[", f->suspended ? "true" : "false");
	for (size_t i = 0; i < pr->count; i++) {
		const struct vsl_problem *p = &pr->items[i];

		printf("%s{", i ? "," : "");
		json_key_str("file", p->file, true);
		printf("\"line\":%d,\"col\":%d,", p->line, p->col);
		json_key_str("severity", p->severity == VSL_PROBLEM_ERROR ? "error" : "warning", true);
		json_key_str("message", p->message, false);
		printf("}");
	}
	printf("]}\n");
}

/*
 * A disk image (any argument that is not a directory): format (probed),
 * virtual size, file size, host allocation and the backing chain, through
 * the formats registry (include/vessel/format.h).
 */
static int inspect_image(struct vsl_cli *cli, const char *path, bool json)
{
	struct vsl_image *img;
	char a[32], b[32], c[32];
	uint64_t alloc = 0;
	struct stat st;

	if (vsl_image_open(cli->ctx, path, NULL, VSL_IMAGE_RDONLY, &img) < 0)
		return cli_fail(cli, "inspect");
	if (vsl_image_allocated(img, &alloc) < 0 || stat(path, &st) < 0) {
		vsl_image_close(img);
		return cli_fail(cli, "inspect");
	}
	if (json) {
		printf("{");
		json_key_str("image", path, true);
		json_key_str("format", img->ops->name, true);
		printf("\"virtual-size\":%llu,\"file-size\":%llu,\"allocated-size\":%llu,"
		       "\"backing\":[", (unsigned long long)img->size, (unsigned long long)st.st_size,
		       (unsigned long long)alloc);
		for (struct vsl_image *bk = img->backing; bk; bk = bk->backing) {
			printf("%s{", bk == img->backing ? "" : ",");
			json_key_str("file", bk->path, true);
			json_key_str("format", bk->ops->name, true);
			printf("\"virtual-size\":%llu}", (unsigned long long)bk->size);
		}
		printf("]}\n");
	} else {
		printf("image       %s\n", path);
		printf("format      %s (%s)\n", img->ops->name,
		       img->ops->description ? img->ops->description : img->ops->name);
		printf("virtual     %s (%llu bytes)\n", vsl_format_size(img->size, a, sizeof(a)),
		       (unsigned long long)img->size);
		printf("file        %s (%llu bytes), allocated %s\n",
		       vsl_format_size((uint64_t)st.st_size, b, sizeof(b)),
		       (unsigned long long)st.st_size, vsl_format_size(alloc, c, sizeof(c)));
		for (struct vsl_image *bk = img->backing; bk; bk = bk->backing)
			printf("backing     %s (%s, %s)\n", bk->path ? bk->path : "?", bk->ops->name,
			       vsl_format_size(bk->size, a, sizeof(a)));
	}
	vsl_image_close(img);
	return VSL_EXIT_OK;
}

static int inspect_run(struct vsl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-verify", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	struct vsl_bundle_config cfg;
	struct vsl_problems pr;
	bool json = false;
	int flags = 0, c, r;
	const char *dir;
	struct stat st;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'n': flags |= VSL_BUNDLE_NO_VERIFY; break;
		default:
			return cli_usage(&vsl_cmd_inspect, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(&vsl_cmd_inspect, "missing BUNDLE");
	if (argc - optind > 1)
		return cli_usage(&vsl_cmd_inspect, "unexpected argument '%s'", argv[optind + 1]);
	dir = argv[optind];
	if (stat(dir, &st) < 0)
		return cli_failf("inspect", "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return inspect_image(cli, dir, json);

	vsl_problems_init(&pr);
	r = vsl_bundle_load(cli->ctx, dir, flags, &cfg, &pr);
	if (r < 0 && r != VSL_EINVAL) {
		/* not a bundle at all, or a host failure: nothing to show */
		inspect_print_problems(dir, &pr);
		vsl_bundle_config_free(&cfg);
		vsl_problems_fini(&pr);
		return cli_fail(cli, "inspect");
	}
	if (json)
		inspect_print_json(cli, dir, &cfg, &pr);
	else
		inspect_print_text(cli, dir, &cfg, &pr);
	fflush(stdout);
	inspect_print_problems(dir, &pr);
	r = pr.errors ? VSL_EXIT_FAIL : VSL_EXIT_OK;
	vsl_bundle_config_free(&cfg);
	vsl_problems_fini(&pr);
	return r;
}

const struct vsl_cmd vsl_cmd_inspect = {
	.name = "inspect",
	.run = inspect_run,
	.summary = "show and check a bundle, or show a disk image",
	.usage =
		"usage: vessel inspect [--json] [--no-verify] BUNDLE\n"
		"       vessel inspect [--json] IMAGE\n"
		"\n"
		"Read the bundle directory BUNDLE (NAME.vessel/, see docs/bundle.md), check\n"
		"it and print its configuration: name, arch, cpus, memory, boot, disks (with\n"
		"their file and allocated sizes), network, serial console, provenance, the\n"
		"MANIFEST status and whether it is suspended.\n"
		"\n"
		"Checked: vessel.yaml against schema version 1 (syntax, unknown keys, types,\n"
		"required keys, ranges), every file it names (exists, stays inside the\n"
		"bundle), and MANIFEST (every file listed, every sha256 matching). Every\n"
		"problem is printed on stderr, all of them, one per line:\n"
		"  vessel: BUNDLE/FILE:LINE:COL: message\n"
		"\n"
		"Options:\n"
		"  --json        print the configuration, MANIFEST status and problems as\n"
		"                one JSON object on stdout (problems also go to stderr)\n"
		"  --no-verify   check that MANIFEST lists exactly the bundle's files but do\n"
		"                not hash them (fast on large disks)\n"
		"\n"
		"IMAGE (any argument that is not a directory) is a disk image: its format\n"
		"(probed: raw, qcow2, vmdk, vpc), virtual size, file size, host allocation\n"
		"and backing chain are printed.\n"
		"\n"
		"Exit status: 0 the bundle is valid (or the image opened), 1 problems were\n"
		"found or the argument cannot be read, 2 usage error.\n",
};
