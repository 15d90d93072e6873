/*
 * Unit tests for the free space of xfs and LVM on ssh:// sources
 * (builder/p2v_remote_fs.c, the X/L/B requests of p2v_ssh.c, segments in
 * p2v_io.c): parsing of real xfs_db and lvm output captured on Debian 12
 * (xfsprogs 6.1, lvm2 2.03.16) and of malformed variants (a clear error,
 * never a crash, also under mutation); ext4 read through LV segments; and
 * end to end through a fake `ssh` (first in PATH, it runs the remote command
 * with the local sh): a whole-disk xfs image with and without xfs_db on the
 * "remote", and a whole-disk PV (real label, a stand-in lvm giving the
 * report) whose free map must match block for block.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/p2v.h"

static char tmp[256];

static const char fake_ssh[] =
	"#!/bin/sh\n"
	"# fake ssh for test_p2v_remote_fs: the last argument is the remote command\n"
	"for a; do last=$a; done\n"
	"if [ \"$FAKE_SSH_MODE\" = fakelvm ]; then PATH=$FAKE_LVM_DIR:$PATH exec sh -c \"$last\"; fi\n"
	"if [ \"$FAKE_SSH_MODE\" = notools ]; then\n"
	"  mkdir -p \"$FAKE_SSH_BIN\"; for t in sh dd head sha256sum cat readlink stat grep tr\n"
	"  do p=$(command -v $t) && ln -sf \"$p\" \"$FAKE_SSH_BIN/$t\"; done\n"
	"  PATH=$FAKE_SSH_BIN exec sh -c \"$last\"\n"
	"fi\n"
	"exec sh -c \"$last\"\n";

/* A stand-in for the remote's lvm: canned reports from FAKE_PVS and FAKE_LVS. */
static const char fake_lvm[] =
	"#!/bin/sh\n"
	"case \"$*\" in\n"
	"*\"-o vg_name\"*) echo \"  vgt\";;\n"
	"*pvs*) printf '%s\\n' \"$FAKE_PVS\";;\n"
	"*lvs*) printf '%s\\n' \"$FAKE_LVS\";;\n"
	"*) exit 3;;\n"
	"esac\n";

static void setup(void)
{
	const char *path;

	tu_mkdtemp(tmp, sizeof(tmp), "test_p2v_remote_fs");
	path = tu_path(tmp, "ssh");
	tu_write_file(path, fake_ssh, strlen(fake_ssh));
	ck_assert_int_eq(chmod(path, 0755), 0);
	free(tu_path_prepend(tmp));
	unsetenv("FAKE_SSH_MODE");
	setenv("FAKE_SSH_BIN", tu_path(tmp, "fakebin"), 1);
	setenv("TMPDIR", tmp, 1);
}

static void teardown(void)
{
	tu_rmtree(tmp);
}

/* xfs_db -r -c "sb 0" -c "p blocksize agblocks agcount dblocks" -c "freesp -d" of a fresh 300 MiB xfs */
static const char xfs_real[] =
	"blocksize = 4096\n"
	"agblocks = 19200\n"
	"agcount = 4\n"
	"dblocks = 76800\n"
	"    agno    agbno      len\n"
	"       0        6        1\n"
	"       0        7        1\n"
	"       0        8        1\n"
	"       0        9        1\n"
	"       0       10        6\n"
	"       0       24    19176\n"
	"       1        6        1\n"
	"       1        7        1\n"
	"       1        8        1\n"
	"       1        9        1\n"
	"       1       10    19190\n"
	"       2    16390        1\n"
	"       2    16391        1\n"
	"       2    16392        1\n"
	"       2    16393        1\n"
	"       2    16394     2806\n"
	"       3        6        1\n"
	"       3        7        1\n"
	"       3        8        1\n"
	"       3        9        1\n"
	"       3       10    19190\n"
	"   from      to extents  blocks    pct\n"
	"      1       1      16      16   0.03\n"
	"      4       7       1       6   0.01\n"
	"   2048    4095       1    2806   4.65\n"
	"  16384   19200       3   57556  95.32\n"
	"rc=0\n"
	"    log tail: 2 head: 2 state: <CLEAN>\n";

static uint64_t ext_total(const struct vsl_p2v_extents *e)
{
	uint64_t t = 0;

	for (size_t i = 0; i < e->n; i++)
		t += e->v[i].len;
	return t;
}

