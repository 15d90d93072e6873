/*
 * Unit tests for ssh:// P2V sources (builder/p2v_ssh.c, p2v_resume.c,
 * p2v_io.c): URL parsing, the resume journal, and the remote protocol end
 * to end without a network. A fake `ssh` first in PATH ignores its options
 * and runs the remote command with the local sh (the way sshd would hand it
 * to the login shell), so the real request loop, its framing and digests
 * run against a local file standing in for the remote disk. Fake modes
 * (FAKE_SSH_MODE) print what ssh prints on an authentication failure or a
 * refused connection, print a login banner first, or corrupt one byte of
 * the reply stream once.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/format.h"
#include "vessel/hash.h"
#include "vessel/p2v.h"

static char tmp[256];

static const char fake_ssh[] =
	"#!/bin/sh\n"
	"# fake ssh for test_p2v_ssh: the last argument is the remote command\n"
	"for a; do last=$a; done\n"
	"case \"$FAKE_SSH_MODE\" in\n"
	"auth) echo 'root@h: Permission denied (publickey).' >&2; exit 255;;\n"
	"refused) echo 'ssh: connect to host h port 22: Connection refused' >&2; exit 255;;\n"
	"chatty) echo 'Welcome to the remote machine!'; echo 'Very important: V 2 is not a greeting';;\n"
	"nosha) mkdir -p \"$FAKE_SSH_BIN\"; for t in sh dd head command; do\n"
	"  p=$(command -v $t) && ln -sf \"$p\" \"$FAKE_SSH_BIN/$t\"; done\n"
	"  PATH=$FAKE_SSH_BIN exec sh -c \"$last\";;\n"
	"flip) if [ ! -e \"$FAKE_SSH_MARK\" ]; then : >\"$FAKE_SSH_MARK\";\n"
	"  sh -c \"$last\" | perl -e 'binmode STDIN; binmode STDOUT; $n = 0;"
	" while (($k = sysread(STDIN, $b, 65536)) > 0) {"
	" if ($n <= 300000 && $n + $k > 300000) { substr($b, 300000 - $n, 1) ^= chr(1) }"
	" $n += $k; syswrite(STDOUT, $b) }'; exit; fi;;\n"
	"esac\n"
	"exec sh -c \"$last\"\n";

static void setup(void)
{
	const char *path;

	tu_mkdtemp(tmp, sizeof(tmp), "test_p2v_ssh");
	path = tu_path(tmp, "ssh");
	tu_write_file(path, fake_ssh, strlen(fake_ssh));
	ck_assert_int_eq(chmod(path, 0755), 0);
	free(tu_path_prepend(tmp));
	unsetenv("FAKE_SSH_MODE");
	unsetenv("VESSEL_P2V_SSH_FAIL_AFTER");
	unsetenv("VESSEL_P2V_SSH_DROP_AFTER");
	setenv("TMPDIR", tmp, 1);
}

static void teardown(void)
{
	tu_rmtree(tmp);
}

/*
 * A "disk" of n bytes of a fixed pattern (no zero 64 KiB block) at tmp/NAME;
 * returns its bytes (malloc'd), what a read of it must give.
 */
static uint8_t *make_disk(const char *name, size_t n, char *path, size_t len)
{
	uint8_t *buf = malloc(n);

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)((i * 2654435761u) >> 13) | 1;
	snprintf(path, len, "%s/%s", tmp, name);
	tu_write_file(path, buf, n);
	return buf;
}

static char *url_of(const char *path)
{
	return vsl_strdup_printf("ssh://root@fakehost:2222%s", path);
}

