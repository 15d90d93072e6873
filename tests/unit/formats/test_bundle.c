/*
 * Unit tests for bundles (formats/bundle*.c) and did-you-mean (common/suggest.c).
 *
 * Each test that touches files works in a fresh mkdtemp directory. Text
 * configs are parsed from memory; problem lists are flattened to one
 * "FILE:LINE:COL: message\n" string so assertions can look for exact lines.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/bundle.h"
#include "vessel/format.h"
#include "vessel/suggest.h"

static struct vsl_ctx *ctx;
static char tmpdir[64];

static void rm_rf(const char *path)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", path);
}

static void setup(void)
{
	ctx = vsl_ctx_new();
	strcpy(tmpdir, "/tmp/vsl-bundle-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	rm_rf(tmpdir);
	vsl_ctx_free(ctx);
}

static const char *tpath(const char *rel)
{
	return tu_path(tmpdir, rel);
}

static void put(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(data, f);
	fclose(f);
}

/* All problems as "FILE:LINE:COL: message\n" lines (static buffer). */
static const char *flat(const struct vsl_problems *pr)
{
	static char out[16384];
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < pr->count && n < sizeof(out); i++) {
		char line[1024];
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s\n",
				      vsl_problem_format(&pr->items[i], line, sizeof(line)));
	}
	return out;
}

#define HEAD "vessel-bundle: 1\nname: t\narch: x86_64\n"
#define BOOT "boot:\n  kernel: boot/vmlinuz\n"

/* Parse text; returns the result code, fills *pr (caller finis). */
static int parse(const char *text, struct vsl_bundle_config *cfg, struct vsl_problems *pr)
{
	vsl_problems_init(pr);
	return vsl_bundle_parse_config(ctx, text, strlen(text), "vessel.yaml", cfg, pr);
}

#define ck_assert_has(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, "expected '%s' in:\n%s", (needle), (hay))

/* ---- did you mean ---- */

START_TEST(suggest_basics)
{
	static const char *const keys[] = { "name", "arch", "cpus", "memory", "boot", "disks",
					    "network", "serial", "provenance", NULL };

	ck_assert_uint_eq(vsl_suggest_distance("kitten", "sitting"), 3);
	ck_assert_uint_eq(vsl_suggest_distance("", "abc"), 3);
	ck_assert_uint_eq(vsl_suggest_distance("mmeory", "memory"), 1); /* transposition */
	ck_assert_str_eq(vsl_suggest_closest("memroy", keys), "memory");
	ck_assert_str_eq(vsl_suggest_closest("cpu", keys), "cpus");
	ck_assert_str_eq(vsl_suggest_closest("Serial", keys), "serial");
	ck_assert_str_eq(vsl_suggest_closest("netwrok", keys), "network");
	ck_assert_ptr_null(vsl_suggest_closest("foo", keys));
	ck_assert_ptr_null(vsl_suggest_closest("x", keys));
	ck_assert_ptr_null(vsl_suggest_closest("memory", NULL));
}
END_TEST

/* ---- parsing and validation ---- */

START_TEST(parse_valid_full)
{
	struct vsl_bundle_config c;
	struct vsl_problems pr;
	const char *y = HEAD "cpus: 4\nmemory: 2G\n"
			"boot:\n  kernel: boot/vmlinuz\n  initrd: boot/initrd.img\n"
			"  cmdline: \"console=ttyS0 quiet\"\n"
			"disks:\n- name: root\n  file: disks/root.qcow2\n  format: qcow2\n"
			"- name: data\n  file: disks/data.raw\n  format: raw\n  bus: ide\n"
			"  read-only: true\n"
			"network:\n- mode: user\n  mac: 52:54:00:AB:cd:01\n  forward:\n"
			"  - host: 2222\n    guest: 22\n  - host: 5353\n    guest: 53\n"
			"    protocol: udp\n    host-address: 0.0.0.0\n"
			"serial:\n  port: com2\n  output: none\n"
			"provenance:\n  vessel-version: 0.1.0\n  sources:\n  - uri: /dev/sdb\n";

	ck_assert_int_eq(parse(y, &c, &pr), 0);
	ck_assert_uint_eq(pr.count, 0);
	ck_assert_str_eq(c.name, "t");
	ck_assert_uint_eq(c.cpus, 4);
	ck_assert_uint_eq(c.memory, 2ull << 30);
	ck_assert_int_eq(c.boot.kind, VSL_BOOT_KERNEL);
	ck_assert_str_eq(c.boot.initrd, "boot/initrd.img");
	ck_assert_str_eq(c.boot.cmdline, "console=ttyS0 quiet");
	ck_assert_uint_eq(c.ndisks, 2);
	ck_assert_int_eq(c.disks[0].bus, VSL_DISK_BUS_VIRTIO);
	ck_assert(!c.disks[0].readonly);
	ck_assert_int_eq(c.disks[1].bus, VSL_DISK_BUS_IDE);
	ck_assert(c.disks[1].readonly);
	ck_assert_str_eq(c.disks[1].format, "raw");
	ck_assert_uint_eq(c.nnics, 1);
	ck_assert(c.nics[0].has_mac);
	ck_assert_uint_eq(c.nics[0].mac[3], 0xab);
	ck_assert_uint_eq(c.nics[0].nforwards, 2);
	ck_assert_uint_eq(c.nics[0].forwards[0].host_port, 2222);
	ck_assert_int_eq(c.nics[0].forwards[0].proto, VSL_NET_TCP);
	ck_assert_ptr_null(c.nics[0].forwards[0].host_addr);
	ck_assert_int_eq(c.nics[0].forwards[1].proto, VSL_NET_UDP);
	ck_assert_str_eq(c.nics[0].forwards[1].host_addr, "0.0.0.0");
	ck_assert_uint_eq(c.serial.port, 2);
	ck_assert_int_eq(c.serial.output, VSL_SERIAL_NONE);
	ck_assert_str_eq(c.provenance.sources[0].uri, "/dev/sdb");
	ck_assert(c.facts.parsed);
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
}
END_TEST

