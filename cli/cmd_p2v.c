/*
 * vessel p2v SOURCE... -o NAME.vessel
 *
 * Thin front end over vsl_p2v (include/vessel/p2v.h): parses options,
 * prints the library's warnings and a one-line summary of what was copied.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vessel/bundle.h"
#include "vessel/p2v.h"

extern const struct vsl_cmd vsl_cmd_p2v;

/*
 * Ctrl-C (or SIGTERM, SIGHUP) during the copy of an ssh source: the library
 * stops at the next request and keeps the partial copy for resuming. One
 * shot: the handler is reset, so a second signal ends vessel at once.
 */
static volatile sig_atomic_t p2v_interrupted;

static void p2v_on_signal(int sig)
{
	(void)sig;
	p2v_interrupted = 1;
}

static int p2v_run(struct vsl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ "format", required_argument, NULL, 'f' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'M' },
		{ "copy-free", no_argument, NULL, 'F' },
		{ "no-macs", no_argument, NULL, 'N' },
		{ "no-fixup", no_argument, NULL, 'X' },
		{ "identity", required_argument, NULL, 'i' },
		{ "ssh-option", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct vsl_p2v_opts o = { 0 };
	const char *sshopt[33] = { 0 };
	size_t nsshopt = 0;
	bool json = false;
	struct vsl_p2v_stats st = { 0 };
	struct vsl_problems warn;
	const char *out = NULL;
	char buf[1024], a[32], b[32], c3[32];
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:n:f:i:", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'n': o.name = optarg; break;
		case 'f': o.format = optarg; break;
		case 'c': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > VSL_BUNDLE_CPUS_MAX)
				return cli_usage(&vsl_cmd_p2v, "--cpus: '%s' is not 1..%u", optarg,
						 VSL_BUNDLE_CPUS_MAX);
			o.cpus = (unsigned)v;
			break;
		}
		case 'M':
			if (vsl_parse_size(optarg, &o.memory) < 0 || o.memory < VSL_BUNDLE_MEM_MIN ||
			    o.memory > VSL_BUNDLE_MEM_MAX || o.memory % 4096)
				return cli_usage(&vsl_cmd_p2v, "--memory: '%s' is not a size from 16M "
						 "to 1T, a multiple of 4K", optarg);
			break;
		case 'F': o.copy_free = true; break;
		case 'N': o.no_macs = true; break;
		case 'X': o.no_fixup = true; break;
		case 'i': o.ssh_identity = optarg; break;
		case 'S':
			if (nsshopt + 1 >= sizeof(sshopt) / sizeof(sshopt[0]))
				return cli_usage(&vsl_cmd_p2v, "too many --ssh-option (at most %zu)",
						 sizeof(sshopt) / sizeof(sshopt[0]) - 1);
			if (!*optarg || optarg[0] == '-')
				return cli_usage(&vsl_cmd_p2v, "--ssh-option: '%s' is not an ssh "
						 "option such as Port=2222", optarg);
			sshopt[nsshopt++] = optarg;
			break;
		case 'j': json = true; break;
		default:
			return cli_usage(&vsl_cmd_p2v, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(&vsl_cmd_p2v, "missing SOURCE");
	if (!out)
		return cli_usage(&vsl_cmd_p2v, "missing -o NAME.vessel");
	if (argc - optind > VSL_P2V_MAX_SOURCES)
		return cli_usage(&vsl_cmd_p2v, "%d sources (at most %d)", argc - optind,
				 VSL_P2V_MAX_SOURCES);
	o.ssh_options = sshopt;
	o.progress = &cli->progress;
	for (int i = optind; i < argc; i++) {
		if (strncmp(argv[i], "ssh://", 6))
			continue;
		struct sigaction sa = { .sa_handler = p2v_on_signal, .sa_flags = SA_RESETHAND };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		o.interrupted = &p2v_interrupted;
		break;
	}
	vsl_problems_init(&warn);
	/* the stages (free space found, appliance launches) are shown by default */
	if (cli->verbosity == 0)
		vsl_ctx_set_log_level(cli->ctx, VSL_LOG_INFO);
	r = vsl_p2v(cli->ctx, (const char *const *)argv + optind, (size_t)(argc - optind), out, &o,
		    &warn, &st);
	cli_progress_done(cli);
	for (size_t i = 0; cli->verbosity >= 0 && i < warn.count; i++)
		fprintf(stderr, "vessel: p2v: %s\n",
			vsl_problem_format(&warn.items[i], buf, sizeof(buf)));
	vsl_problems_fini(&warn);
	if (r < 0)
		return cli_fail(cli, "p2v");
	if (json) {
		printf("{\"output\":");
		cli_json_str(stdout, out);
		printf(",\"disk_bytes\":%llu,\"free_bytes\":%llu,\"bytes_read\":%llu,"
		       "\"bytes_written\":%llu,\"ssh_bytes\":%llu,\"resumed_bytes\":%llu}\n",
		       (unsigned long long)st.disk_bytes, (unsigned long long)st.free_bytes,
		       (unsigned long long)st.bytes_read, (unsigned long long)st.bytes_written,
		       (unsigned long long)st.ssh_bytes, (unsigned long long)st.resumed_bytes);
	}
	if (cli->verbosity >= 0)
		fprintf(stderr, "vessel: wrote %s: %s of disk, %s free in filesystems (not read), "
			"%s read, %s written\n", out,
			vsl_format_size(st.disk_bytes, a, sizeof(a)),
			vsl_format_size(st.free_bytes, b, sizeof(b)),
			vsl_format_size(st.bytes_read, c3, sizeof(c3)),
			vsl_format_size(st.bytes_written, buf, sizeof(buf)));
	if (cli->verbosity >= 0 && (st.ssh_bytes || st.resumed_bytes))
		fprintf(stderr, "vessel: %s fetched over ssh (verified), %s already copied by an "
			"interrupted run\n", vsl_format_size(st.ssh_bytes, a, sizeof(a)),
			vsl_format_size(st.resumed_bytes, b, sizeof(b)));
	if (cli->verbosity >= 0 && st.guest.found)
		fprintf(stderr, "vessel: guest: %s %s %d.%d (%s), root %s UUID=%s; fstab: %u "
			"entries to UUIDs, grub: %u changes, initramfs %s, kernel %s\n",
			st.guest.type, st.guest.distro, st.guest.major, st.guest.minor,
			st.guest.product, st.guest.root_dev, st.guest.root_uuid[0] ? st.guest.root_uuid : "?",
			st.guest.fstab_changed, st.guest.grub_changed,
			st.guest.initramfs_rebuilt ? "rebuilt" :
			st.guest.initramfs_has_virtio ? "has virtio_pci and virtio_blk" : "unchanged",
			st.guest.kernel_version[0] ? st.guest.kernel_version : "none (firmware boot)");
	return VSL_EXIT_OK;
}

