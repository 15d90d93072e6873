/*
 * Unit tests for builder/p2v.c: extent lists, the filter image, machine
 * facts from a fake /proc + /sys tree, free maps of real ext4 partitions
 * (made with sfdisk + mkfs.ext4 when installed) and whole conversions of
 * image files, including the failures that must leave nothing behind.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/format.h"
#include "vessel/p2v.h"

static char tmp[256];

static void setup(void)
{
	tu_mkdtemp(tmp, sizeof(tmp), "test_p2v");
}

static void teardown(void)
{
	tu_rmtree(tmp);
}

static void put_file(const char *rel, const char *text)
{
	tu_write_file(tu_path(tmp, rel), text, strlen(text));
}

static void mk(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

START_TEST(extents_merge_and_order)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_extents e = { 0 };

	ck_assert_int_eq(vsl_p2v_extents_add(ctx, &e, 0, 10), 0);
	ck_assert_int_eq(vsl_p2v_extents_add(ctx, &e, 10, 5), 0);  /* merged */
	ck_assert_int_eq(vsl_p2v_extents_add(ctx, &e, 20, 0), 0);  /* empty: ignored */
	ck_assert_int_eq(vsl_p2v_extents_add(ctx, &e, 20, 1), 0);
	ck_assert_uint_eq(e.n, 2);
	ck_assert_uint_eq(e.v[0].len, 15);
	ck_assert_int_eq(vsl_p2v_extents_add(ctx, &e, 5, 1), VSL_EINVAL);
	ck_assert_int_eq(vsl_p2v_extents_add(ctx, &e, UINT64_MAX - 1, 5), VSL_ERANGE);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(vsl_p2v_extents_add(ctx, &e, 100 + 2 * (uint64_t)i, 1), 0);
	ck_assert_uint_eq(e.n, 1002);
	vsl_p2v_extents_fini(&e);
	vsl_p2v_extents_fini(&e);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(filter_reads_free_as_zero)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_extents e = { 0 };
	struct vsl_image *img, *f;
	static uint8_t buf[1 << 20];
	char path[512];
	uint64_t pnum;
	int flags;

	snprintf(path, sizeof(path), "%s/a.raw", tmp);
	ck_assert_int_eq(vsl_image_create(ctx, path, "raw", sizeof(buf), NULL, &img), 0);
	memset(buf, 0xab, sizeof(buf));
	ck_assert_int_eq(vsl_image_write(img, 0, buf, sizeof(buf)), 0);
	ck_assert_int_eq(vsl_p2v_extents_add(ctx, &e, 65536, 65536), 0);
	ck_assert_int_eq(vsl_p2v_extents_add(ctx, &e, 512 << 10, 512 << 10), 0);
	ck_assert_int_eq(vsl_p2v_filter_open(img, &e, &f), 0);
	vsl_p2v_extents_fini(&e);  /* the filter keeps its own copy */
	ck_assert_uint_eq(f->size, sizeof(buf));

	memset(buf, 0x11, sizeof(buf));
	ck_assert_int_eq(vsl_image_read(f, 0, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(vsl_p2v_filter_bytes_read(f), (1 << 20) - 65536 - (512 << 10));
	for (size_t i = 0; i < sizeof(buf); i++) {
		bool fr = (i >= 65536 && i < 131072) || i >= (512 << 10);
		ck_assert_uint_eq(buf[i], fr ? 0 : 0xab);
	}
	ck_assert_int_eq(vsl_image_block_status(f, 65536 + 10, (1 << 20) - 65546, &pnum, &flags), 0);
	ck_assert_int_eq(flags, VSL_BLOCK_ZERO);
	ck_assert_uint_eq(pnum, 65536 - 10);
	ck_assert_int_eq(vsl_image_block_status(f, 0, sizeof(buf), &pnum, &flags), 0);
	ck_assert(flags & VSL_BLOCK_DATA);
	ck_assert_uint_le(pnum, 65536);
	ck_assert_int_eq(vsl_image_block_status(f, 131072, sizeof(buf) - 131072, &pnum, &flags), 0);
	ck_assert_uint_le(pnum, (512 << 10) - 131072);
	/* a read straddling data and a free range */
	ck_assert_int_eq(vsl_image_read(f, 65536 - 4, buf, 8), 0);
	ck_assert_uint_eq(buf[3], 0xab);
	ck_assert_uint_eq(buf[4], 0);
	/* read-only */
	ck_assert_int_lt(vsl_image_write(f, 0, buf, 8), 0);
	vsl_p2v_filter_close(f);
	vsl_p2v_filter_close(NULL);
	vsl_image_close(img);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(facts_from_fake_tree)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_facts f;

	mk("proc");
	mk("sys");
	mk("sys/class");
	mk("sys/class/net");
	mk("sys/class/net/lo");
	mk("sys/class/net/eth1");
	mk("sys/class/net/eth1/device");
	mk("sys/class/net/eth0");
	mk("sys/class/net/eth0/device");
	put_file("proc/cpuinfo", "processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\n\n"
		 "processor\t: 2\nflags\t: processor_x\n");
	put_file("proc/meminfo", "MemTotal:        2048000 kB\nMemFree: 1 kB\n");
	put_file("sys/class/net/lo/address", "00:00:00:00:00:00\n");
	put_file("sys/class/net/eth0/address", "52:54:00:12:34:56\n");
	put_file("sys/class/net/eth1/address", "52:54:00:ab:cd:ef\n");
	ck_assert_int_eq(vsl_p2v_facts_read(ctx, tmp, &f), 0);
	ck_assert_uint_eq(f.cpus, 3);
	ck_assert_uint_eq(f.memory, 2048000ull * 1024);
	ck_assert_uint_eq(f.nnics, 2);
	ck_assert_str_eq(f.nics[0].name, "eth0");
	ck_assert_uint_eq(f.nics[0].mac[5], 0x56);
	ck_assert_str_eq(f.nics[1].name, "eth1");
	ck_assert_uint_eq(f.nics[1].mac[3], 0xab);

	put_file("sys/class/net/eth1/address", "garbage\n");
	ck_assert_int_eq(vsl_p2v_facts_read(ctx, tmp, &f), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "eth1/address"));
	put_file("sys/class/net/eth1/address", "52:54:00:ab:cd:ef\n");
	put_file("proc/meminfo", "MemTotal: lots\n");
	ck_assert_int_eq(vsl_p2v_facts_read(ctx, tmp, &f), VSL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "MemTotal"));

	/* nothing there: all unknown, no error */
	ck_assert_int_eq(vsl_p2v_facts_read(ctx, "/nonexistent-p2v-root", &f), 0);
	ck_assert_uint_eq(f.cpus, 0);
	ck_assert_uint_eq(f.nnics, 0);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(free_map_of_ext4_partition)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_extents e = { 0 };
	struct vsl_problems warn;
	char path[512];
	uint64_t total = 0;

	if (!tu_make_ext4_disk(tmp, "disk.raw", false, path, sizeof(path))) {
		vsl_ctx_free(ctx);
		return;
	}
	vsl_problems_init(&warn);
	ck_assert_int_eq(vsl_p2v_free_map(ctx, path, 64 << 20, &e, &warn), 0);
	ck_assert_uint_gt(e.n, 0);
	for (size_t i = 0; i < e.n; i++) {
		ck_assert_uint_ge(e.v[i].off, 1 << 20);           /* inside the partition */
		ck_assert_uint_le(e.v[i].off + e.v[i].len, 64 << 20);
		if (i)
			ck_assert_uint_gt(e.v[i].off, e.v[i - 1].off + e.v[i - 1].len);
		total += e.v[i].len;
	}
	/* 63 MiB filesystem, 4 MiB of data plus metadata and journal */
	ck_assert_uint_gt(total, 40 << 20);
	ck_assert_uint_lt(total, 59 << 20);
	ck_assert_uint_eq(warn.count, 0);
	vsl_p2v_extents_fini(&e);
	vsl_problems_fini(&warn);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(convert_image_file)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_opts o = { .name = "srv", .no_fixup = true };
	struct vsl_p2v_stats st;
	struct vsl_p2v_extents e = { 0 };
	struct vsl_problems warn;
	struct vsl_image *ra, *a, *b;
	char path[512], out[512], disk[600];
	const char *src[1];
	static uint8_t x[65536], y[65536];
	struct stat sb;

	if (!tu_make_ext4_disk(tmp, "disk.raw", false, path, sizeof(path))) {
		vsl_ctx_free(ctx);
		return;
	}
	src[0] = path;
	snprintf(out, sizeof(out), "%s/srv.vessel", tmp);
	vsl_problems_init(&warn);
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, out, &o, &warn, &st), 0);
	ck_assert_uint_eq(st.disk_bytes, 64 << 20);
	ck_assert_uint_gt(st.free_bytes, 40 << 20);
	ck_assert_uint_le(st.bytes_read + st.free_bytes, 64 << 20);
	ck_assert_uint_ge(st.bytes_written, 4 << 20);
	/* every byte outside the free map is the source's */
	ck_assert_int_eq(vsl_p2v_free_map(ctx, path, 64 << 20, &e, NULL), 0);
	snprintf(disk, sizeof(disk), "%s/disks/disk0.qcow2", out);
	ck_assert_int_eq(vsl_image_open(ctx, path, "raw", VSL_IMAGE_RDONLY, &ra), 0);
	ck_assert_int_eq(vsl_image_open(ctx, disk, "qcow2", VSL_IMAGE_RDONLY, &b), 0);
	ck_assert_int_eq(vsl_p2v_filter_open(ra, &e, &a), 0);
	for (uint64_t off = 0; off < (64 << 20); off += sizeof(x)) {
		ck_assert_int_eq(vsl_image_read(a, off, x, sizeof(x)), 0);
		ck_assert_int_eq(vsl_image_read(b, off, y, sizeof(y)), 0);
		ck_assert_mem_eq(x, y, sizeof(x));
	}
	vsl_p2v_filter_close(a);
	vsl_image_close(ra);
	vsl_image_close(b);
	vsl_p2v_extents_fini(&e);

	/* the output exists now: refused, and left alone */
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, out, &o, &warn, &st), VSL_EEXIST);
	ck_assert_int_eq(stat(disk, &sb), 0);
	vsl_problems_fini(&warn);
	vsl_ctx_free(ctx);
}
END_TEST