START_TEST(xfs_parse_real)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_xfs x;
	char *dirty;

	ck_assert_int_eq(vsl_p2v_xfs_parse(ctx, xfs_real, &x), 0);
	ck_assert_uint_eq(x.blocksize, 4096);
	ck_assert_uint_eq(x.agblocks, 19200);
	ck_assert_uint_eq(x.agcount, 4);
	ck_assert_uint_eq(x.dblocks, 76800);
	ck_assert(!x.dirty && x.log_known);
	/* 16 + 6 + 2806 + 57556 blocks, adjacent extents merged: 6..15 in each AG is one run */
	ck_assert_uint_eq(ext_total(&x.free), 60384ull * 4096);
	ck_assert_uint_eq(x.free.v[0].off, 6ull * 4096);
	ck_assert_uint_eq(x.free.v[0].len, 10ull * 4096);
	ck_assert_uint_eq(x.free.v[1].off, 24ull * 4096);
	ck_assert_uint_eq(x.free.v[2].off, (19200ull + 6) * 4096);
	ck_assert_uint_eq(x.free.v[x.free.n - 1].off + x.free.v[x.free.n - 1].len,
			  76800ull * 4096);
	for (size_t i = 1; i < x.free.n; i++)
		ck_assert_uint_gt(x.free.v[i].off, x.free.v[i - 1].off + x.free.v[i - 1].len);
	vsl_p2v_xfs_fini(&x);

	/* a dirty log, or no log state at all (xfs_logprint missing): dirty */
	dirty = strdup(xfs_real);
	ck_assert_ptr_nonnull(dirty);
	memcpy(strstr(dirty, "<CLEAN>"), "<DIRTY>", 7);
	ck_assert_int_eq(vsl_p2v_xfs_parse(ctx, dirty, &x), 0);
	ck_assert(x.dirty && x.log_known);
	vsl_p2v_xfs_fini(&x);
	*strstr(dirty, "    log tail") = 0;
	ck_assert_int_eq(vsl_p2v_xfs_parse(ctx, dirty, &x), 0);
	ck_assert(x.dirty && !x.log_known);
	vsl_p2v_xfs_fini(&x);
	free(dirty);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(xfs_parse_bad)
{
	static const struct {
		const char *text;
		int code;
		const char *msg;
	} bad[] = {
		{ "", VSL_ECORRUPT, "cut short" },
		{ "blocksize = 4096\nagblocks = 100\nagcount = 1\ndblocks = 100\n", VSL_ECORRUPT,
		  "cut short" },
		{ "rc=127\n", VSL_ENOENT, "xfs_db not found on the remote" },
		{ "rc=1\n", VSL_EIO, "exit status 1" },
		{ "rc=0\n", VSL_ECORRUPT, "no usable geometry" },
		{ "blocksize = 3000\nagblocks = 100\nagcount = 1\ndblocks = 100\nrc=0\n",
		  VSL_ECORRUPT, "no usable geometry" },
		{ "    agno    agbno      len\n       0        6        1\nrc=0\n", VSL_ECORRUPT,
		  "before the superblock" },
		{ "blocksize = 4096\nagblocks = 100\nagcount = 1\ndblocks = 100\n"
		  "    agno    agbno      len\n       0        6\nrc=0\n", VSL_ECORRUPT, "line 6" },
		{ "blocksize = 4096\nagblocks = 100\nagcount = 1\ndblocks = 100\n"
		  "    agno    agbno      len\n       1        6        1\nrc=0\n", VSL_ECORRUPT,
		  "outside the filesystem" },
		{ "blocksize = 4096\nagblocks = 100\nagcount = 1\ndblocks = 100\n"
		  "    agno    agbno      len\n       0       90       11\nrc=0\n", VSL_ECORRUPT,
		  "outside the filesystem" },
		{ "blocksize = 4096\nagblocks = 100\nagcount = 1\ndblocks = 100\n"
		  "    agno    agbno      len\n 0 99 18446744073709551615\nrc=0\n", VSL_ECORRUPT,
		  "outside the filesystem" },
		{ "blocksize = 4096\nagblocks = 100\nagcount = 2\ndblocks = 200\n"
		  "    agno    agbno      len\n 0 10 20\n 0 15 5\nrc=0\n", VSL_ECORRUPT,
		  "overlapping" },
		{ "blocksize = 4096\nagblocks = 100\nagcount = 1\ndblocks = 100\n"
		  "    agno    agbno      len\n 0 10 5 junk\nrc=0\n", VSL_ECORRUPT, "expected" },
		{ "blocksize = 4096\nagblocks = 100\nagcount = 1\ndblocks = 100\n"
		  "    agno    agbno      len\n 0 10 5\nblocksize = 65536\nrc=0\n", VSL_ECORRUPT,
		  "geometry after" },
		{ "blocksize = 4096\nagblocks = 4294967296\nagcount = 4294967296\n"
		  "dblocks = 18446744073709551615\n    agno    agbno      len\n"
		  " 4294967295 0 1\nrc=0\n", VSL_ECORRUPT, "outside the filesystem" },
	};
	struct vsl_ctx *ctx = vsl_ctx_new();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vsl_p2v_xfs x;
		int r = vsl_p2v_xfs_parse(ctx, bad[i].text, &x);

		ck_assert_msg(r == bad[i].code, "case %zu: %d (%s)", i, r, vsl_ctx_error(ctx));
		ck_assert_msg(strstr(vsl_ctx_error(ctx), bad[i].msg), "case %zu: %s", i,
			      vsl_ctx_error(ctx));
		vsl_p2v_xfs_fini(&x);
	}
	vsl_ctx_free(ctx);
}
END_TEST