const struct vsl_cmd vsl_cmd_p2v = {
	.name = "p2v",
	.run = p2v_run,
	.summary = "make a bundle from the disks of a physical machine (or disk images)",
	.usage =
		"usage: vessel p2v SOURCE... -o NAME.vessel [options]\n"
		"\n"
		"Copy the disks of a machine into the new bundle NAME.vessel, one\n"
		"disks/diskN.qcow2 per SOURCE, in order (disk0 is the boot disk). A SOURCE is\n"
		"a local block device (/dev/sdX, /dev/nvme0n1, a loop device), a disk\n"
		"image file (raw, qcow2, vmdk, vpc), or ssh://[USER@]HOST[:PORT]/PATH: a\n"
		"disk of another machine (see below). Sources are only ever read, never\n"
		"written. Run it from rescue media: copying a disk whose filesystems are\n"
		"mounted gives an inconsistent copy (such filesystems are reported).\n"
		"\n"
		"Only what matters is copied: zero blocks are not written, and on ext2/3/4\n"
		"filesystems (on the whole disk or in MBR/GPT partitions) blocks marked free\n"
		"are not even read. On local sources, xfs, btrfs and filesystems inside LVM\n"
		"are fstrimmed in a temporary overlay of the source (one libguestfs launch\n"
		"per run, 15-60 s) and what they mark free is skipped too. Over ssh, xfs and\n"
		"LVM are asked of the remote's own tools, read-only: xfs_db -r (free\n"
		"extents; a log that is not clean copies the filesystem whole) and lvm\n"
		"--readonly pvs/lvs (extents no LV uses are skipped; ext2/3/4 LVs linear on\n"
		"the disk are read with libext2fs, xfs LVs with xfs_db when active on the\n"
		"remote: nothing is ever activated there); without those tools, and for\n"
		"striped/RAID/thin LVs or btrfs, the area is copied whole with a warning.\n"
		"LUKS volumes and unknown tables or filesystems are copied whole, zero\n"
		"blocks skipped, with a warning.\n"
		"\n"
		"When a source is a block device, vessel.yaml records this machine's CPU\n"
		"count and memory (/proc) and its network cards with their MAC addresses\n"
		"(/sys/class/net); with an ssh source, the remote machine's; for image\n"
		"files the defaults are 1 CPU, 1 GiB, one NIC.\n"
		"\n"
		"ssh:// sources need nothing on the remote but sshd and standard tools (sh,\n"
		"dd, head, sha256sum, blockdev or /sys, cat; xfs_db and xfs_logprint, lvm\n"
		"where the disk holds xfs or LVM); nothing is written there. One ssh\n"
		"session per disk (the ssh command, so ~/.ssh/config applies; run with\n"
		"BatchMode=yes: authentication must work without a password prompt) reads\n"
		"the disk in chunks of up to 4 MiB, each checked against the remote's\n"
		"sha256 of the same range (refetched on a mismatch). Free blocks found as\n"
		"above are not transferred. A dropped connection is re-established (4\n"
		"attempts); if it stays down, or on Ctrl-C, the copy so far is kept in\n"
		"NAME.vessel.p2v-partial and the same command run again resumes where it\n"
		"stopped (a second Ctrl-C ends vessel at once).\n"
		"\n"
		"Then the copy (never the source) is fixed to boot as a VM, in one libguestfs\n"
		"appliance run (10-60 s; more when the initramfs is rebuilt): the guest OS is\n"
		"inspected; /etc/fstab, /etc/default/grub and /boot/grub/grub.cfg entries that\n"
		"name disks by device path (sda1, hda1, xvda1, vda1, nvme0n1p1) get UUIDs; the\n"
		"GRUB command line gets a serial console (console=ttyS0,115200); virtio_pci,\n"
		"virtio_blk, virtio_net and virtio_scsi are added to\n"
		"/etc/initramfs-tools/modules and the guest's update-initramfs is run\n"
		"when the copied initramfs (read on the host) lacks virtio_pci or virtio_blk;\n"
		"VMware and VirtualBox guest tools are purged. The newest kernel and its\n"
		"initramfs are copied to boot/ and the bundle boots them directly with\n"
		"root=UUID=...; without a kernel (or with --no-fixup) it boots from disk0\n"
		"with BIOS firmware. Only Linux guests are fixed; others are left as they are.\n"
		"\n"
		"Options:\n"
		"  -o, --output DIR    the bundle to create (must not exist; removed on failure)\n"
		"  -n, --name NAME     the bundle's name (default: from DIR)\n"
		"  -f, --format FMT    disk format in the bundle: qcow2 (default), raw, vmdk, vpc\n"
		"      --cpus N        CPUs (default: the source machine's)\n"
		"      --memory SIZE   memory, e.g. 2G (default: the source machine's)\n"
		"      --copy-free     also copy blocks the filesystems mark free\n"
		"      --no-macs       do not keep the source's MAC addresses\n"
		"      --no-fixup      do not inspect or modify the copied guest\n"
		"  -i, --identity FILE ssh sources: private key (ssh -i FILE)\n"
		"      --ssh-option OPT  ssh sources: pass -o OPT to ssh (repeatable), e.g.\n"
		"                      --ssh-option StrictHostKeyChecking=accept-new\n"
		"      --json          print the statistics as JSON on stdout (disk_bytes,\n"
		"                      free_bytes, bytes_read, bytes_written, ssh_bytes,\n"
		"                      resumed_bytes)\n"
		"\n"
		"Progress goes to stderr on a terminal; -v lists what was found on each disk.\n"
		"Exit status: 0 written, 1 failure, 2 usage error.\n",
};