START_TEST(url_parse)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_ssh_url u;
	static const char *const bad[] = {
		"ssh://host",                 /* no path */
		"ssh://host/",                /* empty path */
		"ssh://-oProxyCommand=x/dev/sda", /* option injection */
		"ssh://root@-x/dev/sda",
		"ssh://-l@host/dev/sda",
		"ssh://host:0/dev/sda",
		"ssh://host:65536/dev/sda",
		"ssh://host:22x/dev/sda",
		"ssh://host:/dev/sda",
		"ssh://@host/dev/sda",
		"ssh://host/dev/sd a",
		"ssh://host/dev/$(reboot)",
		"ssh://host/dev/sda'",
		"ssh://[::1/dev/sda",
		"ssh://[::1]x/dev/sda",
		"ssh://ho$t/dev/sda",
		"http://host/dev/sda",
	};

	ck_assert(vsl_p2v_ssh_is_url("ssh://h/x"));
	ck_assert(!vsl_p2v_ssh_is_url("/dev/sda"));
	ck_assert(!vsl_p2v_ssh_is_url(NULL));
	ck_assert_int_eq(vsl_p2v_ssh_parse(ctx, "ssh://root@srv.example.org:2222/dev/sda", &u), 0);
	ck_assert_str_eq(u.user, "root");
	ck_assert_str_eq(u.host, "srv.example.org");
	ck_assert_uint_eq(u.port, 2222);
	ck_assert_str_eq(u.path, "/dev/sda");
	ck_assert_int_eq(vsl_p2v_ssh_parse(ctx, "ssh://srv/dev/loop3", &u), 0);
	ck_assert_str_eq(u.user, "");
	ck_assert_str_eq(u.host, "srv");
	ck_assert_uint_eq(u.port, 0);
	ck_assert_str_eq(u.path, "/dev/loop3");
	ck_assert_int_eq(vsl_p2v_ssh_parse(ctx, "ssh://admin@[fe80::1]:22/dev/disk/by-id/ata-X_1", &u), 0);
	ck_assert_str_eq(u.host, "fe80::1");
	ck_assert_uint_eq(u.port, 22);
	ck_assert_str_eq(u.path, "/dev/disk/by-id/ata-X_1");
	ck_assert_int_eq(vsl_p2v_ssh_parse(ctx, "ssh://[::1]/dev/nvme0n1", &u), 0);
	ck_assert_str_eq(u.host, "::1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(vsl_p2v_ssh_parse(ctx, bad[i], &u) == VSL_EINVAL, "accepted %s", bad[i]);
		ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), bad[i]));
	}
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(journal_round_trip_and_bad)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_journal *j = calloc(1, sizeof(*j)), *k = calloc(1, sizeof(*k));
	char path[512];
	static const char *const bad[] = {
		"",
		"vessel-p2v-journal 2\nformat qcow2\n",
		"vessel-p2v-journal 1\nformat\n",
		"vessel-p2v-journal 1\nformat qcow2\ndisk 1 complete 1 1 - /dev/sda\n",
		"vessel-p2v-journal 1\nformat qcow2\ndisk 0 halfway 1 1 - /dev/sda\n",
		"vessel-p2v-journal 1\nformat qcow2\ndisk 0 partial 5 4 - /dev/sda\n",
		"vessel-p2v-journal 1\nformat qcow2\ndisk 0 partial 1 4 abc /dev/sda\n",
		"vessel-p2v-journal 1\nformat qcow2\ndisk 0 partial 1 4 -\n",
		"vessel-p2v-journal 1\nformat qcow2\ndisk 0 partial 1 4 - /dev/sda", /* no newline */
	};

	ck_assert_ptr_nonnull(j);
	ck_assert_ptr_nonnull(k);
	snprintf(path, sizeof(path), "%s/journal", tmp);
	ck_assert_int_eq(vsl_p2v_journal_read(ctx, path, k), VSL_ENOENT);
	snprintf(j->format, sizeof(j->format), "qcow2");
	j->n = 2;
	j->disks[0] = (struct vsl_p2v_journal_disk){ .complete = true, .done = 0, .size = 0 };
	snprintf(j->disks[0].source, sizeof(j->disks[0].source), "/dev/my disk");
	j->disks[1] = (struct vsl_p2v_journal_disk){ .done = 12 << 20, .size = 256 << 20 };
	memset(j->disks[1].ident, 'a', 64);
	snprintf(j->disks[1].source, sizeof(j->disks[1].source), "ssh://root@h:22/dev/loop0");
	ck_assert_int_eq(vsl_p2v_journal_write(ctx, path, j), 0);
	ck_assert_int_eq(vsl_p2v_journal_read(ctx, path, k), 0);
	ck_assert_str_eq(k->format, "qcow2");
	ck_assert_uint_eq(k->n, 2);
	ck_assert(k->disks[0].complete);
	ck_assert_str_eq(k->disks[0].source, "/dev/my disk");
	ck_assert_str_eq(k->disks[0].ident, "");
	ck_assert(!k->disks[1].complete);
	ck_assert_uint_eq(k->disks[1].done, 12 << 20);
	ck_assert_uint_eq(k->disks[1].size, 256 << 20);
	ck_assert_str_eq(k->disks[1].ident, j->disks[1].ident);
	ck_assert_str_eq(k->disks[1].source, "ssh://root@h:22/dev/loop0");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_write_file(path, bad[i], strlen(bad[i]));
		ck_assert_msg(vsl_p2v_journal_read(ctx, path, k) == VSL_ECORRUPT, "accepted %zu", i);
		ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), path));
	}
	free(j);
	free(k);
	vsl_ctx_free(ctx);
}
END_TEST

