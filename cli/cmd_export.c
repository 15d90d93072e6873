/*
 * vessel export BUNDLE --to ova|ovf|vmx|libvirt [-o PATH]
 *
 * Thin front end over vsl_export (include/vessel/interchange.h): parses
 * options, prints what the target format cannot express as warnings, and
 * the path written.
 */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vessel/bundle.h"
#include "vessel/interchange.h"

extern const struct vsl_cmd vsl_cmd_export;

static void export_print_warnings(const struct vsl_problems *w)
{
	char buf[1024];

	for (size_t i = 0; i < w->count; i++)
		fprintf(stderr, "vessel: %s\n", vsl_problem_format(&w->items[i], buf, sizeof(buf)));
}

/* The bundle's name for default outputs: its directory name without ".vessel". */
static char *export_default_out(const char *dir, enum vsl_ix_kind kind)
{
	char *d = strdup(dir), *b, *out;
	size_t n;

	if (!d)
		return NULL;
	n = strlen(d);
	while (n > 1 && d[n - 1] == '/')
		d[--n] = 0;
	b = basename(d);
	n = strlen(b);
	if (n > 7 && !strcmp(b + n - 7, ".vessel"))
		b[n - 7] = 0;
	out = vsl_strdup_printf("%s%s", b,
				kind == VSL_IX_OVA ? ".ova" : kind == VSL_IX_OVF ? "-ovf" :
				kind == VSL_IX_VMX ? "-vmx" : ".xml");
	free(d);
	return out;
}

static int export_run(struct vsl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "digest", required_argument, NULL, 'd' },
		{ "chunk-size", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	struct vsl_export_opts eo = { .hash = VSL_HASH_SHA256 };
	struct vsl_problems warn;
	const char *out = NULL;
	char *def = NULL;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:o:m:", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			eo.kind = vsl_ix_kind_from_name(optarg);
			if (eo.kind == VSL_IX_NONE)
				return cli_usage(&vsl_cmd_export, "--to: unknown target '%s' (ova, ovf, vmx, libvirt)",
						 optarg);
			break;
		case 'o': out = optarg; break;
		case 'd':
			if (vsl_hash_from_name(optarg, &eo.hash) < 0)
				return cli_usage(&vsl_cmd_export, "--digest: '%s' is not sha1, sha256 or sha512",
						 optarg);
			break;
		case 'c':
			if (vsl_parse_size(optarg, &eo.chunk_size) < 0 || !eo.chunk_size)
				return cli_usage(&vsl_cmd_export, "--chunk-size: '%s' is not a size", optarg);
			break;
		case 'm': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 256)
				return cli_usage(&vsl_cmd_export, "--threads: '%s' is not 1..256", optarg);
			eo.threads = (unsigned)v;
			break;
		}
		default:
			return cli_usage(&vsl_cmd_export, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(&vsl_cmd_export, "missing BUNDLE");
	if (argc - optind > 1)
		return cli_usage(&vsl_cmd_export, "unexpected argument '%s'", argv[optind + 1]);
	if (eo.kind == VSL_IX_NONE)
		return cli_usage(&vsl_cmd_export, "missing --to ova|ovf|vmx|libvirt");
	if (eo.chunk_size && eo.kind != VSL_IX_OVA)
		return cli_usage(&vsl_cmd_export, "--chunk-size applies to --to ova only");
	if (!out) {
		def = export_default_out(argv[optind], eo.kind);
		if (!def)
			return cli_failf("export", "out of memory");
		out = def;
	}
	eo.progress = &cli->progress;
	vsl_problems_init(&warn);
	r = vsl_export(cli->ctx, argv[optind], out, &eo, &warn);
	if (cli->verbosity >= 0)
		export_print_warnings(&warn);
	vsl_problems_fini(&warn);
	if (r < 0) {
		free(def);
		return cli_fail(cli, "export");
	}
	if (cli->verbosity >= 0)
		fprintf(stderr, "vessel: wrote %s\n", out);
	free(def);
	return VSL_EXIT_OK;
}

const struct vsl_cmd vsl_cmd_export = {
	.name = "export",
	.run = export_run,
	.summary = "export a bundle as OVA, OVF, VMware .vmx or libvirt domain XML",
	.usage =
		"usage: vessel export BUNDLE --to ova|ovf|vmx|libvirt [-o PATH] [options]\n"
		"\n"
		"Write the bundle BUNDLE (NAME.vessel/) in another tool's format:\n"
		"\n"
		"  ova      one file PATH (default NAME.ova): a ustar archive holding NAME.ovf\n"
		"           (OVF 1.x), NAME.mf (manifest) and the disks as streamOptimized VMDKs;\n"
		"           for vSphere, VirtualBox, Proxmox, virt-v2v\n"
		"  ovf      a new directory PATH (default NAME-ovf) with NAME.ovf, NAME.mf and\n"
		"           the streamOptimized VMDKs\n"
		"  vmx      a new directory PATH (default NAME-vmx) with NAME.vmx and\n"
		"           monolithicSparse VMDKs, for VMware Workstation, Player and Fusion\n"
		"  libvirt  a domain XML file PATH (default NAME.xml) that uses the bundle's\n"
		"           disks in place (virsh define PATH)\n"
		"\n"
		"Options:\n"
		"  -t, --to KIND          the target format (required)\n"
		"  -o, --output PATH      where to write; must not exist\n"
		"      --digest ALG       manifest digest: sha256 (default), sha1 or sha512\n"
		"                         (older vSphere releases accept only SHA1)\n"
		"      --chunk-size SIZE  OVA: split disk members into SIZE pieces (OVF\n"
		"                         chunkSize); without it a disk member of 8 GiB or\n"
		"                         more is refused (the ustar limit)\n"
		"  -m, --threads N        VMDK compression threads (default: all CPUs)\n"
		"\n"
		"What the target cannot express (direct kernel boot in OVF/VMX, port\n"
		"forwards) is printed as a warning. The output is written under a\n"
		"temporary name and renamed at the end; nothing is left on failure.\n"
		"The OVA is written in two streaming passes per disk (no temporary copy);\n"
		"see docs/interchange.md.\n"
		"\n"
		"Exit status: 0 written, 1 failure, 2 usage error.\n",
};