/* Count entries of tmp: failures must leave no staging directory behind. */
static int entries(void)
{
	char cmd[400];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", tmp);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

START_TEST(bad_sources)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_stats st;
	struct vsl_problems warn;
	struct vsl_p2v_opts nofix = { .no_fixup = true };
	char path[512], out[512];
	const char *src[2];
	static uint8_t junk[1 << 20];
	int before;

	vsl_problems_init(&warn);
	snprintf(out, sizeof(out), "%s/o.vessel", tmp);
	src[0] = "/nonexistent/disk";
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, out, &nofix, &warn, &st), VSL_ENOENT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "/nonexistent/disk"));
	src[0] = "ssh://root@host"; /* no remote path: refused before connecting */
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, out, &nofix, &warn, &st), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "no remote path"));
	ck_assert_int_eq(vsl_p2v(ctx, src, 0, out, &nofix, &warn, &st), VSL_EINVAL);

	/* junk: no partition table, no filesystem: copied whole, with a warning */
	snprintf(path, sizeof(path), "%s/junk.raw", tmp);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 2654435761u >> 13);
	memset(junk, 0, 4096); /* no magic a format could claim */
	tu_write_file(path, junk, sizeof(junk));
	src[0] = path;
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, out, &nofix, &warn, &st), 0);
	ck_assert_uint_eq(warn.count, 1);
	ck_assert_ptr_nonnull(strstr(warn.items[0].message, "opaque"));
	ck_assert_uint_eq(st.bytes_read, sizeof(junk));

	/* an encrypted volume (a LUKS1 header on the whole disk): reported, copied as opaque data */
	memcpy(junk, "LUKS\xba\xbe\x00\x01", 8);
	tu_write_file(path, junk, sizeof(junk));
	snprintf(out, sizeof(out), "%s/luks.vessel", tmp);
	vsl_problems_fini(&warn);
	vsl_problems_init(&warn);
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, out, &nofix, &warn, &st), 0);
	ck_assert_uint_eq(warn.count, 1);
	ck_assert_ptr_nonnull(strstr(warn.items[0].message, "encrypted volume (LUKS)"));
	ck_assert_uint_eq(st.bytes_read, sizeof(junk));
	snprintf(out, sizeof(out), "%s/o.vessel", tmp);

	/* a good disk then a missing one: nothing left behind */
	snprintf(out, sizeof(out), "%s/o2.vessel", tmp);
	before = entries();
	src[1] = "/nonexistent/disk2";
	ck_assert_int_lt(vsl_p2v(ctx, src, 2, out, &nofix, &warn, &st), 0);
	ck_assert_int_eq(entries(), before);
	/* an unknown output format: refused before anything is written */
	{
		struct vsl_p2v_opts o = { .format = "vdi", .no_fixup = true };
		ck_assert_int_eq(vsl_p2v(ctx, src, 1, out, &o, &warn, &st), VSL_ENOTSUP);
		ck_assert_int_eq(entries(), before);
	}
	vsl_problems_fini(&warn);
	vsl_ctx_free(ctx);
}
END_TEST