START_TEST(parse_memory_units)
{
	static const struct { const char *text; uint64_t bytes; } ok[] = {
		{ "512M", 512ull << 20 }, { "536870912", 512ull << 20 }, { "1G", 1ull << 30 },
		{ "16MiB", 16ull << 20 }, { "1T", 1ull << 40 }, { "\"64M\"", 64ull << 20 },
	};

	for (size_t i = 0; i < VSL_ARRAY_SIZE(ok); i++) {
		struct vsl_bundle_config c;
		struct vsl_problems pr;
		char y[256];

		snprintf(y, sizeof(y), HEAD "cpus: 1\nmemory: %s\n" BOOT, ok[i].text);
		ck_assert_msg(parse(y, &c, &pr) == 0, "%s: %s", ok[i].text, flat(&pr));
		ck_assert_uint_eq(c.memory, ok[i].bytes);
		vsl_bundle_config_free(&c);
		vsl_problems_fini(&pr);
	}
}
END_TEST

START_TEST(parse_limits)
{
	static const struct { const char *cpus, *mem, *want; } bad[] = {
		{ "0", "512M", "vessel.yaml:4:7: cpus: must be between 1 and 256, found 0" },
		{ "257", "512M", "vessel.yaml:4:7: cpus: must be between 1 and 256, found 257" },
		{ "99999999999999999999999", "512M", "cpus: must be between 1 and 256, found 9999" },
		{ "1", "0", "vessel.yaml:5:9: memory: must be between 16.0 MiB and 1.0 TiB, found 0 (0 B)" },
		{ "1", "15M", "memory: must be between 16.0 MiB and 1.0 TiB, found 15M (15.0 MiB)" },
		{ "1", "2T", "memory: must be between 16.0 MiB and 1.0 TiB, found 2T (2.0 TiB)" },
		{ "1", "99999999999999999999", "found 99999999999999999999 (more than 16 EiB)" },
		{ "1", "1.5G", "memory: expected a size such as 512M or 2G (or bytes), found '1.5G'" },
		{ "1", "16777217", "memory: must be a multiple of 4 KiB" },
		{ "-1", "512M", "cpus: expected an integer, found '-1'" },
		{ "010", "512M", "vessel.yaml:4:7: cpus: leading zeros are ambiguous, found '010'" },
		{ "2.0", "512M", "cpus: expected an integer, found '2.0'" },
	};

	for (size_t i = 0; i < VSL_ARRAY_SIZE(bad); i++) {
		struct vsl_bundle_config c;
		struct vsl_problems pr;
		char y[256];

		snprintf(y, sizeof(y), HEAD "cpus: %s\nmemory: %s\n" BOOT, bad[i].cpus, bad[i].mem);
		ck_assert_int_eq(parse(y, &c, &pr), VSL_EINVAL);
		ck_assert_uint_eq(pr.errors, 1);
		ck_assert_has(flat(&pr), bad[i].want);
		ck_assert_has(vsl_ctx_error(ctx), bad[i].want); /* the first problem */
		vsl_bundle_config_free(&c);
		vsl_problems_fini(&pr);
	}
}
END_TEST

START_TEST(parse_syntax_error)
{
	struct vsl_bundle_config c;
	struct vsl_problems pr;

	ck_assert_int_eq(parse(HEAD "cpus: 1\nmemory: 1G\nboot:\n  kernel: a: b\n", &c, &pr),
			 VSL_EINVAL);
	ck_assert_str_eq(flat(&pr), "vessel.yaml:7:12: mapping values are not allowed in this "
				    "context\n");
	ck_assert(!c.facts.parsed);
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	ck_assert_int_eq(parse("vessel-bundle: 1\nname: [a, b\n", &c, &pr), VSL_EINVAL);
	ck_assert_uint_eq(pr.count, 1);
	ck_assert_int_eq(pr.items[0].line, 3);
	ck_assert_has(flat(&pr), "(while parsing a flow sequence at line 2)");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	/* a tab where indentation is expected */
	ck_assert_int_eq(parse("vessel-bundle: 1\nboot:\n\tkernel: x\n", &c, &pr), VSL_EINVAL);
	ck_assert_int_eq(pr.items[0].line, 3);
	ck_assert_int_eq(pr.items[0].col, 1);
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
}
END_TEST

START_TEST(parse_unknown_keys)
{
	struct vsl_bundle_config c;
	struct vsl_problems pr;

	ck_assert_int_eq(parse(HEAD "cpus: 1\nmemroy: 1G\nboot:\n  kernal: boot/k\n"
			       "disks:\n- name: a\n  file: disks/a\n  format: raw\n  readonly: true\n"
			       "zzz: 1\n", &c, &pr), VSL_EINVAL);
	ck_assert_str_eq(flat(&pr),
			 "vessel.yaml:1:1: missing required key 'memory'\n"
			 "vessel.yaml:5:1: unknown key 'memroy' (did you mean 'memory'?)\n"
			 "vessel.yaml:7:3: boot: unknown key 'kernal' (did you mean 'kernel'?)\n"
			 "vessel.yaml:7:3: boot: missing 'kernel' (direct Linux boot) or 'firmware' "
			 "(boot from a disk)\n"
			 "vessel.yaml:12:3: disks[0]: unknown key 'readonly' (did you mean "
			 "'read-only'?)\n"
			 "vessel.yaml:13:1: unknown key 'zzz'\n");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
}
END_TEST

START_TEST(parse_wrong_types)
{
	struct vsl_bundle_config c;
	struct vsl_problems pr;

	ck_assert_int_eq(parse("vessel-bundle: 1\nname: [x]\narch: x86_64\ncpus: \"2\"\n"
			       "memory: {a: 1}\nboot: boot/vmlinuz\ndisks: root\n"
			       "network:\n- mode: user\n  mac: 12\n  forward:\n  - host: 0\n"
			       "    guest: 70000\nserial: [com1]\n", &c, &pr), VSL_EINVAL);
	ck_assert_str_eq(flat(&pr),
			 "vessel.yaml:2:7: name: expected a string, found a list\n"
			 "vessel.yaml:4:7: cpus: expected an integer, found the quoted string '2'\n"
			 "vessel.yaml:5:9: memory: expected a size such as 512M or 2G, found a mapping\n"
			 "vessel.yaml:6:7: boot: expected a mapping, found a scalar\n"
			 "vessel.yaml:7:8: disks: expected a list, found a scalar\n"
			 "vessel.yaml:10:8: network[0].mac: expected a MAC address such as "
			 "52:54:00:12:34:56, found '12'\n"
			 "vessel.yaml:12:11: network[0].forward[0].host: must be between 1 and 65535, "
			 "found 0\n"
			 "vessel.yaml:13:12: network[0].forward[0].guest: must be between 1 and 65535, "
			 "found 70000\n"
			 "vessel.yaml:14:9: serial: expected a mapping, found a list\n");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	ck_assert_int_eq(parse(HEAD "cpus: 1\nmemory: 1G\n" BOOT
			       "disks:\n- name: a\n  file: disks/a\n  format: qcow\n  read-only: yes\n"
			       "  bus: virtoi\n", &c, &pr), VSL_EINVAL);
	ck_assert_has(flat(&pr), "disks[0].format: unknown value 'qcow' (expected raw, qcow2, vmdk "
				 "or vpc; did you mean 'qcow2'?)");
	ck_assert_has(flat(&pr), "disks[0].read-only: expected true or false, found 'yes'");
	ck_assert_has(flat(&pr), "disks[0].bus: unknown value 'virtoi' (expected virtio or ide; did "
				 "you mean 'virtio'?)");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
}
END_TEST