/*
 * The reply to "L /dev/loop1": real lvm output (a 300 MiB PV with LVs e4 of
 * 25 extents and x of 15), plus hand-made lines: a second segment of e4, a
 * striped LV, one on another PV only and a RAID1 LV with its image here.
 */
static const char lvm_real[] =
	"pvs\n"
	"  /dev/loop1:vslp2vtest:1048576:4194304:74\n"
	"rc=0\n"
	"lvs\n"
	"  e4:vslp2vtest:linear:0:25:/dev/loop1(0):/dev/vslp2vtest/e4:unknown\n"
	"  x:vslp2vtest:linear:0:15:/dev/loop1(25):/dev/vslp2vtest/x:active\n"
	"  e4:vslp2vtest:linear:25:5:/dev/loop1(60):/dev/vslp2vtest/e4:unknown\n"
	"  st:vslp2vtest:striped:0:4:/dev/loop1(50),/dev/loop2(0):/dev/vslp2vtest/st:unknown\n"
	"  far:vslp2vtest:linear:0:8:/dev/loop2(10):/dev/vslp2vtest/far:unknown\n"
	"  r:vslp2vtest:raid1:0:2:[r_rimage_0](0),[r_rimage_1](0):/dev/vslp2vtest/r:unknown\n"
	"  [r_rimage_0]:vslp2vtest:linear:0:2:/dev/loop1(70)::unknown\n"
	"rc=0\n";