/* Progress callback that pulls the source away under the copy. */
static void vanish(void *opaque, const char *what, uint64_t done, uint64_t total)
{
	const char *path = opaque;

	(void)what;
	(void)total;
	if (done > 0)
		ck_assert_int_eq(truncate(path, 4096), 0);
}

/* a staging directory left by a killed run is removed; a live run's is not */
START_TEST(stale_staging_removed)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_opts nofix = { .no_fixup = true };
	struct vsl_p2v_stats st;
	struct vsl_problems warn;
	static uint8_t disk[64 << 10];
	char src[512], out[512], dead[600], live[600];
	const char *srcs[1] = { src };
	struct stat sb;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid); /* pid is now a process that is gone */
	snprintf(src, sizeof(src), "%s/small.raw", tmp);
	disk[100] = 1;
	tu_write_file(src, disk, sizeof(disk));
	snprintf(out, sizeof(out), "%s/s.vessel", tmp);
	snprintf(dead, sizeof(dead), "%s.p2v-%ld", out, (long)pid);
	snprintf(live, sizeof(live), "%s.p2v-%ld", out, (long)getppid());
	ck_assert_int_eq(mkdir(dead, 0755), 0);
	snprintf(src, sizeof(src), "%s/junk", dead);
	tu_write_file(src, "x", 1);
	snprintf(src, sizeof(src), "%s/small.raw", tmp);
	ck_assert_int_eq(mkdir(live, 0755), 0);
	vsl_problems_init(&warn);
	ck_assert_int_eq(vsl_p2v(ctx, srcs, 1, out, &nofix, &warn, &st), 0);
	ck_assert_int_eq(stat(dead, &sb), -1);
	ck_assert_int_eq(stat(live, &sb), 0);
	ck_assert_int_eq(stat(out, &sb), 0);
	vsl_problems_fini(&warn);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(source_vanishes)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_progress prog = { vanish, NULL };
	struct vsl_p2v_opts o = { .no_fixup = true, .progress = &prog };
	struct vsl_p2v_stats st;
	char path[512], out[512];
	const char *src[1] = { path };
	static uint8_t junk[1 << 20];
	FILE *f;
	int before;

	snprintf(path, sizeof(path), "%s/v.raw", tmp);
	snprintf(out, sizeof(out), "%s/v.vessel", tmp);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 2654435761u >> 11) | 1;
	memset(junk, 0, 4096);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 32; i++)
		ck_assert_uint_eq(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);
	prog.opaque = path;
	before = entries();
	ck_assert_int_lt(vsl_p2v(ctx, src, 1, out, &o, NULL, &st), 0);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "v.raw"));
	ck_assert_int_eq(entries(), before);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(guest_device_names)
{
	unsigned d, p;

	ck_assert_int_eq(vsl_p2v_guest_dev("/dev/sda1", &d, &p), 0);
	ck_assert_uint_eq(d, 0);
	ck_assert_uint_eq(p, 1);
	ck_assert_int_eq(vsl_p2v_guest_dev("hdb", &d, &p), 0);
	ck_assert_uint_eq(d, 1);
	ck_assert_uint_eq(p, 0);
	ck_assert_int_eq(vsl_p2v_guest_dev("/dev/xvdc12", &d, &p), 0);
	ck_assert_uint_eq(d, 2);
	ck_assert_uint_eq(p, 12);
	ck_assert_int_eq(vsl_p2v_guest_dev("/dev/sdaa3", &d, &p), 0);
	ck_assert_uint_eq(d, 26);
	ck_assert_int_eq(vsl_p2v_guest_dev("/dev/nvme1n1p2", &d, &p), 0);
	ck_assert_uint_eq(d, 1);
	ck_assert_uint_eq(p, 2);
	ck_assert_int_eq(vsl_p2v_guest_dev("/dev/nvme0n1", &d, &p), 0);
	ck_assert_uint_eq(p, 0);
	ck_assert_int_eq(vsl_p2v_guest_dev("/dev/mapper/vg-root", &d, &p), -1);
	ck_assert_int_eq(vsl_p2v_guest_dev("/dev/sd", &d, &p), -1);
	ck_assert_int_eq(vsl_p2v_guest_dev("/dev/sda1x", &d, &p), -1);
	ck_assert_int_eq(vsl_p2v_guest_dev("/dev/nvme0p1", &d, &p), -1);
	ck_assert_int_eq(vsl_p2v_guest_dev("/dev/sda99999999999", &d, &p), -1);
	ck_assert_int_eq(vsl_p2v_guest_dev("UUID=1234", &d, &p), -1);
}
END_TEST