/* The real remote loop through the fake ssh: size, digest, reads, facts, image. */
START_TEST(session_reads_verified)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_ssh *s = NULL;
	struct vsl_p2v_opts o = { .ssh_identity = "/nonexistent/key" };
	struct vsl_image *img;
	const size_t n = (9 << 20) + 4096;
	uint8_t *want, *got = malloc(n);
	char path[512], hex[65], *url, facts[600];
	struct vsl_p2v_facts f;
	uint64_t pnum;
	int flags;

	ck_assert_ptr_nonnull(got);
	want = make_disk("disk", n, path, sizeof(path));
	url = url_of(path);
	ck_assert_int_eq(vsl_p2v_ssh_open(ctx, url, &o, &s), 0);
	ck_assert_uint_eq(vsl_p2v_ssh_size(s), n);
	ck_assert(!vsl_p2v_ssh_in_use(s)); /* a file: never mounted itself */
	vsl_sha256_hex(want, 1 << 20, hex);
	ck_assert_str_eq(vsl_p2v_ssh_ident(s), hex);
	/* several chunks at once, an odd range, the last byte */
	ck_assert_int_eq(vsl_p2v_ssh_read(ctx, s, 0, got, n), 0);
	ck_assert_int_eq(memcmp(got, want, n), 0);
	ck_assert_int_eq(vsl_p2v_ssh_read(ctx, s, 12345, got, 777), 0);
	ck_assert_int_eq(memcmp(got, want + 12345, 777), 0);
	ck_assert_int_eq(vsl_p2v_ssh_read(ctx, s, n - 1, got, 1), 0);
	ck_assert_int_eq(got[0], want[n - 1]);
	ck_assert_uint_eq(vsl_p2v_ssh_bytes(s), n + 778);
	ck_assert_int_eq(vsl_p2v_ssh_read(ctx, s, n - 1, got, 2), VSL_ERANGE);
	ck_assert(!vsl_p2v_ssh_lost(s));

	/* facts: laid out like a root, read by vsl_p2v_facts_read */
	snprintf(facts, sizeof(facts), "%s/facts", tmp);
	ck_assert_int_eq(mkdir(facts, 0700), 0);
	ck_assert_int_eq(vsl_p2v_ssh_facts_dir(ctx, s, facts), 0);
	ck_assert_int_eq(vsl_p2v_facts_read(ctx, facts, &f), 0);
	ck_assert_uint_ge(f.cpus, 1); /* t81 compares the count with /proc/cpuinfo */
	ck_assert_uint_gt(f.memory, 0);

	/* the image: resumed bytes report zero and are not fetched */
	ck_assert_int_eq(vsl_p2v_ssh_image(ctx, s, 1 << 20, &img), 0);
	ck_assert_uint_eq(img->size, n);
	ck_assert_int_eq(vsl_image_block_status(img, 0, n, &pnum, &flags), 0);
	ck_assert_uint_eq(pnum, 1 << 20);
	ck_assert_int_eq(flags, VSL_BLOCK_ZERO);
	ck_assert_int_eq(vsl_image_block_status(img, 1 << 20, n - (1 << 20), &pnum, &flags), 0);
	ck_assert_int_eq(flags & VSL_BLOCK_DATA, VSL_BLOCK_DATA);
	ck_assert_int_eq(vsl_image_read(img, 2 << 20, got, 4096), 0);
	ck_assert_int_eq(memcmp(got, want + (2 << 20), 4096), 0);
	vsl_image_close(img);

	/* the disk shrinks under the session: a clear error, not a lost link */
	ck_assert_int_eq(truncate(path, 4 << 20), 0);
	ck_assert_int_eq(vsl_p2v_ssh_read(ctx, s, 6 << 20, got, 4096), VSL_EIO);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "remote read short"));
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), path));
	ck_assert(!vsl_p2v_ssh_lost(s));
	vsl_p2v_ssh_close(s);
	free(url);
	free(want);
	free(got);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(session_errors)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_ssh *s = (void *)1;
	char path[512], bin[600], *url;

	free(make_disk("disk", 1 << 20, path, sizeof(path)));
	url = url_of("/nonexistent/disk");
	ck_assert_int_eq(vsl_p2v_ssh_open(ctx, url, NULL, &s), VSL_ENOENT);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "no such device or file /nonexistent/disk on fakehost"));
	free(url);
	url = url_of(path);
	setenv("FAKE_SSH_MODE", "auth", 1);
	ck_assert_int_eq(vsl_p2v_ssh_open(ctx, url, NULL, &s), VSL_EPERM);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "authentication to fakehost failed"));
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "Permission denied (publickey)"));
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), path));
	setenv("FAKE_SSH_MODE", "refused", 1);
	ck_assert_int_eq(vsl_p2v_ssh_open(ctx, url, NULL, &s), VSL_EIO);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "cannot connect to fakehost"));
	/* a login script that talks first: its lines are skipped */
	setenv("FAKE_SSH_MODE", "chatty", 1);
	ck_assert_int_eq(vsl_p2v_ssh_open(ctx, url, NULL, &s), 0);
	ck_assert_uint_eq(vsl_p2v_ssh_size(s), 1 << 20);
	vsl_p2v_ssh_close(s);
	unsetenv("FAKE_SSH_MODE");
	/* a remote without sha256sum */
	snprintf(bin, sizeof(bin), "%s/bin", tmp);
	setenv("FAKE_SSH_BIN", bin, 1);
	setenv("FAKE_SSH_MODE", "nosha", 1);
	ck_assert_int_eq(vsl_p2v_ssh_open(ctx, url, NULL, &s), VSL_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "fakehost has no 'sha256sum' command"));
	unsetenv("FAKE_SSH_MODE");
	/* a character device has no size */
	free(url);
	url = url_of("/dev/null");
	ck_assert_int_eq(vsl_p2v_ssh_open(ctx, url, NULL, &s), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "size of /dev/null on fakehost is not known"));
	/* a directory is not readable as a disk */
	free(url);
	url = url_of(tmp);
	ck_assert_int_lt(vsl_p2v_ssh_open(ctx, url, NULL, &s), 0);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "not readable"));
	free(url);
	vsl_ctx_free(ctx);
}
END_TEST