START_TEST(lvm_parse_real)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_lvm l;
	size_t nused = 0;

	ck_assert_int_eq(vsl_p2v_lvm_parse(ctx, lvm_real, &l), 0);
	ck_assert_str_eq(l.pv, "/dev/loop1");
	ck_assert_str_eq(l.vg, "vslp2vtest");
	ck_assert_uint_eq(l.pe_start, 1 << 20);
	ck_assert_uint_eq(l.extent, 4 << 20);
	ck_assert_uint_eq(l.pe_count, 74);
	ck_assert_uint_eq(l.nlv, 6);
	ck_assert_str_eq(l.lv[0].name, "e4");
	ck_assert(l.lv[0].simple && l.lv[0].here && !l.lv[0].active);
	ck_assert_uint_eq(l.lv[0].nsegs, 2);
	ck_assert_uint_eq(l.lv[0].segs[1].loff, 25ull << 22);
	ck_assert_uint_eq(l.lv[0].segs[1].doff, (1 << 20) + (60ull << 22));
	ck_assert_uint_eq(l.lv[0].segs[1].len, 5ull << 22);
	ck_assert_str_eq(l.lv[1].path, "/dev/vslp2vtest/x");
	ck_assert(l.lv[1].simple && l.lv[1].active);
	ck_assert(!l.lv[2].simple && l.lv[2].here);  /* striped */
	ck_assert(!l.lv[3].simple && !l.lv[3].here); /* on another PV */
	ck_assert(!l.lv[3].nonlinear && l.lv[2].nonlinear);
	ck_assert(!l.lv[4].simple && !l.lv[4].here && l.lv[4].nonlinear); /* raid1 */
	ck_assert_str_eq(l.lv[5].name, "[r_rimage_0]");
	ck_assert(!l.lv[5].simple && l.lv[5].here); /* hidden: never read as a filesystem */
	for (uint64_t e = 0; e < l.pe_count; e++)
		nused += l.used[e];
	/* 0-39 (e4, x), 50-53 (the stripe, marked whole), 60-64 (e4), 70-71 (RAID image) */
	ck_assert_uint_eq(nused, 25 + 15 + 4 + 5 + 2);
	ck_assert(!l.used[40] && !l.used[49] && l.used[50] && !l.used[54] && l.used[64] &&
		  !l.used[65] && l.used[71] && !l.used[72] && !l.used[73]);
	vsl_p2v_lvm_fini(&l);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(lvm_parse_bad)
{
	static const struct {
		const char *text;
		int code;
		const char *msg;
	} bad[] = {
		{ "", VSL_ECORRUPT, "cut short" },
		{ "pvs\nrc=127\nlvs\nrc=0\n", VSL_ENOENT, "lvm not found on the remote" },
		{ "pvs\nrc=5\nlvs\nrc=0\n", VSL_EIO, "exit status 5" },
		{ "pvs\nrc=0\nlvs\nrc=0\n", VSL_EIO, "does not know" },
		{ "pvs\n  /dev/sda2::1048576:4194304:10\nrc=0\nlvs\nrc=0\n", VSL_EIO,
		  "in no volume group" },
		{ "pvs\n  /dev/sda2:vg:1048576:4194304\nrc=0\nlvs\nrc=0\n", VSL_ECORRUPT,
		  "pvs output line 2" },
		{ "pvs\n  /dev/sda2:vg:1048576:0:10\nrc=0\nlvs\nrc=0\n", VSL_ECORRUPT,
		  "pvs output line 2" },
		{ "pvs\n  /dev/sda2:vg:1048576:4194304:99999999999999\nrc=0\nlvs\nrc=0\n",
		  VSL_ECORRUPT, "pvs output line 2" },
		{ "pvs\n  /dev/sda2:vg:1048576:4194304:1073741824\nrc=0\nlvs\nrc=0\n",
		  VSL_ECORRUPT, "pvs output line 2" }, /* no 1 GiB extent map */
		{ "pvs\n  /dev/sda2:vg:1048576:4194304:10\nrc=0\nlvs\n  a:vg:linear:x:1:/dev/sda2(0):"
		  "/dev/vg/a:\nrc=0\n", VSL_ECORRUPT, "lvs output line 5" },
		{ "pvs\n  /dev/sda2:vg:1048576:4194304:10\nrc=0\nlvs\n  a:vg:linear:0:1\nrc=0\n",
		  VSL_ECORRUPT, "lvs output line 5" },
		{ "pvs\n  /dev/sda2:vg:1048576:4194304:10\nrc=0\nlvs\n  a:vg:linear:0:1:/dev/sda2(0):"
		  "/dev/vg/a:\n", VSL_ECORRUPT, "cut short" },
		{ "lvs\n  a:vg:linear:0:1:/dev/sda2(0):/dev/vg/a:\nrc=0\n", VSL_ECORRUPT,
		  "before the PV" },
		{ "hello\n", VSL_ECORRUPT, "unexpected" },
	};
	struct vsl_ctx *ctx = vsl_ctx_new();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vsl_p2v_lvm l;
		int r = vsl_p2v_lvm_parse(ctx, bad[i].text, &l);

		ck_assert_msg(r == bad[i].code, "case %zu: %d (%s)", i, r, vsl_ctx_error(ctx));
		ck_assert_msg(strstr(vsl_ctx_error(ctx), bad[i].msg), "case %zu: %s", i,
			      vsl_ctx_error(ctx));
		vsl_p2v_lvm_fini(&l);
	}
	/* odd but harmless: a segment past the PV's end is not used for reading */
	{
		struct vsl_p2v_lvm l;

		ck_assert_int_eq(vsl_p2v_lvm_parse(ctx, "pvs\n  /dev/sda2:vg:1048576:4194304:10\n"
						   "rc=0\nlvs\n  a:vg:linear:0:5:/dev/sda2(8):"
						   "/dev/vg/a:\nrc=0\n", &l), 0);
		ck_assert(!l.lv[0].simple);
		ck_assert(l.used[8] && l.used[9]);
		vsl_p2v_lvm_fini(&l);
	}
	vsl_ctx_free(ctx);
}
END_TEST