START_TEST(parse_missing_keys)
{
	struct vsl_bundle_config c;
	struct vsl_problems pr;

	ck_assert_int_eq(parse("vessel-bundle: 1\narch: x86_64\nboot:\n  firmware: bios\n"
			       "disks:\n- file: disks/a\n", &c, &pr), VSL_EINVAL);
	ck_assert_str_eq(flat(&pr),
			 "vessel.yaml:1:1: missing required key 'name'\n"
			 "vessel.yaml:1:1: missing required key 'cpus'\n"
			 "vessel.yaml:1:1: missing required key 'memory'\n"
			 "vessel.yaml:4:3: boot: missing required key 'disk' (the disk to boot with "
			 "firmware)\n"
			 "vessel.yaml:6:3: disks[0]: missing required key 'name'\n"
			 "vessel.yaml:6:3: disks[0]: missing required key 'format'\n");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	/* empty values are not silently accepted */
	ck_assert_int_eq(parse("vessel-bundle: 1\nname:\narch: x86_64\ncpus: ~\nmemory: 1G\n" BOOT,
			       &c, &pr), VSL_EINVAL);
	ck_assert_has(flat(&pr), "vessel.yaml:2:6: name: must not be empty");
	ck_assert_has(flat(&pr), "vessel.yaml:4:7: cpus: must not be empty (expected an integer)");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
}
END_TEST

START_TEST(parse_schema_version)
{
	struct vsl_bundle_config c;
	struct vsl_problems pr;

	ck_assert_int_eq(parse("vessel-bundle: 2\nfuture-key: 1\n", &c, &pr), VSL_EINVAL);
	ck_assert_str_eq(flat(&pr), "vessel.yaml:1:16: vessel-bundle: schema version 2 is newer "
				    "than this vessel reads (1); upgrade vessel to read this bundle\n");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	ck_assert_int_eq(parse("name: t\ncpus: 1\n", &c, &pr), VSL_EINVAL);
	ck_assert_str_eq(flat(&pr), "vessel.yaml:1:1: missing 'vessel-bundle: 1' (the schema "
				    "version) as the first key\n");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	ck_assert_int_eq(parse("name: t\nvessel-bundle: 1\narch: x86_64\ncpus: 1\nmemory: 1G\n" BOOT,
			       &c, &pr), VSL_EINVAL);
	ck_assert_str_eq(flat(&pr), "vessel.yaml:1:1: 'vessel-bundle' must be the first key\n");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	ck_assert_int_eq(parse("vessel-bundle: 01\n", &c, &pr), VSL_EINVAL);
	ck_assert_has(flat(&pr), "vessel-bundle: expected the schema version 1");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	ck_assert_int_eq(parse("vessel-bundle: \"1\"\n", &c, &pr), VSL_EINVAL);
	ck_assert_has(flat(&pr), "vessel-bundle: expected the schema version 1");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	ck_assert_int_eq(parse("", &c, &pr), VSL_EINVAL);
	ck_assert_has(flat(&pr), "vessel.yaml:1:1: empty document");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	ck_assert_int_eq(parse("- a\n- b\n", &c, &pr), VSL_EINVAL);
	ck_assert_has(flat(&pr), "expected a mapping of keys");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
}
END_TEST

START_TEST(parse_structure_rules)
{
	struct vsl_bundle_config c;
	struct vsl_problems pr;

	/* duplicate keys, aliases, second documents */
	ck_assert_int_eq(parse(HEAD "cpus: 1\ncpus: 2\nmemory: 1G\n" BOOT, &c, &pr), VSL_EINVAL);
	ck_assert_str_eq(flat(&pr), "vessel.yaml:5:1: duplicate key 'cpus' (first on line 4)\n");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	ck_assert_int_eq(parse(HEAD "cpus: &n 1\nmemory: 1G\n" BOOT "disks:\n- &d {name: a, "
			       "file: x, format: raw}\n- *d\n", &c, &pr), VSL_EINVAL);
	ck_assert_has(flat(&pr), "anchors and aliases are not allowed");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	ck_assert_int_eq(parse(HEAD "cpus: 1\nmemory: 1G\n" BOOT "---\nname: other\n", &c, &pr),
			 VSL_EINVAL);
	ck_assert_has(flat(&pr), "vessel.yaml:9:1: more than one YAML document");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	/* boot: kernel and firmware exclusive; firmware disk must exist */
	ck_assert_int_eq(parse(HEAD "cpus: 1\nmemory: 1G\nboot:\n  kernel: k\n  firmware: bios\n",
			       &c, &pr), VSL_EINVAL);
	ck_assert_has(flat(&pr), "boot: give either 'kernel'");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
	ck_assert_int_eq(parse(HEAD "cpus: 1\nmemory: 1G\nboot:\n  firmware: bios\n  disk: sda\n",
			       &c, &pr), VSL_EINVAL);
	ck_assert_str_eq(flat(&pr), "vessel.yaml:8:9: boot.disk: no disk named 'sda' in disks\n");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	/* path syntax is checked even without a directory */
	ck_assert_int_eq(parse(HEAD "cpus: 1\nmemory: 1G\nboot:\n  kernel: ../vmlinuz\n"
			       "  initrd: /boot/initrd\n", &c, &pr), VSL_EINVAL);
	ck_assert_str_eq(flat(&pr),
			 "vessel.yaml:7:11: boot.kernel: '../vmlinuz' leaves the bundle ('..')\n"
			 "vessel.yaml:8:11: boot.initrd: '/boot/initrd' is absolute; paths are "
			 "relative to the bundle directory\n");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	/* the same host port twice */
	ck_assert_int_eq(parse(HEAD "cpus: 1\nmemory: 1G\n" BOOT "network:\n- mode: user\n  forward:"
			       "\n  - {host: 80, guest: 80}\n- mode: user\n  forward:\n"
			       "  - {host: 80, guest: 8080}\n", &c, &pr), VSL_EINVAL);
	ck_assert_has(flat(&pr), "network: host port 80/tcp is forwarded twice");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
}
END_TEST

