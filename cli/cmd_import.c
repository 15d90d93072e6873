/*
 * vessel import FILE.ova|FILE.ovf|FILE.vmx|DOMAIN.xml -o NAME.vessel
 *
 * Thin front end over vsl_import (include/vessel/interchange.h). Every
 * fact of the source that the bundle cannot hold is printed as a warning.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vessel/bundle.h"
#include "vessel/interchange.h"

extern const struct vsl_cmd vsl_cmd_import;

static int import_run(struct vsl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "from", required_argument, NULL, 'f' },
		{ "name", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	struct vsl_import_opts io = { 0 };
	struct vsl_problems warn;
	const char *out = NULL;
	char buf[1024];
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:f:n:m:", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'f':
			io.kind = vsl_ix_kind_from_name(optarg);
			if (io.kind == VSL_IX_NONE)
				return cli_usage(&vsl_cmd_import, "--from: unknown kind '%s' (ova, ovf, vmx, libvirt)",
						 optarg);
			break;
		case 'n': io.name = optarg; break;
		case 'm': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 256)
				return cli_usage(&vsl_cmd_import, "--threads: '%s' is not 1..256", optarg);
			io.threads = (unsigned)v;
			break;
		}
		default:
			return cli_usage(&vsl_cmd_import, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(&vsl_cmd_import, "missing FILE");
	if (argc - optind > 1)
		return cli_usage(&vsl_cmd_import, "unexpected argument '%s'", argv[optind + 1]);
	if (!out)
		return cli_usage(&vsl_cmd_import, "missing -o NAME.vessel");
	io.progress = &cli->progress;
	vsl_problems_init(&warn);
	r = vsl_import(cli->ctx, argv[optind], out, &io, &warn);
	for (size_t i = 0; cli->verbosity >= 0 && i < warn.count; i++)
		fprintf(stderr, "vessel: %s\n", vsl_problem_format(&warn.items[i], buf, sizeof(buf)));
	vsl_problems_fini(&warn);
	if (r < 0)
		return cli_fail(cli, "import");
	if (cli->verbosity >= 0)
		fprintf(stderr, "vessel: wrote %s\n", out);
	return VSL_EXIT_OK;
}

const struct vsl_cmd vsl_cmd_import = {
	.name = "import",
	.run = import_run,
	.summary = "make a bundle from an OVA, OVF, VMware .vmx or libvirt domain XML",
	.usage =
		"usage: vessel import FILE -o NAME.vessel [--from ova|ovf|vmx|libvirt] [--name NAME]\n"
		"\n"
		"Read FILE (FILE.ova, FILE.ovf, FILE.vmx or a libvirt domain XML, as VMware,\n"
		"VirtualBox, virt-v2v, virsh dumpxml or vessel export write them) and create\n"
		"the bundle NAME.vessel: CPUs, memory, disks (converted to qcow2 in disks/),\n"
		"network cards (MAC addresses kept) and the serial console.\n"
		"\n"
		"An OVA's manifest (.mf) is verified: a member whose digest does not match is\n"
		"an error naming it. Disks are read from the OVA in place (nothing is\n"
		"extracted). Disk files named by a .ovf or .vmx must lie beside it (no\n"
		"absolute paths, no '..'); a domain XML may name absolute paths.\n"
		"What the bundle cannot represent (CD-ROMs, USB, sound, video, SCSI or SATA\n"
		"controllers, NIC models other than virtio, the OS type) is printed as a\n"
		"warning.\n"
		"\n"
		"Options:\n"
		"  -o, --output DIR    the bundle to create (must not exist)\n"
		"  -f, --from KIND     the input kind when the file name does not tell\n"
		"  -n, --name NAME     the bundle's name (default: the machine's name)\n"
		"  -m, --threads N     threads (default: all CPUs)\n"
		"\n"
		"Exit status: 0 written, 1 failure, 2 usage error.\n",
};