/* Fixtures cut short and with bytes changed: any result, never a crash or a leak (ASan). */
START_TEST(parsers_survive_mutations)
{
	static const char subst[] = "0123456789:()[] \n=-x";
	struct vsl_ctx *ctx = vsl_ctx_new();
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < 4000; i++) {
		const char *src = i & 1 ? lvm_real : xfs_real;
		size_t n = strlen(src);
		char *t = strdup(src);

		ck_assert_ptr_nonnull(t);
		for (int k = 0; k < 1 + i % 4; k++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			t[(rng >> 33) % n] = subst[(rng >> 20) % (sizeof(subst) - 1)];
		}
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		if (i % 3 == 0)
			t[(rng >> 33) % n] = 0;
		if (i & 1) {
			struct vsl_p2v_lvm l;

			if (vsl_p2v_lvm_parse(ctx, t, &l) == 0)
				ck_assert_uint_le(l.pe_count, 1ull << 26);
			vsl_p2v_lvm_fini(&l);
		} else {
			struct vsl_p2v_xfs x;

			if (vsl_p2v_xfs_parse(ctx, t, &x) == 0)
				for (size_t e = 0; e < x.free.n; e++)
					ck_assert_uint_le(x.free.v[e].off + x.free.v[e].len,
							  x.dblocks * x.blocksize);
			vsl_p2v_xfs_fini(&x);
		}
		free(t);
	}
	vsl_ctx_free(ctx);
}
END_TEST

/*
 * An ext4 filesystem laid out in two swapped halves after a 1 MiB pad, read
 * through segments, has the same free map as the filesystem read straight.
 */
START_TEST(ext_through_segments)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_extents a = { 0 }, b = { 0 };
	const uint64_t half = 16 << 20;
	struct vsl_p2v_seg segs[2] = { { 0, (1 << 20) + half, half }, { half, 1 << 20, half } };
	struct vsl_p2v_reader ra = { 0 }, rb = { 0 };

	if (!tu_have("mkfs.ext4")) {
		fprintf(stderr, "ext_through_segments: skipped, no mkfs.ext4\n");
		vsl_ctx_free(ctx);
		return;
	}
	ck_assert_int_eq(tu_sh("cd '%s' && mkdir t && head -c 3000000 /dev/urandom > t/f &&"
			       " head -c 33554432 /dev/urandom > fs &&"
			       " mkfs.ext4 -q -F -E nodiscard -d t fs >/dev/null 2>&1 &&"
			       " head -c 1048576 /dev/urandom > disk &&"
			       " dd if=fs bs=1M skip=16 status=none >> disk &&"
			       " dd if=fs bs=1M count=16 status=none >> disk", tmp), 0);
	ra = (struct vsl_p2v_reader){ .name = tu_path(tmp, "fs"), .size = 2 * half, .ctx = ctx };
	ra.fd = open(ra.name, O_RDONLY);
	ck_assert_int_ge(ra.fd, 0);
	rb = (struct vsl_p2v_reader){ .name = tu_path(tmp, "disk"), .size = 2 * half, .ctx = ctx,
				      .segs = segs, .nsegs = 2 };
	rb.fd = open(rb.name, O_RDONLY);
	ck_assert_int_ge(rb.fd, 0);
	ck_assert_int_eq(vsl_p2v_ext_free(ctx, &ra, 0, 2 * half, "fs", &a, NULL), 0);
	ck_assert_int_eq(vsl_p2v_ext_free(ctx, &rb, 0, 2 * half, "lv", &b, NULL), 0);
	ck_assert_uint_gt(ext_total(&a), 20u << 20);
	ck_assert_uint_eq(a.n, b.n);
	for (size_t i = 0; i < a.n; i++) {
		ck_assert_uint_eq(a.v[i].off, b.v[i].off);
		ck_assert_uint_eq(a.v[i].len, b.v[i].len);
	}
	close(ra.fd);
	close(rb.fd);
	vsl_p2v_extents_fini(&a);
	vsl_p2v_extents_fini(&b);
	vsl_ctx_free(ctx);
}
END_TEST