START_TEST(parse_many_problems_at_once)
{
	struct vsl_bundle_config c;
	struct vsl_problems pr;

	ck_assert_int_eq(parse("vessel-bundle: 1\nname: 'bad name'\narch: arm64\ncpus: 0\n"
			       "memory: 1P\nboot:\n  kernel: /vmlinuz\nsreial: {}\n", &c, &pr),
			 VSL_EINVAL);
	ck_assert_uint_eq(pr.errors, 6);
	ck_assert_str_eq(flat(&pr),
			 "vessel.yaml:2:7: name: 'bad name' is not a valid name (letters, digits, "
			 "'.', '_', '-'; at most 64)\n"
			 "vessel.yaml:3:7: arch: unknown value 'arm64' (expected x86_64)\n"
			 "vessel.yaml:4:7: cpus: must be between 1 and 256, found 0\n"
			 "vessel.yaml:5:9: memory: must be between 16.0 MiB and 1.0 TiB, found 1P "
			 "(1.0 PiB)\n"
			 "vessel.yaml:7:11: boot.kernel: '/vmlinuz' is absolute; paths are relative "
			 "to the bundle directory\n"
			 "vessel.yaml:8:1: unknown key 'sreial' (did you mean 'serial'?)\n");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
}
END_TEST

/* ---- writing and round trips ---- */

static void fill_config(struct vsl_bundle_config *c);

START_TEST(parse_guest)
{
	struct vsl_bundle_config c;
	struct vsl_problems pr;

	/* optional: absent leaves every field NULL, and a partial mapping is fine */
	ck_assert_int_eq(parse(HEAD "cpus: 1\nmemory: 1G\n" BOOT, &c, &pr), 0);
	ck_assert_ptr_null(c.guest.os);
	ck_assert_ptr_null(c.guest.product);
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
	ck_assert_msg(parse(HEAD "cpus: 1\nmemory: 1G\n" BOOT "guest:\n  distro: debian\n"
			    "  version: 12.15\n", &c, &pr) == 0, "%s", flat(&pr));
	ck_assert_str_eq(c.guest.distro, "debian");
	ck_assert_str_eq(c.guest.version, "12.15"); /* a plain 12.15 is read as text */
	ck_assert_ptr_null(c.guest.os);
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	/* strict like the rest: types, unknown keys, empty values, control characters */
	ck_assert_int_eq(parse(HEAD "cpus: 1\nmemory: 1G\n" BOOT "guest:\n  os: [linux]\n"
			       "  distor: debian\n  version:\n  product: \"a\\tb\"\n", &c, &pr),
			 VSL_EINVAL);
	ck_assert_str_eq(flat(&pr),
			 "vessel.yaml:9:7: guest.os: expected a string, found a list\n"
			 "vessel.yaml:10:3: guest: unknown key 'distor' (did you mean 'distro'?)\n"
			 "vessel.yaml:11:11: guest.version: must not be empty\n"
			 "vessel.yaml:12:12: guest.product: must be at most 128 printable characters "
			 "(no control characters)\n");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
	ck_assert_int_eq(parse(HEAD "cpus: 1\nmemory: 1G\n" BOOT "guest: debian\n", &c, &pr),
			 VSL_EINVAL);
	ck_assert_has(flat(&pr), "vessel.yaml:8:8: guest: expected a mapping, found a scalar");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	/* and the writer refuses what the reader would */
	fill_config(&c);
	free(c.guest.product);
	c.guest.product = strdup("two\nlines");
	vsl_problems_init(&pr);
	ck_assert_int_eq(vsl_bundle_config_check(ctx, &c, &pr), VSL_EINVAL);
	ck_assert_has(flat(&pr), "guest.product: empty, too long or with control characters");
	ck_assert(!vsl_bundle_guest_str_ok(""));
	ck_assert(vsl_bundle_guest_str_ok("Debian GNU/Linux 12 (bookworm)"));
	vsl_problems_fini(&pr);
	vsl_bundle_config_free(&c);
}
END_TEST

