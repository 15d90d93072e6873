/* Unit tests for builder/recipe.c: schema v1, positions, variables. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/recipe.h"

static struct vsl_recipe *parse(const char *text, const struct vsl_recipe_opts *o, int *rc)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_recipe *r = NULL;

	*rc = vsl_recipe_parse(ctx, "t.yaml", text, strlen(text), o, &r);
	vsl_ctx_free(ctx);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* Is there a diagnostic containing needle? */
static bool has_diag(const struct vsl_recipe *r, const char *needle)
{
	for (size_t i = 0; i < vsl_recipe_ndiags(r); i++)
		if (strstr(vsl_recipe_diag(r, i), needle))
			return true;
	return false;
}

/* The start of a recipe booting Debian's kernel with busybox, for the tests of other sections. */
#define BUSYBOX_BOOT \
	"vessel: 1\nmachine: {name: m}\n" \
	"boot:\n  kernel: linux-image-amd64\n" \
	"  initramfs:\n    packages: [busybox]\n"

static const char minimal[] =
	"vessel: 1\n"
	"machine:\n"
	"  name: m\n"
	"boot:\n"
	"  kernel: linux-image-amd64\n"
	"  initramfs:\n"
	"    packages: [busybox-static]\n"
	"    init: \"#!/bin/sh\\n\"\n";

START_TEST(minimal_defaults)
{
	int rc;
	struct vsl_recipe *r = parse(minimal, NULL, &rc);

	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(vsl_recipe_ndiags(r), 0);
	ck_assert_str_eq(r->name, "m");
	ck_assert_str_eq(r->arch, "x86_64");
	ck_assert_uint_eq(r->cpus, 1);
	ck_assert_uint_eq(r->memory, 256ull << 20);
	ck_assert_str_eq(r->cmdline, "console=ttyS0");
	ck_assert_str_eq(r->kernel_package, "linux-image-amd64");
	ck_assert_uint_eq(r->kernel_loc.line, 5);
	ck_assert_uint_eq(r->kernel_loc.col, 11);
	ck_assert_uint_eq(r->npackages, 1);
	ck_assert_uint_eq(r->packages[0].loc.line, 7);
	ck_assert_str_eq(r->init, "#!/bin/sh\n");
	ck_assert(!r->net_user);
	ck_assert_uint_eq(strlen(r->digest), 64);
	vsl_recipe_free(r);
}
END_TEST