/*
 * A whole-disk xfs (300 MiB, the smallest mkfs.xfs makes, sparse but for
 * 16 MiB of garbage at 100 MiB) read over the fake ssh: xfs_db on the
 * "remote" finds all but the log and headers free, garbage included; as a
 * partition of a disk file it has no device on the "remote" (copied
 * whole); without xfs_db there, nothing is free and a warning says why.
 */
START_TEST(ssh_xfs_free_map)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_extents f = { 0 };
	struct vsl_problems warn;
	struct vsl_p2v_ssh *s;
	char *url;
	bool garbage_free = false;

	if (!tu_have("mkfs.xfs") || !tu_have("xfs_db") || !tu_have("xfs_logprint")) {
		fprintf(stderr, "ssh_xfs_free_map: skipped, no xfsprogs\n");
		vsl_ctx_free(ctx);
		return;
	}
	ck_assert_int_eq(tu_sh("cd '%s' && truncate -s 300M x.raw && dd if=/dev/urandom of=x.raw"
			       " bs=1M seek=100 count=16 conv=notrunc status=none &&"
			       " mkfs.xfs -q -f -K x.raw >/dev/null 2>&1", tmp), 0);
	url = vsl_strdup_printf("ssh://root@fakehost%s", tu_path(tmp, "x.raw"));
	vsl_problems_init(&warn);
	ck_assert_int_eq(vsl_p2v_ssh_open(ctx, url, NULL, &s), 0);
	ck_assert_int_eq(vsl_p2v_ssh_free_map(ctx, s, &f, &warn), 0);
	ck_assert_msg(warn.count == 0, "%s", warn.count ? warn.items[0].message : "");
	ck_assert_uint_gt(ext_total(&f), 220u << 20); /* 64 MiB of it are the log */
	for (size_t i = 0; i < f.n; i++)
		if (f.v[i].off <= (100u << 20) && f.v[i].off + f.v[i].len >= (116u << 20))
			garbage_free = true;
	ck_assert(garbage_free);
	/* the superblock and the AG headers are never free */
	ck_assert_uint_gt(f.v[0].off, 0);
	vsl_p2v_ssh_close(s);
	vsl_p2v_extents_fini(&f);
	vsl_problems_fini(&warn);

	/*
	 * The same xfs as partition 1 of a GPT disk file: the "remote" has no
	 * /sys/class/block entry for a file's partitions, so there is no device
	 * to give xfs_db and the partition is copied whole, with a warning.
	 */
	ck_assert_int_eq(tu_sh("cd '%s' && truncate -s 302M p.raw && dd if=x.raw of=p.raw bs=1M"
			       " seek=1 conv=notrunc,sparse status=none && printf 'label: gpt\n"
			       "start=2048, size=614400\n' | sfdisk -q p.raw >/dev/null 2>&1", tmp),
			 0);
	{
		char *purl = vsl_strdup_printf("ssh://root@fakehost%s", tu_path(tmp, "p.raw"));

		vsl_problems_init(&warn);
		ck_assert_int_eq(vsl_p2v_ssh_open(ctx, purl, NULL, &s), 0);
		ck_assert_int_eq(vsl_p2v_ssh_free_map(ctx, s, &f, &warn), 0);
		ck_assert_uint_eq(f.n, 0);
		ck_assert(tu_has_problem(&warn, "the remote has no device for this partition"));
		vsl_p2v_ssh_close(s);
		vsl_p2v_extents_fini(&f);
		vsl_problems_fini(&warn);
		free(purl);
	}

	setenv("FAKE_SSH_MODE", "notools", 1);
	vsl_problems_init(&warn);
	ck_assert_int_eq(vsl_p2v_ssh_open(ctx, url, NULL, &s), 0);
	ck_assert_int_eq(vsl_p2v_ssh_free_map(ctx, s, &f, &warn), 0);
	ck_assert_uint_eq(f.n, 0);
	ck_assert(tu_has_problem(&warn, "xfs_db not found on the remote"));
	ck_assert(tu_has_problem(&warn, "free space copied too"));
	vsl_p2v_ssh_close(s);
	vsl_p2v_extents_fini(&f);
	vsl_problems_fini(&warn);
	free(url);
	vsl_ctx_free(ctx);
}
END_TEST