static void fill_config(struct vsl_bundle_config *c)
{
	struct vsl_bundle_disk *d;
	struct vsl_bundle_nic *n;
	struct vsl_bundle_forward *f;
	struct vsl_bundle_source *s;

	vsl_bundle_config_init(c);
	c->name = strdup("web-1");
	c->arch = strdup("x86_64");
	c->cpus = 3;
	c->memory = 768ull << 20;
	c->boot.kind = VSL_BOOT_KERNEL;
	c->boot.kernel = strdup("boot/vmlinuz");
	c->boot.initrd = strdup("boot/initrd.img");
	c->boot.cmdline = strdup("console=ttyS0 root=/dev/vda: quiet");
	d = vsl_bundle_config_add_disk(c);
	d->name = strdup("root");
	d->file = strdup("disks/root.qcow2");
	d->format = strdup("qcow2");
	d = vsl_bundle_config_add_disk(c);
	d->name = strdup("seed");
	d->file = strdup("disks/seed.raw");
	d->format = strdup("raw");
	d->bus = VSL_DISK_BUS_IDE;
	d->readonly = true;
	n = vsl_bundle_config_add_nic(c);
	n->model = strdup("virtio");
	n->has_mac = true;
	memcpy(n->mac, "\x52\x54\x00\x0a\x0b\x0c", 6);
	f = vsl_bundle_nic_add_forward(n);
	f->host_port = 8080;
	f->guest_port = 80;
	f = vsl_bundle_nic_add_forward(n);
	f->proto = VSL_NET_UDP;
	f->host_addr = strdup("0.0.0.0");
	f->host_port = 5353;
	f->guest_port = 53;
	n = vsl_bundle_config_add_nic(c);
	n->mode = VSL_NET_NONE;
	c->serial.port = 2;
	c->serial.output = VSL_SERIAL_NONE;
	c->guest.os = strdup("linux");
	c->guest.distro = strdup("debian");
	c->guest.version = strdup("12.15"); /* looks like a number: must stay a string */
	c->guest.product = strdup("Debian GNU/Linux 12 (bookworm)");
	c->provenance.recipe = strdup("web.yaml");
	c->provenance.recipe_digest = strdup("sha256:"
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	c->provenance.vessel_version = strdup("0.1.0");
	s = vsl_bundle_config_add_source(c);
	s->uri = strdup("https://example.org/debian.iso");
	s->sha256 = strdup("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	s = vsl_bundle_config_add_source(c);
	s->uri = strdup("true"); /* a string that looks like a boolean */
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void assert_config_eq(const struct vsl_bundle_config *a, const struct vsl_bundle_config *b)
{
	ck_assert(str_eq(a->name, b->name));
	ck_assert(str_eq(a->arch, b->arch));
	ck_assert_uint_eq(a->cpus, b->cpus);
	ck_assert_uint_eq(a->memory, b->memory);
	ck_assert_int_eq(a->boot.kind, b->boot.kind);
	ck_assert(str_eq(a->boot.kernel, b->boot.kernel));
	ck_assert(str_eq(a->boot.initrd, b->boot.initrd));
	ck_assert(str_eq(a->boot.cmdline, b->boot.cmdline));
	ck_assert_int_eq(a->boot.firmware, b->boot.firmware);
	ck_assert(str_eq(a->boot.disk, b->boot.disk));
	ck_assert_uint_eq(a->ndisks, b->ndisks);
	for (size_t i = 0; i < a->ndisks; i++) {
		ck_assert(str_eq(a->disks[i].name, b->disks[i].name));
		ck_assert(str_eq(a->disks[i].file, b->disks[i].file));
		ck_assert(str_eq(a->disks[i].format, b->disks[i].format));
		ck_assert_int_eq(a->disks[i].bus, b->disks[i].bus);
		ck_assert_int_eq(a->disks[i].readonly, b->disks[i].readonly);
	}
	ck_assert_uint_eq(a->nnics, b->nnics);
	for (size_t i = 0; i < a->nnics; i++) {
		ck_assert_int_eq(a->nics[i].mode, b->nics[i].mode);
		ck_assert(str_eq(a->nics[i].model, b->nics[i].model));
		ck_assert_int_eq(a->nics[i].has_mac, b->nics[i].has_mac);
		ck_assert_mem_eq(a->nics[i].mac, b->nics[i].mac, 6);
		ck_assert_uint_eq(a->nics[i].nforwards, b->nics[i].nforwards);
		for (size_t j = 0; j < a->nics[i].nforwards; j++) {
			const struct vsl_bundle_forward *x = &a->nics[i].forwards[j];
			const struct vsl_bundle_forward *y = &b->nics[i].forwards[j];
			ck_assert_int_eq(x->proto, y->proto);
			ck_assert(str_eq(x->host_addr, y->host_addr));
			ck_assert_uint_eq(x->host_port, y->host_port);
			ck_assert_uint_eq(x->guest_port, y->guest_port);
		}
	}
	ck_assert_uint_eq(a->serial.port, b->serial.port);
	ck_assert_int_eq(a->serial.output, b->serial.output);
	ck_assert(str_eq(a->guest.os, b->guest.os));
	ck_assert(str_eq(a->guest.distro, b->guest.distro));
	ck_assert(str_eq(a->guest.version, b->guest.version));
	ck_assert(str_eq(a->guest.product, b->guest.product));
	ck_assert(str_eq(a->provenance.recipe, b->provenance.recipe));
	ck_assert(str_eq(a->provenance.recipe_digest, b->provenance.recipe_digest));
	ck_assert(str_eq(a->provenance.vessel_version, b->provenance.vessel_version));
	ck_assert_uint_eq(a->provenance.nsources, b->provenance.nsources);
	for (size_t i = 0; i < a->provenance.nsources; i++) {
		ck_assert(str_eq(a->provenance.sources[i].uri, b->provenance.sources[i].uri));
		ck_assert(str_eq(a->provenance.sources[i].sha256, b->provenance.sources[i].sha256));
	}
}

/* Make the bundle dir with the files fill_config names; returns its path. */
static const char *make_bundle(const char *name, const struct vsl_bundle_config *c)
{
	static char dirs[2][512];
	static int k;
	char *dir = dirs[k ^= 1];
	char p[512];

	snprintf(dir, 512, "%s", tpath(name));

	ck_assert_int_eq(vsl_bundle_create(ctx, dir), 0);
	snprintf(p, sizeof(p), "%s/boot/vmlinuz", dir);
	put(p, "kernel");
	snprintf(p, sizeof(p), "%s/boot/initrd.img", dir);
	put(p, "initrd");
	snprintf(p, sizeof(p), "%s/disks/root.qcow2", dir);
	struct vsl_image *img;
	ck_assert_msg(vsl_image_create(ctx, p, "qcow2", 1 << 20, NULL, &img) == 0, "%s",
		      vsl_ctx_error(ctx));
	vsl_image_close(img);
	snprintf(p, sizeof(p), "%s/disks/seed.raw", dir);
	put(p, "seed disk");
	ck_assert_msg(vsl_bundle_write_config(ctx, dir, c) == 0, "%s", vsl_ctx_error(ctx));
	ck_assert_msg(vsl_bundle_write_manifest(ctx, dir) == 0, "%s", vsl_ctx_error(ctx));
	return dir;
}

static char *slurp(const char *path)
{
	static char buf[2][8192];
	static int i;
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	i ^= 1;
	n = fread(buf[i], 1, sizeof(buf[i]) - 1, f);
	buf[i][n] = '\0';
	fclose(f);
	return buf[i];
}

START_TEST(write_load_round_trip)
{
	struct vsl_bundle_config c, back;
	struct vsl_problems pr;
	const char *dir;
	char *text;
	size_t len;

	fill_config(&c);
	dir = make_bundle("rt.vessel", &c);
	vsl_problems_init(&pr);
	ck_assert_msg(vsl_bundle_load(ctx, dir, 0, &back, &pr) == 0, "%s", flat(&pr));
	ck_assert_uint_eq(pr.count, 0);
	assert_config_eq(&c, &back);
	ck_assert(back.facts.manifest_present && back.facts.manifest_verified);
	ck_assert_uint_eq(back.facts.manifest_files, 5);
	ck_assert(!back.facts.suspended);

	/* schema version first, memory with a unit, ambiguous strings quoted */
	text = slurp(tpath("rt.vessel/vessel.yaml"));
	ck_assert_msg(!strncmp(text, "vessel-bundle: 1\nname: web-1\narch: x86_64\ncpus: 3\n"
				     "memory: 768M\nboot:\n", 69), "%s", text);
	ck_assert_has(text, "- uri: \"true\"\n");
	ck_assert_has(text, "  read-only: true\n");
	ck_assert_has(text, "\nguest:\n  os: linux\n  distro: debian\n  version: \"12.15\"\n"
			    "  product: Debian GNU/Linux 12 (bookworm)\nprovenance:\n");

	/* text round trip through memory too, and the emitter is a fixed point */
	ck_assert_int_eq(vsl_bundle_format_config(ctx, &back, &text, &len), 0);
	ck_assert_str_eq(text, slurp(tpath("rt.vessel/vessel.yaml")));
	free(text);
	vsl_bundle_config_free(&back);
	vsl_problems_fini(&pr);
	vsl_bundle_config_free(&c);
}
END_TEST

START_TEST(write_is_deterministic)
{
	struct vsl_bundle_config c;
	char a[8192], b[8192];

	fill_config(&c);
	make_bundle("one.vessel", &c);
	sleep(1); /* different mtimes must not matter */
	make_bundle("two.vessel", &c);
	strcpy(a, slurp(tpath("one.vessel/MANIFEST")));
	strcpy(b, slurp(tpath("two.vessel/MANIFEST")));
	ck_assert_str_eq(a, b);
	/* sorted, tagged lines; MANIFEST does not list itself */
	ck_assert_msg(!strncmp(a, "SHA256 (boot/initrd.img) = ", 27), "%s", a);
	ck_assert_has(a, "\nSHA256 (disks/root.qcow2) = ");
	ck_assert_ptr_null(strstr(a, "(MANIFEST)"));
	ck_assert_ptr_nonnull(strstr(a, "(disks/seed.raw)"));
	ck_assert(strstr(a, "(disks/seed.raw)") < strstr(a, "(vessel.yaml)"));
	strcpy(a, slurp(tpath("one.vessel/vessel.yaml")));
	strcpy(b, slurp(tpath("two.vessel/vessel.yaml")));
	ck_assert_str_eq(a, b);
	vsl_bundle_config_free(&c);
}
END_TEST

START_TEST(write_refuses_invalid)
{
	struct vsl_bundle_config c;
	struct vsl_problems pr;
	char *text;
	size_t len;

	fill_config(&c);
	c.cpus = 0;
	c.memory = 1 << 20;
	vsl_problems_init(&pr);
	ck_assert_int_eq(vsl_bundle_config_check(ctx, &c, &pr), VSL_EINVAL);
	ck_assert_uint_eq(pr.errors, 2);
	ck_assert_int_eq(vsl_bundle_format_config(ctx, &c, &text, &len), VSL_EINVAL);
	ck_assert_has(vsl_ctx_error(ctx), "cpus: must be between 1 and 256, found 0");
	ck_assert_int_eq(mkdir(tpath("x.vessel"), 0755), 0);
	ck_assert_int_eq(vsl_bundle_write_config(ctx, tpath("x.vessel"), &c), VSL_EINVAL);
	ck_assert_int_eq(access(tpath("x.vessel/vessel.yaml"), F_OK), -1);
	vsl_problems_fini(&pr);
	vsl_bundle_config_free(&c);
	/* and create refuses an existing directory */
	ck_assert_int_eq(vsl_bundle_create(ctx, tpath("x.vessel")), VSL_EEXIST);
}
END_TEST

/* ---- MANIFEST ---- */

static void load_expect(const char *dir, int want, const char *needle, size_t nerrors)
{
	struct vsl_bundle_config c;
	struct vsl_problems pr;

	vsl_problems_init(&pr);
	ck_assert_int_eq(vsl_bundle_load(ctx, dir, 0, &c, &pr), want);
	if (needle)
		ck_assert_has(flat(&pr), needle);
	ck_assert_msg(pr.errors == nerrors, "%zu errors, expected %zu:\n%s", pr.errors, nerrors,
		      flat(&pr));
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
}

START_TEST(manifest_mismatch_named)
{
	struct vsl_bundle_config c;
	const char *dir;

	fill_config(&c);
	dir = make_bundle("m.vessel", &c);
	vsl_bundle_config_free(&c);
	put(tpath("m.vessel/disks/seed.raw"), "changed");
	load_expect(dir, VSL_EINVAL, "disks/seed.raw: content does not match MANIFEST (sha256 is ", 1);
	ck_assert_has(vsl_ctx_error(ctx), "1 problem, first: disks/seed.raw: content does not match");

	/* NO_VERIFY skips hashing but still compares the file list */
	struct vsl_problems pr;
	vsl_problems_init(&pr);
	ck_assert_int_eq(vsl_bundle_load(ctx, dir, VSL_BUNDLE_NO_VERIFY, &c, &pr), 0);
	ck_assert(!c.facts.manifest_verified);
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);

	ck_assert_int_eq(vsl_bundle_write_manifest(ctx, dir), 0);
	load_expect(dir, 0, NULL, 0);

	put(tpath("m.vessel/disks/extra"), "x");
	ck_assert_int_eq(unlink(tpath("m.vessel/boot/initrd.img")), 0);
	load_expect(dir, VSL_EINVAL, "disks/extra: not listed in MANIFEST\n", 3);
	load_expect(dir, VSL_EINVAL, "MANIFEST:1: 'boot/initrd.img' is listed but does not exist\n",
		    3);
	load_expect(dir, VSL_EINVAL, "vessel.yaml:8:11: boot.initrd: 'boot/initrd.img' does not "
				     "exist\n", 3);

	/* a suspended bundle: state/ files are covered by MANIFEST like the rest */
	ck_assert_int_eq(unlink(tpath("m.vessel/disks/extra")), 0);
	put(tpath("m.vessel/boot/initrd.img"), "initrd");
	ck_assert_int_eq(mkdir(tpath("m.vessel/state"), 0755), 0);
	put(tpath("m.vessel/state/memory"), "ram");
	ck_assert_int_eq(vsl_bundle_write_manifest(ctx, dir), 0);
	struct vsl_problems pr2;
	vsl_problems_init(&pr2);
	ck_assert_int_eq(vsl_bundle_load(ctx, dir, 0, &c, &pr2), 0);
	ck_assert(c.facts.suspended);
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr2);
}
END_TEST

START_TEST(manifest_malformed)
{
	struct vsl_bundle_config c;
	const char *dir;
	char hex[65];

	fill_config(&c);
	dir = make_bundle("bad.vessel", &c);
	vsl_bundle_config_free(&c);
	memset(hex, 'a', 64);
	hex[64] = '\0';
	put(tpath("bad.vessel/MANIFEST"), "SHA256 (vessel.yaml) = 123\n"
					   "MD5 (boot/vmlinuz) = abc\n");
	load_expect(dir, VSL_EINVAL, "MANIFEST:1: malformed line (expected 'SHA256 (path) = <64 "
				     "lowercase hex digits>')\n", 2 + 5);
	char buf[512];
	snprintf(buf, sizeof(buf), "SHA256 (../x) = %s\nSHA256 (/etc/passwd) = %s\n"
		 "SHA256 (vessel.yaml) = %s", hex, hex, hex);
	put(tpath("bad.vessel/MANIFEST"), buf);
	load_expect(dir, VSL_EINVAL, "MANIFEST:1: invalid path '../x'\n"
				     "MANIFEST:2: invalid path '/etc/passwd'\n"
				     "MANIFEST:3: last line does not end with a newline\n", 3 + 5);
	ck_assert_int_eq(unlink(tpath("bad.vessel/MANIFEST")), 0);
	load_expect(dir, VSL_EINVAL, "MANIFEST: missing", 1);
	{
		struct vsl_problems pr;
		vsl_problems_init(&pr);
		ck_assert_int_eq(vsl_bundle_load(ctx, dir, VSL_BUNDLE_NO_MANIFEST, &c, &pr), 0);
		vsl_bundle_config_free(&c);
		vsl_problems_fini(&pr);
	}
}
END_TEST

START_TEST(load_not_a_bundle)
{
	struct vsl_bundle_config c;
	struct vsl_problems pr;

	vsl_problems_init(&pr);
	ck_assert_int_eq(vsl_bundle_load(ctx, tpath("nope"), 0, &c, &pr), VSL_ENOENT);
	ck_assert_has(vsl_ctx_error(ctx), "is not a bundle directory");
	ck_assert_int_eq(vsl_bundle_load(ctx, tmpdir, 0, &c, &pr), VSL_ENOENT);
	ck_assert_has(vsl_ctx_error(ctx), "(no vessel.yaml)");
	vsl_bundle_config_free(&c);
	vsl_problems_fini(&pr);
}
END_TEST

/* ---- path escapes ---- */

static void resolve_cases(int flags)
{
	char dir[512];
	char *abs = NULL;

	snprintf(dir, sizeof(dir), "%s", tpath("p.vessel"));

	ck_assert_int_eq(vsl_bundle_create(ctx, dir), 0);
	put(tpath("p.vessel/disks/a.raw"), "a");
	put(tpath("outside"), "secret");
	ck_assert_int_eq(mkdir(tpath("outdir"), 0755), 0);
	put(tpath("outdir/b.raw"), "b");

	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "disks/a.raw", flags, &abs), 0);
	ck_assert_ptr_nonnull(strstr(abs, "/p.vessel/disks/a.raw"));
	ck_assert_int_eq(abs[0], '/');
	free(abs);

	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "../outside", flags, &abs), VSL_EPERM);
	ck_assert_ptr_null(abs);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "disks/../../outside", flags, &abs),
			 VSL_EPERM);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "../../etc/passwd", flags, &abs),
			 VSL_EPERM);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "/etc/passwd", flags, &abs), VSL_EPERM);
	ck_assert_has(vsl_ctx_error(ctx), "is absolute");
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "", flags, &abs), VSL_EPERM);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "disks/none", flags, &abs), VSL_ENOENT);
	ck_assert_has(vsl_ctx_error(ctx), "'disks/none' does not exist");

	/* a symlinked file pointing outside, relative and absolute */
	ck_assert_int_eq(symlink("../../outside", tpath("p.vessel/disks/rel.raw")), 0);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "disks/rel.raw", flags, &abs), VSL_EPERM);
	ck_assert_has(vsl_ctx_error(ctx), "leads outside the bundle through a symbolic link");
	ck_assert_int_eq(symlink(tpath("outside"), tpath("p.vessel/disks/abs.raw")), 0);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "disks/abs.raw", flags, &abs), VSL_EPERM);
	ck_assert_int_eq(symlink("/etc/passwd", tpath("p.vessel/disks/pw")), 0);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "disks/pw", flags, &abs), VSL_EPERM);

	/* a symlinked directory pointing outside */
	ck_assert_int_eq(symlink("../outdir", tpath("p.vessel/more")), 0);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "more/b.raw", flags, &abs), VSL_EPERM);
	ck_assert_int_eq(symlink("/etc", tpath("p.vessel/etc")), 0);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "etc/passwd", flags, &abs), VSL_EPERM);
	/* a link to the bundle itself is not a file inside it */
	ck_assert_int_eq(symlink(".", tpath("p.vessel/self")), 0);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "self", flags, &abs), VSL_EPERM);

	/* a loop */
	ck_assert_int_eq(symlink("loop", tpath("p.vessel/loop")), 0);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "loop", flags, &abs), VSL_EPERM);
	ck_assert_has(vsl_ctx_error(ctx), "too many symbolic links");

	/* symlinks that stay inside are fine */
	ck_assert_int_eq(symlink("a.raw", tpath("p.vessel/disks/alias.raw")), 0);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "disks/alias.raw", flags, &abs), 0);
	ck_assert_ptr_nonnull(strstr(abs, "/p.vessel/disks/a.raw"));
	free(abs);
	ck_assert_int_eq(symlink("disks", tpath("p.vessel/d")), 0);
	ck_assert_int_eq(vsl_bundle_resolve_path_ex(ctx, dir, "d/a.raw", flags, &abs), 0);
	free(abs);
}