/* disk 0: partitions 1 and 2 have UUIDs; everything else is unknown */
static int fake_uuid(void *opaque, unsigned disk, unsigned part, char *uuid, size_t len)
{
	(void)opaque;
	if (disk != 0 || part < 1 || part > 2)
		return -1;
	snprintf(uuid, len, "uuid-%u", part);
	return 0;
}

START_TEST(fstab_and_cmdline_rewrite)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	char *out;
	unsigned n;

	ck_assert_int_eq(vsl_p2v_fstab_rewrite(ctx,
		"# /dev/sda1 in a comment\n"
		"/dev/sda1  /      ext4  errors=remount-ro  0 1\n"
		"\t/dev/hda2 none swap sw 0 0\n"
		"/dev/sdb1 /data ext4 defaults 0 2\n"
		"UUID=abc /boot ext4 defaults 0 2\n"
		"proc /proc proc defaults 0 0", fake_uuid, NULL, &out, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(out,
		"# /dev/sda1 in a comment\n"
		"UUID=uuid-1  /      ext4  errors=remount-ro  0 1\n"
		"\tUUID=uuid-2 none swap sw 0 0\n"
		"/dev/sdb1 /data ext4 defaults 0 2\n"
		"UUID=abc /boot ext4 defaults 0 2\n"
		"proc /proc proc defaults 0 0");
	free(out);
	ck_assert_int_eq(vsl_p2v_fstab_rewrite(ctx, "", fake_uuid, NULL, &out, &n), 0);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(n, 0);
	free(out);

	/* /etc/default/grub: root= resolved, console added once */
	ck_assert_int_eq(vsl_p2v_cmdline_rewrite(ctx,
		"GRUB_DEFAULT=0\n"
		"GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n"
		"GRUB_CMDLINE_LINUX=\"root=/dev/sda1 resume=/dev/sda2\"\n",
		fake_uuid, NULL, true, &out, &n), 0);
	ck_assert_str_eq(out,
		"GRUB_DEFAULT=0\n"
		"GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n"
		"GRUB_CMDLINE_LINUX=\"root=UUID=uuid-1 resume=UUID=uuid-2 "
		"console=tty0 console=ttyS0,115200\"\n");
	ck_assert_uint_eq(n, 3);
	free(out);
	ck_assert_int_eq(vsl_p2v_cmdline_rewrite(ctx,
		"GRUB_CMDLINE_LINUX=\"console=ttyS1\"\n", fake_uuid, NULL, true, &out, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(out);
	/* no GRUB_CMDLINE_LINUX line: one is appended */
	ck_assert_int_eq(vsl_p2v_cmdline_rewrite(ctx, "GRUB_TIMEOUT=5\nX=1\n", fake_uuid, NULL,
						 true, &out, &n), 0);
	ck_assert_str_eq(out, "GRUB_TIMEOUT=5\nX=1\nGRUB_CMDLINE_LINUX=\"console=tty0 "
			 "console=ttyS0,115200\"\n");
	free(out);
	/* grub.cfg: only root= tokens, unknown devices and look-alikes untouched */
	ck_assert_int_eq(vsl_p2v_cmdline_rewrite(ctx,
		"\tlinux /vmlinuz root=/dev/sda1 ro quiet\n"
		"\tlinux /vmlinuz root=/dev/sdc1 noroot=/dev/sda1\n"
		"set root='hd0,msdos1'\n", fake_uuid, NULL, false, &out, &n), 0);
	ck_assert_str_eq(out,
		"\tlinux /vmlinuz root=UUID=uuid-1 ro quiet\n"
		"\tlinux /vmlinuz root=/dev/sdc1 noroot=/dev/sda1\n"
		"set root='hd0,msdos1'\n");
	ck_assert_uint_eq(n, 1);
	free(out);
	/* a bare command line */
	ck_assert_int_eq(vsl_p2v_cmdline_rewrite(ctx, "root=/dev/sda1 ro", fake_uuid, NULL, true,
						 &out, &n), 0);
	ck_assert_str_eq(out, "root=UUID=uuid-1 ro console=tty0 console=ttyS0,115200");
	free(out);
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	const TTest *const tests[] = {
		extents_merge_and_order, filter_reads_free_as_zero, facts_from_fake_tree,
		free_map_of_ext4_partition, convert_image_file, bad_sources, stale_staging_removed, source_vanishes,
		guest_device_names, fstab_and_cmdline_rewrite, NULL
	};

	return tu_run_tests("p2v", setup, teardown, 60, tests);
}