/* One byte of the reply stream flipped: the digest catches it, the chunk is fetched again. */
START_TEST(digest_mismatch_refetched)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_ssh *s = NULL;
	const size_t n = 2 << 20;
	uint8_t *want, *got;
	char path[512], mark[512], *url;

	if (!tu_have("perl")) {
		vsl_ctx_free(ctx);
		return;
	}
	got = malloc(n);
	ck_assert_ptr_nonnull(got);
	want = make_disk("disk", n, path, sizeof(path));
	snprintf(mark, sizeof(mark), "%s/flipped", tmp);
	setenv("FAKE_SSH_MARK", mark, 1);
	setenv("FAKE_SSH_MODE", "flip", 1);
	url = url_of(path);
	ck_assert_int_eq(vsl_p2v_ssh_open(ctx, url, NULL, &s), 0);
	ck_assert_int_eq(vsl_p2v_ssh_read(ctx, s, 0, got, n), 0);
	ck_assert_int_eq(memcmp(got, want, n), 0);
	ck_assert_int_eq(access(mark, F_OK), 0); /* the flip did happen */
	vsl_p2v_ssh_close(s);
	free(url);
	free(want);
	free(got);
	vsl_ctx_free(ctx);
}
END_TEST

/* An MBR disk of 64 MiB, one ext4 partition with 4 MiB of data over random garbage. */
static bool make_ext4_disk(char *path, size_t len)
{
	return tu_make_ext4_disk(tmp, "ext.raw", true, path, len);
}