START_TEST(resolve_openat2)
{
	resolve_cases(0);
}
END_TEST

START_TEST(resolve_realpath_fallback)
{
	resolve_cases(VSL_RESOLVE_NO_OPENAT2);
}
END_TEST

START_TEST(load_refuses_symlinked_disk)
{
	struct vsl_bundle_config c;
	const char *dir;

	fill_config(&c);
	dir = make_bundle("s.vessel", &c);
	vsl_bundle_config_free(&c);
	put(tpath("secret"), "secret");
	ck_assert_int_eq(unlink(tpath("s.vessel/disks/seed.raw")), 0);
	ck_assert_int_eq(symlink("../../secret", tpath("s.vessel/disks/seed.raw")), 0);
	ck_assert_int_eq(vsl_bundle_write_manifest(ctx, dir), VSL_EPERM);
	ck_assert_has(vsl_ctx_error(ctx), "disks/seed.raw is a symbolic link");
	load_expect(dir, VSL_EINVAL, "vessel.yaml:17:9: disks[1].file: 'disks/seed.raw' leads "
				     "outside the bundle through a symbolic link\n", 3);
	load_expect(dir, VSL_EINVAL, "disks/seed.raw: symbolic link: bundles hold regular files "
				     "only\n", 3);
	load_expect(dir, VSL_EINVAL, "MANIFEST:4: 'disks/seed.raw' is listed but does not exist\n",
		    3);
}
END_TEST