/* LVM's label checksum: CRC-32 (reflected, 0xEDB88320) from 0xf597a6cf, no final xor. */
static uint32_t lvm_crc(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xf597a6cf;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
	}
	return crc;
}

/* Mark [off, off+len) in a 4 KiB-granular map of the disk. */
static void mark(uint8_t *map, uint64_t off, uint64_t len)
{
	for (uint64_t b = off / 4096; b < (off + len) / 4096; b++)
		map[b] = 1;
}

#define PV_EXT(e) ((1ull << 20) + (uint64_t)(e) * (4ull << 20))

/*
 * A whole-disk PV (a real LVM label; the remote's lvm is a stand-in giving
 * the report) with: LV e4, ext4 in two segments stored in swapped order
 * (PV extents 10-13 then 2-5); LV xf, xfs at extents 20-27, active, its
 * lv_path an image of the same bytes; LV st, striped onto this PV and
 * another. The free map must be exactly: the extents no LV uses (0-1, 6-9,
 * 14-19, 28-29, 38-39; st's 8 extents count as used here), e4's free blocks
 * mapped through its segments and xf's free blocks from xfs_db; st warned.
 */
START_TEST(ssh_lvm_free_map)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_extents f = { 0 }, ef = { 0 };
	struct vsl_problems warn;
	struct vsl_p2v_ssh *s;
	struct vsl_p2v_reader er = { 0 };
	struct vsl_p2v_xfs x;
	const uint64_t disk = PV_EXT(40);
	uint8_t *want, *got, label[512] = { 0 };
	char *url, *lvs, *text;
	size_t tlen;
	FILE *fp;

	if (!tu_have("mkfs.ext4") || !tu_have("mkfs.xfs") || !tu_have("xfs_db") ||
	    !tu_have("xfs_logprint")) {
		fprintf(stderr, "ssh_lvm_free_map: skipped, no e2fsprogs or xfsprogs\n");
		vsl_ctx_free(ctx);
		return;
	}
	ck_assert_int_eq(tu_sh("cd '%s' && truncate -s %llu d.raw && mkdir t &&"
			       " head -c 3000000 /dev/urandom > t/f &&"
			       " head -c 33554432 /dev/urandom > e4.img &&"
			       " mkfs.ext4 -q -F -b 4096 -E nodiscard -d t e4.img >/dev/null 2>&1 &&"
			       " truncate -s 32M xf.img &&"
			       " dd if=/dev/urandom of=xf.img bs=1M count=16 conv=notrunc status=none &&"
			       " TEST_DIR=. TEST_DEV=xf.img QA_CHECK_FS=1 mkfs.xfs -q -f -K xf.img"
			       " >/dev/null 2>&1 &&"
			       " dd if=e4.img of=d.raw bs=1M count=16 seek=41 conv=notrunc status=none &&"
			       " dd if=e4.img of=d.raw bs=1M skip=16 count=16 seek=9 conv=notrunc"
			       " status=none &&"
			       " dd if=xf.img of=d.raw bs=1M seek=81 conv=notrunc status=none &&"
			       " mkdir lvmbin", tmp, (unsigned long long)disk), 0);
	/* the PV label in sector 1: "LABELONE", its sector, crc, offset 32, "LVM2 001", uuid */
	memcpy(label, "LABELONE", 8);
	label[8] = 1;
	label[20] = 32;
	memcpy(label + 24, "LVM2 001", 8);
	memcpy(label + 32, "vesselvesselvesselvesselvesselve", 32);
	{
		uint32_t c = lvm_crc(label + 20, sizeof(label) - 20);

		for (int k = 0; k < 4; k++)
			label[16 + k] = (uint8_t)(c >> (8 * k));
	}
	fp = fopen(tu_path(tmp, "d.raw"), "r+b");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fseek(fp, 512, SEEK_SET), 0);
	ck_assert_uint_eq(fwrite(label, 1, sizeof(label), fp), sizeof(label));
	ck_assert_int_eq(fclose(fp), 0);
	tu_write_file(tu_path(tmp, "lvmbin/lvm"), fake_lvm, strlen(fake_lvm));
	ck_assert_int_eq(chmod(tu_path(tmp, "lvmbin/lvm"), 0755), 0);

	lvs = vsl_strdup_printf("  e4:vgt:linear:0:4:/dev/fakepv(10):/dev/vgt/e4:\n"
				"  e4:vgt:linear:4:4:/dev/fakepv(2):/dev/vgt/e4:\n"
				"  xf:vgt:linear:0:8:/dev/fakepv(20):%s:active\n"
				"  st:vgt:striped:0:8:/dev/fakepv(30),/dev/other(0):/dev/vgt/st:",
				tu_path(tmp, "xf.img"));
	setenv("FAKE_PVS", "  /dev/fakepv:vgt:1048576:4194304:40", 1);
	setenv("FAKE_LVS", lvs, 1);
	setenv("FAKE_LVM_DIR", tu_path(tmp, "lvmbin"), 1);
	setenv("FAKE_SSH_MODE", "fakelvm", 1);
	url = vsl_strdup_printf("ssh://root@fakehost%s", tu_path(tmp, "d.raw"));
	vsl_problems_init(&warn);
	ck_assert_int_eq(vsl_p2v_ssh_open(ctx, url, NULL, &s), 0);
	ck_assert_int_eq(vsl_p2v_ssh_free_map(ctx, s, &f, &warn), 0);
	vsl_p2v_ssh_close(s);
	ck_assert_msg(warn.count == 1, "%zu warnings, first: %s", warn.count,
		      warn.count ? warn.items[0].message : "");
	ck_assert(tu_has_problem(&warn, "LV st is not linear on this PV"));

	/* what it must be */
	want = calloc(disk / 4096, 1);
	got = calloc(disk / 4096, 1);
	ck_assert(want && got);
	for (int e = 0; e < 40; e++)
		if (!((e >= 2 && e <= 5) || (e >= 10 && e <= 13) || (e >= 20 && e <= 27) ||
		      (e >= 30 && e <= 37)))
			mark(want, PV_EXT(e), 4 << 20);
	er = (struct vsl_p2v_reader){ .name = tu_path(tmp, "e4.img"), .size = 32 << 20,
				      .ctx = ctx };
	er.fd = open(er.name, O_RDONLY);
	ck_assert_int_ge(er.fd, 0);
	ck_assert_int_eq(vsl_p2v_ext_free(ctx, &er, 0, 32 << 20, "e4", &ef, NULL), 0);
	close(er.fd);
	ck_assert_uint_gt(ext_total(&ef), 16u << 20);
	for (size_t i = 0; i < ef.n; i++)
		for (uint64_t o = ef.v[i].off; o < ef.v[i].off + ef.v[i].len; o += 4096)
			mark(want, o < (16u << 20) ? PV_EXT(10) + o : PV_EXT(2) + o - (16u << 20),
			     4096);
	ck_assert_int_eq(tu_sh("cd '%s' && { xfs_db -r -c 'sb 0' -c 'p blocksize agblocks agcount"
			       " dblocks' -c 'freesp -d' xf.img; echo rc=$?; } > xf.txt", tmp), 0);
	text = tu_slurp(tu_path(tmp, "xf.txt"), &tlen);
	ck_assert_int_eq(vsl_p2v_xfs_parse(ctx, text, &x), 0);
	ck_assert_uint_gt(ext_total(&x.free), 8u << 20);
	for (size_t i = 0; i < x.free.n; i++)
		mark(want, PV_EXT(20) + x.free.v[i].off, x.free.v[i].len);
	for (size_t i = 0; i < f.n; i++) {
		ck_assert_uint_eq(f.v[i].off % 4096, 0);
		ck_assert_uint_eq(f.v[i].len % 4096, 0);
		mark(got, f.v[i].off, f.v[i].len);
	}
	for (uint64_t b = 0; b < disk / 4096; b++)
		ck_assert_msg(want[b] == got[b], "4 KiB block %llu (byte %llu): free %d, expected %d",
			      (unsigned long long)b, (unsigned long long)b * 4096, got[b], want[b]);
	vsl_p2v_xfs_fini(&x);
	free(text);
	free(want);
	free(got);
	free(url);
	free(lvs);
	vsl_p2v_extents_fini(&f);
	vsl_p2v_extents_fini(&ef);
	vsl_problems_fini(&warn);
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	const TTest *const tests[] = {
		xfs_parse_real, xfs_parse_bad, lvm_parse_real, lvm_parse_bad,
		parsers_survive_mutations, ext_through_segments, ssh_xfs_free_map, ssh_lvm_free_map,
		NULL
	};

	return tu_run_tests("p2v_remote_fs", setup, teardown, 120, tests);
}