/*
 * The free map of the disk at path (size bytes), read locally into a and
 * through the fake ssh into b, asserted to be the same extents. Returns the
 * bytes the session fetched for it.
 */
static uint64_t free_maps(struct vsl_ctx *ctx, const char *path, uint64_t size,
			  struct vsl_p2v_extents *a, struct vsl_p2v_extents *b)
{
	struct vsl_p2v_ssh *s = NULL;
	char *url = url_of(path);
	uint64_t fetched;

	ck_assert_int_eq(vsl_p2v_free_map(ctx, path, size, a, NULL), 0);
	ck_assert_int_eq(vsl_p2v_ssh_open(ctx, url, NULL, &s), 0);
	ck_assert_int_eq(vsl_p2v_ssh_free_map(ctx, s, b, NULL), 0);
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		ck_assert_uint_eq(a->v[i].off, b->v[i].off);
		ck_assert_uint_eq(a->v[i].len, b->v[i].len);
	}
	fetched = vsl_p2v_ssh_bytes(s);
	vsl_p2v_ssh_close(s);
	free(url);
	return fetched;
}

/* The free map through the mirror and the io manager equals the local one. */
START_TEST(free_map_same_as_local)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_extents a = { 0 }, b = { 0 };
	char path[512];
	uint64_t freeb = 0, fetched;

	if (!make_ext4_disk(path, sizeof(path))) {
		vsl_ctx_free(ctx);
		return;
	}
	fetched = free_maps(ctx, path, 64 << 20, &a, &b);
	ck_assert_uint_gt(a.n, 0);
	for (size_t i = 0; i < a.n; i++)
		freeb += a.v[i].len;
	ck_assert_uint_gt(freeb, 40 << 20);
	/* only metadata was fetched: the partition table, superblocks, bitmaps */
	ck_assert_uint_lt(fetched, 8 << 20);
	vsl_p2v_extents_fini(&a);
	vsl_p2v_extents_fini(&b);
	vsl_ctx_free(ctx);
}
END_TEST

/*
 * tmp/name: size bytes of random garbage, partitioned by the sfdisk script
 * table, with an ext4 filesystem (over garbage too) put in each of parts
 * ("START:SECTORS ...", 512-byte sectors). false when mkfs.ext4 or sfdisk
 * is missing.
 */
static bool make_parted_disk(const char *name, uint64_t size, const char *table,
			     const char *parts, char *path, size_t len)
{
	if (!tu_have("mkfs.ext4") || !tu_have("sfdisk"))
		return false;
	snprintf(path, len, "%s/%s", tmp, name);
	ck_assert_int_eq(tu_sh("cd '%s' && head -c %llu /dev/urandom > '%s' &&"
			       " printf '%s' | sfdisk -q '%s' >/dev/null 2>&1 &&"
			       " for p in %s; do"
			       "  head -c $((${p#*:} * 512)) /dev/urandom > p &&"
			       "  mkfs.ext4 -q -F -E nodiscard p >/dev/null 2>&1 &&"
			       "  dd if=p of='%s' bs=512 seek=${p%%:*} conv=notrunc status=none || exit 1;"
			       " done && rm p", tmp, (unsigned long long)size, name, table, name, parts,
			       name), 0);
	return true;
}

/*
 * Logical partitions: their EBRs are chained through the extended one, so
 * the mirror must be probed again as each is found (p2v_partitions).
 */