START_TEST(load_checks_disk_images)
{
	struct vsl_bundle_config c;
	struct vsl_image *img;
	char dir[512], base[512];

	fill_config(&c);
	snprintf(dir, sizeof(dir), "%s", make_bundle("i.vessel", &c));
	vsl_bundle_config_free(&c);

	/* declared qcow2, really raw */
	put(tpath("i.vessel/disks/root.qcow2"), "raw bytes");
	ck_assert_int_eq(vsl_bundle_write_manifest(ctx, dir), 0);
	load_expect(dir, VSL_EINVAL, "vessel.yaml:13:11: disks[0].format: 'disks/root.qcow2' is not a "
				     "qcow2 image (it looks like raw)\n", 1);

	/* a qcow2 whose backing file is outside the bundle */
	snprintf(base, sizeof(base), "%s", tpath("base.qcow2"));
	ck_assert_int_eq(vsl_image_create(ctx, base, "qcow2", 1 << 20, NULL, &img), 0);
	vsl_image_close(img);
	ck_assert_int_eq(unlink(tpath("i.vessel/disks/root.qcow2")), 0);
	struct vsl_image_opts o = { .backing_file = "../../base.qcow2", .backing_format = "qcow2" };
	ck_assert_msg(vsl_image_create(ctx, tpath("i.vessel/disks/root.qcow2"), "qcow2", 1 << 20, &o,
				       &img) == 0, "%s", vsl_ctx_error(ctx));
	vsl_image_close(img);
	ck_assert_int_eq(vsl_bundle_write_manifest(ctx, dir), 0);
	load_expect(dir, VSL_EINVAL, "vessel.yaml:12:9: disks[0].file: backing file '../../base.qcow2' "
				     "is outside the bundle\n", 1);

	/* backing inside the bundle is fine */
	ck_assert_int_eq(rename(base, tpath("i.vessel/disks/base.qcow2")), 0);
	ck_assert_int_eq(unlink(tpath("i.vessel/disks/root.qcow2")), 0);
	o.backing_file = "base.qcow2";
	ck_assert_int_eq(vsl_image_create(ctx, tpath("i.vessel/disks/root.qcow2"), "qcow2", 1 << 20, &o,
					  &img), 0);
	vsl_image_close(img);
	ck_assert_int_eq(vsl_bundle_write_manifest(ctx, dir), 0);
	load_expect(dir, 0, NULL, 0);

	/* declared raw, looks like qcow2: a warning only */
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", tpath("i.vessel/disks/base.qcow2"),
		 tpath("i.vessel/disks/seed.raw"));
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(vsl_bundle_write_manifest(ctx, dir), 0);
	{
		struct vsl_problems pr;
		vsl_problems_init(&pr);
		ck_assert_int_eq(vsl_bundle_load(ctx, dir, 0, &c, &pr), 0);
		ck_assert_uint_eq(pr.count, 1);
		ck_assert_int_eq(pr.items[0].severity, VSL_PROBLEM_WARNING);
		ck_assert_has(flat(&pr), "disks[1].format: raw, but 'disks/seed.raw' looks like a qcow2");
		vsl_bundle_config_free(&c);
		vsl_problems_fini(&pr);
	}
}
END_TEST