START_TEST(depends_switch)
{
	int rc;
	struct vsl_recipe *r = parse(minimal, NULL, &rc);

	/* default: package lists and package sources come with their dependencies */
	ck_assert(r->packages_depends);
	vsl_recipe_free(r);
	r = parse(BUSYBOX_BOOT
		  "    depends: false\n"
		  "sources:\n  - {name: a, package: busybox}\n"
		  "  - {name: b, package: busybox, depends: no}\n", NULL, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert(!r->packages_depends);
	ck_assert_uint_eq(r->nsources, 2);
	ck_assert(r->sources[0].depends);
	ck_assert(!r->sources[1].depends);
	vsl_recipe_free(r);
	r = parse(BUSYBOX_BOOT
		  "    depends: maybe\n"
		  "sources:\n  - {name: a, path: ., depends: true}\n", NULL, &rc);
	ck_assert_int_eq(rc, VSL_EINVAL);
	ck_assert(has_diag(r, "t.yaml:7:14: boot.initramfs.depends: expected true or false, "
			      "got 'maybe'"));
	ck_assert(has_diag(r, "source 'a': depends applies to package sources only"));
	vsl_recipe_free(r);
}
END_TEST

/* A tarball must be a file; a path a file or a directory; either must exist. */
START_TEST(source_paths_checked)
{
	int rc;
	struct vsl_recipe *r;

	r = parse(BUSYBOX_BOOT
		  "sources:\n  - {name: d, path: /tmp}\n"
		  "  - {name: f, path: /etc/passwd}\n"
		  "  - {name: t, tarball: /etc/passwd}\n", NULL, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(r->nsources, 3);
	ck_assert_str_eq(r->sources[0].path, "/tmp");
	ck_assert_int_eq(r->sources[0].kind, VSL_SOURCE_PATH);
	ck_assert_str_eq(r->sources[2].path, "/etc/passwd");
	ck_assert_int_eq(r->sources[2].kind, VSL_SOURCE_TARBALL);
	vsl_recipe_free(r);
	r = parse(BUSYBOX_BOOT
		  "sources:\n  - {name: a, tarball: /tmp}\n"
		  "  - {name: b, path: /dev/null}\n"
		  "  - {name: c, tarball: /nonexistent/c.tar}\n"
		  "  - {name: e, path: /nonexistent/e}\n", NULL, &rc);
	ck_assert_int_eq(rc, VSL_EINVAL);
	ck_assert(has_diag(r, "t.yaml:8:24: source 'a': '/tmp' is not a file"));
	ck_assert(has_diag(r, "source 'b': '/dev/null' is neither a file nor a directory"));
	ck_assert(has_diag(r, "source 'c': '/nonexistent/c.tar': No such file or directory"));
	ck_assert(has_diag(r, "source 'e': '/nonexistent/e': No such file or directory"));
	ck_assert_uint_eq(vsl_recipe_ndiags(r), 4);
	vsl_recipe_free(r);
}
END_TEST

START_TEST(machine_fields)
{
	int rc;
	struct vsl_recipe *r = parse(
		"vessel: 1\n"
		"machine:\n"
		"  name: web\n"
		"  cpus: 4\n"
		"  memory: 2G\n"
		"  network:\n"
		"    forward: [\"8080:80\", \"udp:5353:53\"]\n"
		"  serial: none\n"
		"boot:\n"
		"  kernel: {file: /dev/null}\n", NULL, &rc);

	/* /dev/null is not a regular file */
	ck_assert_int_eq(rc, VSL_EINVAL);
	ck_assert(has_diag(r, "t.yaml:10:18: boot.kernel.file: '/dev/null': no such file"));
	ck_assert_uint_eq(r->cpus, 4);
	ck_assert_uint_eq(r->memory, 2ull << 30);
	ck_assert(r->net_user); /* a network section defaults to mode user */
	ck_assert_uint_eq(r->nforwards, 2);
	ck_assert_uint_eq(r->forwards[0].host_port, 8080);
	ck_assert_uint_eq(r->forwards[0].guest_port, 80);
	ck_assert(!r->forwards[0].udp);
	ck_assert(r->forwards[1].udp);
	ck_assert_uint_eq(r->forwards[1].guest_port, 53);
	ck_assert_int_eq(r->serial, VSL_RECIPE_SERIAL_NONE);
	ck_assert_str_eq(r->cmdline, "");
	vsl_recipe_free(r);
}
END_TEST

START_TEST(unknown_keys_suggest)
{
	int rc;
	struct vsl_recipe *r = parse("vessel: 1\nmachine:\n  name: m\n  memroy: 1G\n"
				     "boot:\n  kernel: k\n  initrd: x\n", NULL, &rc);

	ck_assert_int_eq(rc, VSL_EINVAL);
	ck_assert_uint_eq(vsl_recipe_ndiags(r), 2);
	ck_assert_str_eq(vsl_recipe_diag(r, 0),
			 "t.yaml:4:3: unknown key 'memroy' in machine; did you mean 'memory'?");
	ck_assert(has_diag(r, "t.yaml:7:3: unknown key 'initrd' in boot"));
	vsl_recipe_free(r);
}
END_TEST

START_TEST(version_checks)
{
	int rc;
	struct vsl_recipe *r = parse("vessel: 7\nmachine: {name: m}\n", NULL, &rc);

	ck_assert_int_eq(rc, VSL_EINVAL);
	ck_assert_uint_eq(vsl_recipe_ndiags(r), 1);
	ck_assert(has_diag(r, "t.yaml:1:9: recipe schema version 7 is not supported"));
	ck_assert(has_diag(r, "upgrade vessel"));
	vsl_recipe_free(r);
	r = parse("name: x\n", NULL, &rc);
	ck_assert(has_diag(r, "t.yaml:1:1: the first key of a recipe must be 'vessel: 1'"));
	vsl_recipe_free(r);
	r = parse("- a\n- b\n", NULL, &rc);
	ck_assert(has_diag(r, "a recipe is a mapping"));
	vsl_recipe_free(r);
	r = parse("", NULL, &rc);
	ck_assert(has_diag(r, "empty recipe"));
	vsl_recipe_free(r);
}
END_TEST

START_TEST(variables_precedence_and_taint)
{
	static const char text[] =
		"vessel: 1\n"
		"variables:\n"
		"  greeting: hi\n"
		"  VSL_TEST_FROM_ENV: default\n"
		"  pw: {sensitive: true}\n"
		"machine: {name: \"${greeting}-x\"}\n"
		"boot:\n"
		"  kernel: k\n"
		"  cmdline: \"a=${VSL_TEST_FROM_ENV} b=$${literal}\"\n"
		"  initramfs:\n"
		"    init: |\n"
		"      #!/bin/sh\n"
		"      echo ${greeting}\n"
		"customize:\n"
		"  - root-password: ${pw}\n"
		"  - write: /etc/x\n"
		"    content: \"plain\"\n";
	const char *vars[] = { "greeting=hello", "pw=s3cret" };
	struct vsl_recipe_opts o = { .vars = vars, .nvars = 2, .use_env = true };
	int rc;
	struct vsl_recipe *r;

	setenv("VSL_TEST_FROM_ENV", "env", 1);
	setenv("greeting", "from-env-but-var-wins", 1);
	r = parse(text, &o, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(r->name, "hello-x");
	ck_assert_str_eq(r->cmdline, "a=env b=${literal}");
	ck_assert_str_eq(r->init, "#!/bin/sh\necho hello\n");
	ck_assert_uint_eq(r->nsteps, 2);
	ck_assert(r->steps[0].sensitive);
	ck_assert_str_eq(r->steps[0].arg, "s3cret");
	ck_assert(!r->steps[1].sensitive);
	ck_assert_str_eq(r->vars[0].origin, "--var");
	ck_assert_str_eq(r->vars[1].origin, "environment");
	vsl_recipe_free(r);

	/* without --var: pw has no value; positions point at the reference */
	o.nvars = 0;
	o.use_env = false;
	r = parse(text, &o, &rc);
	ck_assert_int_eq(rc, VSL_EINVAL);
	ck_assert(has_diag(r, "t.yaml:15:20: variable 'pw' has no value"));
	ck_assert_str_eq(r->init, "#!/bin/sh\necho hi\n");
	vsl_recipe_free(r);
	unsetenv("VSL_TEST_FROM_ENV");
	unsetenv("greeting");
}
END_TEST

START_TEST(sensitive_not_in_clear_fields)
{
	int rc;
	struct vsl_recipe *r = parse(
		"vessel: 1\n"
		"variables: {pw: {default: x, sensitive: true}}\n"
		"machine: {name: \"m${pw}\"}\n"
		"boot:\n"
		"  kernel: k\n"
		"  cmdline: \"console=ttyS0 key=${pw}\"\n", NULL, &rc);

	ck_assert_int_eq(rc, VSL_EINVAL);
	ck_assert_uint_eq(vsl_recipe_ndiags(r), 2);
	ck_assert(has_diag(r, "t.yaml:3:17: machine.name: a sensitive variable cannot go here"));
	ck_assert(has_diag(r, "t.yaml:6:12: boot.cmdline: a sensitive variable cannot go here"));
	vsl_recipe_free(r);
}
END_TEST

START_TEST(undefined_variable_position)
{
	int rc;
	struct vsl_recipe *r = parse(
		"vessel: 1\n"
		"variables: {name: x}\n"
		"machine: {name: m}\n"
		"boot:\n"
		"  kernel: k\n"
		"  initramfs:\n"
		"    init: |\n"
		"      #!/bin/sh\n"
		"      echo ${nmae} ${other}\n", NULL, &rc);

	ck_assert_int_eq(rc, VSL_EINVAL);
	ck_assert_uint_eq(vsl_recipe_ndiags(r), 2);
	ck_assert_str_eq(vsl_recipe_diag(r, 0),
			 "t.yaml:9:12: undefined variable 'nmae'; did you mean 'name'?");
	ck_assert(has_diag(r, "t.yaml:9:20: undefined variable 'other'"));
	vsl_recipe_free(r);
}
END_TEST

START_TEST(steps_and_references)
{
	int rc;
	struct vsl_recipe *r = parse(
		"vessel: 1\n"
		"machine: {name: m}\n"
		"boot:\n"
		"  kernel: k\n"
		"  initramfs: {init: x}\n"
		"sources:\n"
		"  - {name: site, package: busybox-static}\n"
		"disks:\n"
		"  - {name: data, size: 400M, partition-table: gpt, filesystem: xfs}\n"
		"customize:\n"
		"  - mkdir: /www\n"
		"    mode: \"0750\"\n"
		"  - copy-in: site\n"
		"    to: /www\n"
		"  - hostname: m\n"
		"    disk: initramfs\n"
		"  - chown: /www\n"
		"    owner: \"33:33\"\n"
		"  - edit: /etc/x\n"
		"    replace: a\n"
		"    with: b\n"
		"  - run: true\n", NULL, &rc);

	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(r->ndisks, 1);
	ck_assert_uint_eq(r->disks[0].size, 400ull << 20);
	ck_assert_int_eq(r->disks[0].ptable, VSL_PTABLE_GPT);
	ck_assert_int_eq(r->disks[0].fs, VSL_FS_XFS);
	ck_assert_str_eq(r->disks[0].format, "qcow2");
	ck_assert_uint_eq(r->nsteps, 6);
	ck_assert_int_eq(r->steps[0].kind, VSL_STEP_MKDIR);
	ck_assert_int_eq(r->steps[0].disk_index, 0);  /* default: the first disk */
	ck_assert(r->steps[0].has_mode);
	ck_assert_uint_eq(r->steps[0].mode, 0750);
	ck_assert_int_eq(r->steps[1].source_index, 0);
	ck_assert_str_eq(r->steps[1].to, "/www");
	ck_assert_int_eq(r->steps[2].disk_index, -1);
	ck_assert_int_eq(r->steps[3].uid, 33);
	ck_assert_int_eq(r->steps[3].gid, 33);
	ck_assert_str_eq(r->steps[4].match, "a");
	ck_assert_int_eq(r->steps[5].kind, VSL_STEP_RUN);
	ck_assert_uint_eq(r->steps[5].loc.line, 22);
	vsl_recipe_free(r);
}
END_TEST

START_TEST(hostile_input)
{
	char *deep = malloc(200 * 3 + 64), *many;
	size_t o = 0;
	int rc;
	struct vsl_recipe *r;

	o += (size_t)sprintf(deep, "vessel: 1\nmachine: ");
	for (int i = 0; i < 200; i++)
		deep[o++] = '[';
	deep[o] = '\0';
	r = parse(deep, NULL, &rc);
	ck_assert_int_eq(rc, VSL_EINVAL);
	ck_assert(has_diag(r, "nested too deeply"));
	vsl_recipe_free(r);
	free(deep);

	/* aliases are refused (a billion laughs needs them) */
	r = parse("vessel: 1\na: &x [1]\nb: [*x, *x]\n", NULL, &rc);
	ck_assert(has_diag(r, "aliases"));
	vsl_recipe_free(r);

	/* hundreds of errors: bounded list, ends with a note */
	many = malloc(600 * 20 + 64);
	o = (size_t)sprintf(many, "vessel: 1\nmachine:\n");
	for (int i = 0; i < 600; i++)
		o += (size_t)sprintf(many + o, "  bad%d: 1\n", i);
	r = parse(many, NULL, &rc);
	ck_assert_int_eq(rc, VSL_EINVAL);
	ck_assert_uint_le(vsl_recipe_ndiags(r), 202);
	ck_assert(has_diag(r, "too many errors"));
	vsl_recipe_free(r);
	free(many);

	/* syntax error position */
	r = parse("vessel: 1\nmachine: {name: m\n", NULL, &rc);
	ck_assert_uint_eq(vsl_recipe_ndiags(r), 1);
	ck_assert(has_diag(r, "YAML syntax error"));
	vsl_recipe_free(r);

	/* NUL inside a scalar */
	r = parse("vessel: 1\nmachine: {name: \"a\\0b\"}\n", NULL, &rc);
	ck_assert_int_eq(rc, VSL_EINVAL);
	vsl_recipe_free(r);
}
END_TEST

/*
 * Mutated recipes (byte flips, truncations, inserted YAML punctuation) must
 * give diagnostics, never a crash; run under ASan by make check.
 */
START_TEST(mutations_never_crash)
{
	static const char base[] =
		"vessel: 1\n"
		"variables:\n  g: {default: hi, sensitive: true}\n"
		"machine:\n  name: m\n  cpus: 2\n  memory: 512M\n"
		"  network: {mode: user, forward: [\"8080:80\"]}\n"
		"boot:\n  kernel: {package: linux-image-amd64}\n"
		"  initramfs:\n    packages: [busybox-static]\n    modules: [ext4]\n"
		"    files:\n      - {path: /etc/motd, content: \"${g}\", mode: \"0644\"}\n"
		"    init: |\n      #!/bin/sh\n      echo ${g} $${x}\n"
		"sources:\n  - {name: s, package: busybox-static}\n"
		"disks:\n  - {name: d, size: 64M, contents: [{source: s, to: /x}]}\n"
		"customize:\n  - copy-in: s\n    to: /y\n  - edit: /etc/motd\n"
		"    replace: a\n    with: b\n  - chown: /x\n    owner: \"1:2\"\n";
	static const char punct[] = ":-[]{}&*!|>'\"%@`#,?\n\t $\\";
	char buf[sizeof(base) + 8];
	uint32_t seed = 12345;

	for (int iter = 0; iter < 3000; iter++) {
		size_t len = sizeof(base) - 1;
		int rc;
		struct vsl_recipe *r;

		memcpy(buf, base, sizeof(base));
		for (int k = 0; k < 1 + iter % 4 && len > 0; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t pos = (seed >> 8) % len;
			seed = seed * 1103515245u + 12345u;
			switch ((seed >> 16) % 4) {
			case 0: buf[pos] = punct[(seed >> 4) % (sizeof(punct) - 1)]; break;
			case 1: buf[pos] = (char)(seed >> 3); break;
			case 2: len = pos; break;
			default: buf[pos] = '$'; break;
			}
		}
		buf[len] = '\0';
		r = parse(buf, NULL, &rc);
		ck_assert(rc == 0 || rc == VSL_EINVAL);
		ck_assert(rc == 0 ? vsl_recipe_ndiags(r) == 0 : vsl_recipe_ndiags(r) > 0);
		vsl_recipe_free(r);
	}
}
END_TEST

int main(void)
{
	const TTest *const tests[] = {
		minimal_defaults, depends_switch, source_paths_checked, machine_fields,
		unknown_keys_suggest, version_checks, variables_precedence_and_taint,
		undefined_variable_position, sensitive_not_in_clear_fields,
		steps_and_references, hostile_input, mutations_never_crash, NULL
	};

	return tu_run_tests("recipe", NULL, NULL, 60, tests);
}