START_TEST(free_map_logical_partitions)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_extents a = { 0 }, b = { 0 };
	char path[512];
	bool in[3] = { false, false, false };
	static const uint64_t start[3] = { 2048 * 512ull, 36864 * 512ull, 59392 * 512ull };
	static const uint64_t size[3] = { 30720 * 512ull, 20480 * 512ull, 40960 * 512ull };

	if (!make_parted_disk("l.raw", 96 << 20,
			      "label: dos\nstart=2048, size=30720, type=83\nstart=34816, type=5\n"
			      "start=36864, size=20480, type=83\nstart=59392, size=40960, type=83\n",
			      "2048:30720 36864:20480 59392:40960", path, sizeof(path))) {
		vsl_ctx_free(ctx);
		return;
	}
	free_maps(ctx, path, 96 << 20, &a, &b);
	for (size_t i = 0; i < a.n; i++)
		for (int k = 0; k < 3; k++)
			if (b.v[i].off >= start[k] && b.v[i].off < start[k] + size[k])
				in[k] = true;
	/* free blocks found in the primary and in both logical partitions */
	ck_assert(in[0] && in[1] && in[2]);
	vsl_p2v_extents_fini(&a);
	vsl_p2v_extents_fini(&b);
	vsl_ctx_free(ctx);
}
END_TEST

/* GPT: the header at LBA 1, the entries after it, the backup at the end. */
START_TEST(free_map_gpt)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_extents a = { 0 }, b = { 0 };
	char path[512];
	uint64_t freeb = 0;

	if (!make_parted_disk("g.raw", 48 << 20, "label: gpt\nstart=4096, size=61440, type=linux\n",
			      "4096:61440", path, sizeof(path))) {
		vsl_ctx_free(ctx);
		return;
	}
	free_maps(ctx, path, 48 << 20, &a, &b);
	ck_assert_uint_gt(a.n, 0);
	for (size_t i = 0; i < a.n; i++) {
		ck_assert_uint_ge(a.v[i].off, 4096 * 512);
		freeb += a.v[i].len;
	}
	ck_assert_uint_gt(freeb, 20 << 20);
	vsl_p2v_extents_fini(&a);
	vsl_p2v_extents_fini(&b);
	vsl_ctx_free(ctx);
}
END_TEST

static bool same_images(const char *p1, const char *p2)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_image *a = NULL, *b = NULL;
	static uint8_t x[1 << 20], y[1 << 20];
	bool same;

	ck_assert_int_eq(vsl_image_open(ctx, p1, NULL, VSL_IMAGE_RDONLY, &a), 0);
	ck_assert_int_eq(vsl_image_open(ctx, p2, NULL, VSL_IMAGE_RDONLY, &b), 0);
	same = a->size == b->size;
	for (uint64_t off = 0; same && off < a->size; off += sizeof(x)) {
		ck_assert_int_eq(vsl_image_read(a, off, x, sizeof(x)), 0);
		ck_assert_int_eq(vsl_image_read(b, off, y, sizeof(y)), 0);
		same = !memcmp(x, y, sizeof(x));
	}
	vsl_image_close(a);
	vsl_image_close(b);
	vsl_ctx_free(ctx);
	return same;
}