static Suite *bundle_suite(void)
{
	Suite *s = suite_create("bundle");
	TCase *tc;

	tc = tcase_create("suggest");
	tcase_add_test(tc, suggest_basics);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, parse_valid_full);
	tcase_add_test(tc, parse_memory_units);
	tcase_add_test(tc, parse_limits);
	tcase_add_test(tc, parse_syntax_error);
	tcase_add_test(tc, parse_unknown_keys);
	tcase_add_test(tc, parse_wrong_types);
	tcase_add_test(tc, parse_missing_keys);
	tcase_add_test(tc, parse_schema_version);
	tcase_add_test(tc, parse_structure_rules);
	tcase_add_test(tc, parse_many_problems_at_once);
	tcase_add_test(tc, parse_guest);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, write_load_round_trip);
	tcase_add_test(tc, write_is_deterministic);
	tcase_add_test(tc, write_refuses_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("manifest");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, manifest_mismatch_named);
	tcase_add_test(tc, manifest_malformed);
	tcase_add_test(tc, load_not_a_bundle);
	suite_add_tcase(s, tc);

	tc = tcase_create("paths");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, resolve_openat2);
	tcase_add_test(tc, resolve_realpath_fallback);
	tcase_add_test(tc, load_refuses_symlinked_disk);
	tcase_add_test(tc, load_checks_disk_images);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(bundle_suite());
}