/* Transport down for good: the partial copy is kept; the same call resumes. */
START_TEST(p2v_resumes_after_lost_transport)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_p2v_opts o = { .no_fixup = true };
	struct vsl_p2v_stats st, st2;
	struct vsl_p2v_journal *j = calloc(1, sizeof(*j));
	char path[512], out[512], ref[512], jp[600], d1[600], d2[600], *url;
	const char *src[1];
	struct stat sb;

	ck_assert_ptr_nonnull(j);
	if (!make_ext4_disk(path, sizeof(path))) {
		free(j);
		vsl_ctx_free(ctx);
		return;
	}
	url = url_of(path);
	src[0] = path;
	snprintf(ref, sizeof(ref), "%s/ref.vessel", tmp);
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, ref, &o, NULL, &st), 0);
	src[0] = url;
	snprintf(out, sizeof(out), "%s/o.vessel", tmp);
	setenv("VESSEL_P2V_SSH_FAIL_AFTER", "8388608", 1); /* past the free map */
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, out, &o, NULL, &st), VSL_EIO);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "o.vessel.p2v-partial"));
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "run the same command again"));
	ck_assert_int_lt(stat(out, &sb), 0);
	snprintf(jp, sizeof(jp), "%s/o.vessel.p2v-partial/p2v-journal", tmp);
	ck_assert_int_eq(vsl_p2v_journal_read(ctx, jp, j), 0);
	ck_assert_uint_eq(j->n, 1);
	ck_assert(!j->disks[0].complete);
	ck_assert_uint_gt(j->disks[0].done, 0);
	ck_assert_uint_eq(j->disks[0].size, 64 << 20);
	ck_assert_str_eq(j->disks[0].source, url);
	unsetenv("VESSEL_P2V_SSH_FAIL_AFTER");
	/* another command does not take the partial copy */
	o.format = "raw";
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, out, &o, NULL, &st2), VSL_EEXIST);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "another disk format"));
	o.format = NULL;
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, out, &o, NULL, &st2), 0);
	ck_assert_uint_eq(st2.resumed_bytes, j->disks[0].done);
	ck_assert_uint_lt(st2.ssh_bytes, st.ssh_bytes + st2.resumed_bytes);
	ck_assert_int_lt(stat(jp, &sb), 0);
	snprintf(d1, sizeof(d1), "%s/disks/disk0.qcow2", ref);
	snprintf(d2, sizeof(d2), "%s/disks/disk0.qcow2", out);
	ck_assert(same_images(d1, d2));
	free(url);
	free(j);
	vsl_ctx_free(ctx);
}
END_TEST

/* Progress callback that "presses Ctrl-C" once the copy is under way. */
static volatile sig_atomic_t intr_flag;

static void press_ctrl_c(void *opaque, const char *what, uint64_t done, uint64_t total)
{
	(void)opaque;
	(void)what;
	(void)total;
	if (done >= (8u << 20))
		intr_flag = 1;
}

/* Interrupted (opts.interrupted set): stopped at the next request, kept, resumed. */
START_TEST(p2v_interrupted_and_resumed)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_progress prog = { press_ctrl_c, NULL };
	struct vsl_p2v_opts o = { .no_fixup = true, .progress = &prog, .interrupted = &intr_flag };
	struct vsl_p2v_stats st;
	char path[512], out[512], ref[512], d1[600], d2[600], *url;
	const char *src[1];
	struct stat sb;

	if (!make_ext4_disk(path, sizeof(path))) {
		vsl_ctx_free(ctx);
		return;
	}
	url = url_of(path);
	src[0] = url;
	snprintf(out, sizeof(out), "%s/i.vessel", tmp);
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, out, &o, NULL, &st), VSL_ECANCELED);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "interrupted at offset"));
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "i.vessel.p2v-partial"));
	ck_assert_int_lt(stat(out, &sb), 0);
	intr_flag = 0;
	o.progress = NULL;
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, out, &o, NULL, &st), 0);
	ck_assert_uint_ge(st.resumed_bytes, 8u << 20);
	src[0] = path;
	snprintf(ref, sizeof(ref), "%s/ref.vessel", tmp);
	ck_assert_int_eq(vsl_p2v(ctx, src, 1, ref, &o, NULL, &st), 0);
	snprintf(d1, sizeof(d1), "%s/disks/disk0.qcow2", ref);
	snprintf(d2, sizeof(d2), "%s/disks/disk0.qcow2", out);
	ck_assert(same_images(d1, d2));
	free(url);
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	const TTest *const tests[] = {
		url_parse, journal_round_trip_and_bad, session_reads_verified, session_errors,
		digest_mismatch_refetched, free_map_same_as_local, free_map_logical_partitions,
		free_map_gpt, p2v_resumes_after_lost_transport, p2v_interrupted_and_resumed,
		NULL
	};

	return tu_run_tests("p2v_ssh", setup, teardown, 120, tests);
}
