/*
 * `vessel img`: qemu-img-like disk image tools on the formats/ library.
 *
 *	vessel img info [--json] IMG
 *	vessel img create -f FMT [-o OPTS] [-b BACKING [-F FMT]] IMG [SIZE]
 *	vessel img convert [-f FMT] [-O FMT] [-o OPTS] [-c] [-p] [-m N] IN OUT
 *	vessel img check [-f FMT] IMG
 *	vessel img compare [-f FMT] [-F FMT] [-s] A B
 *	vessel img map [-f FMT] [--json] IMG
 *	vessel img resize [-f FMT] [--shrink] IMG [+|-]SIZE
 *
 * Flags and exit codes follow qemu-img wherever the same thing exists, so
 * scripts can switch between the two; the usage text below is the
 * reference and `vessel img --help` prints it.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vessel/convert.h"
#include "vessel/format.h"

extern const struct vsl_cmd vsl_cmd_img;

#define IMG_MAX_OPTS 64

/* -o values: "a=1,b=2" may repeat; kept as a NULL-terminated array of strdup'd strings. */
struct img_kv {
	char *v[IMG_MAX_OPTS + 1];
	size_t n;
};

static int img_kv_add(struct img_kv *kv, const char *arg)
{
	char *dup = strdup(arg), *save = NULL, *tok;

	if (!dup)
		return cli_failf("img", "out of memory");
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (kv->n == IMG_MAX_OPTS) {
			free(dup);
			return cli_usage(&vsl_cmd_img, "too many -o options");
		}
		kv->v[kv->n] = strdup(tok);
		if (!kv->v[kv->n]) {
			free(dup);
			return cli_failf("img", "out of memory");
		}
		kv->n++;
	}
	free(dup);
	return 0;
}

static void img_kv_free(struct img_kv *kv)
{
	for (size_t i = 0; i < kv->n; i++)
		free(kv->v[i]);
}

static bool img_kv_help(const struct img_kv *kv)
{
	for (size_t i = 0; i < kv->n; i++)
		if (!strcmp(kv->v[i], "help") || !strcmp(kv->v[i], "?"))
			return true;
	return false;
}

static int img_opts_help(const char *fmt)
{
	const struct vsl_format_ops *ops = vsl_format_find(fmt);

	if (!ops)
		return cli_failf("img", "unknown image format '%s'", fmt);
	printf("Supported options for %s:\n", fmt);
	for (size_t i = 0; ops->create_opts && ops->create_opts[i]; i++)
		printf("  %s\n", ops->create_opts[i]);
	if (!ops->create_opts || !ops->create_opts[0])
		printf("  (none)\n");
	return VSL_EXIT_OK;
}

/* ---- info ---- */

static void img_json_value(const char *v)
{
	size_t i;

	for (i = 0; v[i] >= '0' && v[i] <= '9'; i++)
		;
	if (i && !v[i] && i < 19)
		fputs(v, stdout);
	else if (!strcmp(v, "true") || !strcmp(v, "false"))
		fputs(v, stdout);
	else
		cli_json_str(stdout, v);
}

static int img_info(struct vsl_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 }
	};
	const char *fmt = NULL;
	bool json = false;
	struct vsl_image *img;
	uint64_t alloc = 0;
	char info[2048], sz[32], *line, *save = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "f:", lo, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'j': json = true; break;
		case 'U':
			if (strcmp(optarg, "json") && strcmp(optarg, "human"))
				return cli_usage(&vsl_cmd_img, "--output must be json or human");
			json = !strcmp(optarg, "json");
			break;
		default: return cli_usage(&vsl_cmd_img, "info: bad option");
		}
	}
	if (argc - optind != 1)
		return cli_usage(&vsl_cmd_img, "info: expected one IMG");
	if (vsl_image_open(cli->ctx, argv[optind], fmt, VSL_IMAGE_RDONLY, &img) < 0)
		return cli_fail(cli, "img info");
	if (vsl_image_allocated(img, &alloc) < 0 || vsl_image_info(img, info, sizeof(info)) < 0) {
		vsl_image_close(img);
		return cli_fail(cli, "img info");
	}
	if (json) {
		bool first = true;
		printf("{\n    \"filename\": ");
		cli_json_str(stdout, argv[optind]);
		printf(",\n    \"format\": ");
		cli_json_str(stdout, img->ops->name);
		printf(",\n    \"virtual-size\": %" PRIu64 ",\n    \"actual-size\": %" PRIu64,
		       img->size, alloc);
		if (img->backing) {
			printf(",\n    \"full-backing-filename\": ");
			cli_json_str(stdout, img->backing->path);
			printf(",\n    \"backing-format\": ");
			cli_json_str(stdout, img->backing->ops->name);
		}
		printf(",\n    \"format-specific\": {");
		for (line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *colon = strstr(line, ": ");
			if (!colon)
				continue;
			*colon = '\0';
			for (char *p = line; *p; p++)
				if (*p == ' ' || *p == '_')
					*p = '-';
			printf("%s\n        ", first ? "" : ",");
			cli_json_str(stdout, line);
			printf(": ");
			img_json_value(colon + 2);
			first = false;
		}
		printf("%s}\n}\n", first ? "" : "\n    ");
	} else {
		printf("image: %s\nfile format: %s\n", argv[optind], img->ops->name);
		printf("virtual size: %s (%" PRIu64 " bytes)\n",
		       vsl_format_size(img->size, sz, sizeof(sz)), img->size);
		printf("disk size: %s\n", vsl_format_size(alloc, sz, sizeof(sz)));
		if (img->backing)
			printf("backing file chain: %s (%s)\n", img->backing->path,
			       img->backing->ops->name);
		if (info[0]) {
			printf("Format specific information:\n");
			for (line = strtok_r(info, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save)) {
				const char *colon = strstr(line, ": ");
				if (colon && !colon[2])
					continue; /* empty value */
				printf("    %s\n", line);
			}
		}
	}
	vsl_image_close(img);
	return VSL_EXIT_OK;
}

/* ---- create ---- */

static int img_create(struct vsl_cli *cli, int argc, char **argv)
{
	const char *fmt = "raw", *bfile = NULL, *bfmt = NULL;
	struct img_kv kv = { 0 };
	struct vsl_image_opts io = { 0 };
	struct vsl_image *img;
	uint64_t size = 0;
	int c, st = VSL_EXIT_OK;

	while ((c = getopt(argc, argv, "f:o:b:F:qu")) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'o':
			if ((st = img_kv_add(&kv, optarg)))
				goto out;
			break;
		case 'b': bfile = optarg; break;
		case 'F': bfmt = optarg; break;
		case 'q': break;
		case 'u': break; /* unsafe: vessel always opens the backing file anyway */
		default: st = cli_usage(&vsl_cmd_img, "create: bad option"); goto out;
		}
	}
	if (img_kv_help(&kv)) {
		st = img_opts_help(fmt);
		goto out;
	}
	if (argc - optind < 1 || argc - optind > 2 || (argc - optind == 1 && !bfile)) {
		st = cli_usage(&vsl_cmd_img, "create: expected IMG SIZE (SIZE optional with -b)");
		goto out;
	}
	if (argc - optind == 2 && vsl_parse_size(argv[optind + 1], &size) < 0) {
		st = cli_usage(&vsl_cmd_img, "create: bad size '%s'", argv[optind + 1]);
		goto out;
	}
	io = (struct vsl_image_opts){ .backing_file = bfile, .backing_format = bfmt,
				      .kv = (const char *const *)kv.v };
	if (vsl_image_create(cli->ctx, argv[optind], fmt, size, &io, &img) < 0) {
		st = cli_fail(cli, "img create");
		goto out;
	}
	if (vsl_image_flush(img) < 0)
		st = cli_fail(cli, "img create");
	vsl_image_close(img);
out:
	img_kv_free(&kv);
	return st;
}

/* ---- convert ---- */

static int img_convert(struct vsl_cli *cli, int argc, char **argv)
{
	struct vsl_convert_opts o = { .out_fmt = "raw" };
	struct vsl_convert_stats stats;
	struct img_kv kv = { 0 };
	int c, st = VSL_EXIT_OK;
	unsigned long m;
	char *end;

	while ((c = getopt(argc, argv, "f:O:o:cpm:qW")) != -1) {
		switch (c) {
		case 'f': o.in_fmt = optarg; break;
		case 'O': o.out_fmt = optarg; break;
		case 'o':
			if ((st = img_kv_add(&kv, optarg)))
				goto out;
			break;
		case 'c': o.compress = true; break;
		case 'p': cli_progress_init(cli, true); break;
		case 'm':
			m = strtoul(optarg, &end, 10);
			if (*end || m < 1 || m > 64) {
				st = cli_usage(&vsl_cmd_img, "convert: -m takes 1..64 threads");
				goto out;
			}
			o.threads = (unsigned)m;
			break;
		case 'q': cli->progress = (struct vsl_progress){ 0 }; break;
		case 'W': break; /* out-of-order writes: vessel always writes in order */
		default: st = cli_usage(&vsl_cmd_img, "convert: bad option"); goto out;
		}
	}
	if (img_kv_help(&kv)) {
		st = img_opts_help(o.out_fmt);
		goto out;
	}
	if (argc - optind != 2) {
		st = cli_usage(&vsl_cmd_img, "convert: expected IN OUT");
		goto out;
	}
	o.kv = (const char *const *)kv.v;
	o.progress = &cli->progress;
	if (vsl_convert(cli->ctx, argv[optind], argv[optind + 1], &o, &stats) < 0) {
		cli_progress_done(cli);
		st = cli_fail(cli, "img convert");
		goto out;
	}
	vsl_info(cli->ctx, "converted: %" PRIu64 " bytes read, %" PRIu64 " written, %" PRIu64
		 " skipped as holes", stats.bytes_read, stats.bytes_written, stats.bytes_skipped);
out:
	img_kv_free(&kv);
	return st;
}

/* ---- check ---- */

static int img_check(struct vsl_cli *cli, int argc, char **argv)
{
	const char *fmt = NULL;
	struct vsl_check_report rep;
	struct vsl_image *img;
	int c, r;

	while ((c = getopt(argc, argv, "f:q")) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'q': break;
		default: return cli_usage(&vsl_cmd_img, "check: bad option");
		}
	}
	if (argc - optind != 1)
		return cli_usage(&vsl_cmd_img, "check: expected one IMG");
	if (vsl_image_open(cli->ctx, argv[optind], fmt, VSL_IMAGE_RDONLY | VSL_IMAGE_NO_BACKING,
			   &img) < 0)
		return cli_fail(cli, "img check");
	r = vsl_image_check(img, &rep);
	if (r == VSL_ENOTSUP) {
		printf("This image format (%s) has no metadata to check.\n", img->ops->name);
		vsl_image_close(img);
		return VSL_EXIT_OK;
	}
	vsl_image_close(img);
	if (r < 0)
		return cli_fail(cli, "img check");
	if (!rep.corruptions && !rep.leaks)
		printf("No errors were found on the image.\n");
	if (rep.corruptions)
		printf("\n%" PRIu64 " errors were found on the image.\n"
		       "Data may be corrupted, or further writes to the image may corrupt it.\n"
		       "First: %s\n", rep.corruptions, rep.first_problem);
	if (rep.leaks)
		printf("\n%" PRIu64 " leaked clusters were found on the image.\n"
		       "This means waste of disk space, but no harm to data.\n", rep.leaks);
	if (rep.total_clusters)
		printf("%" PRIu64 "/%" PRIu64 " = %.2f%% allocated\n", rep.allocated_clusters,
		       rep.total_clusters, 100.0 * (double)rep.allocated_clusters /
		       (double)rep.total_clusters);
	return rep.corruptions ? 2 : rep.leaks ? 3 : 0;
}

/* ---- compare ---- */

#define CMP_CHUNK (4u << 20)

/* Is [off, off+len) of img all zero? Sets *diff to the first non-zero offset. */
static int img_cmp_zero(struct vsl_image *img, uint8_t *buf, uint64_t off, uint64_t len,
			uint64_t *diff)
{
	*diff = UINT64_MAX;
	while (len) {
		uint64_t n;
		int flags, r = vsl_image_block_status(img, off, len, &n, &flags);
		if (r < 0)
			return r;
		if ((flags & VSL_BLOCK_DATA) && !(flags & VSL_BLOCK_ZERO)) {
			for (uint64_t p = 0; p < n;) {
				size_t k = (size_t)VSL_MIN(n - p, CMP_CHUNK);
				r = vsl_image_read(img, off + p, buf, k);
				if (r < 0)
					return r;
				if (!vsl_buf_is_zero(buf, k)) {
					for (size_t i = 0; i < k; i++)
						if (buf[i]) {
							*diff = off + p + i;
							return 0;
						}
				}
				p += k;
			}
		}
		off += n;
		len -= n;
	}
	return 0;
}

static int img_compare(struct vsl_cli *cli, int argc, char **argv)
{
	const char *fa = NULL, *fb = NULL;
	struct vsl_image *a = NULL, *b = NULL;
	uint8_t *ba = NULL, *bb = NULL;
	uint64_t off = 0, common, diff = UINT64_MAX;
	bool strict = false;
	int c, r = 0, st;

	while ((c = getopt(argc, argv, "f:F:sqp")) != -1) {
		switch (c) {
		case 'f': fa = optarg; break;
		case 'F': fb = optarg; break;
		case 's': strict = true; break;
		case 'q': case 'p': break;
		default: return cli_usage(&vsl_cmd_img, "compare: bad option");
		}
	}
	if (argc - optind != 2)
		return cli_usage(&vsl_cmd_img, "compare: expected A B");
	if (vsl_image_open(cli->ctx, argv[optind], fa, VSL_IMAGE_RDONLY, &a) < 0 ||
	    vsl_image_open(cli->ctx, argv[optind + 1], fb, VSL_IMAGE_RDONLY, &b) < 0) {
		cli_fail(cli, "img compare");
		st = 2;
		goto out;
	}
	ba = malloc(CMP_CHUNK);
	bb = malloc(CMP_CHUNK);
	if (!ba || !bb) {
		cli_failf("img compare", "out of memory");
		st = 3;
		goto out;
	}
	if (a->size != b->size) {
		if (strict) {
			printf("Strict mode: Image size mismatch!\n");
			st = 1;
			goto out;
		}
		fprintf(stderr, "Warning: Image size mismatch!\n");
	}
	common = VSL_MIN(a->size, b->size);
	while (off < common && diff == UINT64_MAX) {
		uint64_t na, nb, n;
		int fla, flb;

		r = vsl_image_block_status(a, off, common - off, &na, &fla);
		if (r == 0)
			r = vsl_image_block_status(b, off, common - off, &nb, &flb);
		if (r < 0)
			break;
		n = VSL_MIN(VSL_MIN(na, nb), CMP_CHUNK);
		bool za = !(fla & VSL_BLOCK_DATA) || (fla & VSL_BLOCK_ZERO);
		bool zb = !(flb & VSL_BLOCK_DATA) || (flb & VSL_BLOCK_ZERO);
		if (za && zb) {
			off += VSL_MIN(na, nb);
			continue;
		}
		if (za || zb) {
			r = img_cmp_zero(za ? b : a, ba, off, n, &diff);
		} else {
			r = vsl_image_read(a, off, ba, n);
			if (r == 0)
				r = vsl_image_read(b, off, bb, n);
			if (r == 0 && memcmp(ba, bb, n))
				for (size_t i = 0; i < n; i++)
					if (ba[i] != bb[i]) {
						diff = off + i;
						break;
					}
		}
		if (r < 0)
			break;
		off += n;
	}
	if (r == 0 && diff == UINT64_MAX && a->size != b->size) {
		struct vsl_image *big = a->size > b->size ? a : b;
		r = img_cmp_zero(big, ba, common, big->size - common, &diff);
	}
	if (r < 0) {
		cli_fail(cli, "img compare");
		st = 3;
		goto out;
	}
	if (diff != UINT64_MAX) {
		printf("Content mismatch at offset %" PRIu64 "!\n", diff);
		st = 1;
	} else {
		printf("Images are identical.\n");
		st = 0;
	}
out:
	free(ba);
	free(bb);
	vsl_image_close(a);
	vsl_image_close(b);
	return st;
}

/* ---- map ---- */

struct img_extent {
	uint64_t start, len, host;
	int flags;
	bool valid;
};

static void img_map_emit(const struct img_extent *e, bool json, bool *first, const char *file)
{
	if (!e->valid)
		return;
	if (json) {
		printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": %d, "
		       "\"present\": %s, \"zero\": %s, \"data\": %s",
		       *first ? "[" : ",\n", e->start, e->len,
		       (e->flags & VSL_BLOCK_BACKING) ? 1 : 0,
		       (e->flags & (VSL_BLOCK_DATA | VSL_BLOCK_ZERO)) ? "true" : "false",
		       (e->flags & VSL_BLOCK_ZERO) ? "true" : "false",
		       (e->flags & VSL_BLOCK_DATA) ? "true" : "false");
		if (e->host != VSL_IMAGE_NO_HOST)
			printf(", \"offset\": %" PRIu64, e->host);
		printf("}");
	} else if ((e->flags & VSL_BLOCK_DATA) && !(e->flags & VSL_BLOCK_ZERO)) {
		if (*first)
			printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
		printf("0x%-14" PRIx64 "0x%-14" PRIx64, e->start, e->len);
		if (e->host != VSL_IMAGE_NO_HOST)
			printf("0x%-14" PRIx64 "%s\n", e->host,
			       (e->flags & VSL_BLOCK_BACKING) ? "(backing file)" : file);
		else
			printf("%-16s%s\n", "-", (e->flags & VSL_BLOCK_BACKING) ? "(backing file)" : file);
	} else {
		return;
	}
	*first = false;
}

static int img_map(struct vsl_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 }
	};
	const char *fmt = NULL;
	bool json = false, first = true;
	struct vsl_image *img;
	struct img_extent cur = { 0 };
	uint64_t off = 0;
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "f:", lo, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'j': json = true; break;
		case 'U':
			if (strcmp(optarg, "json") && strcmp(optarg, "human"))
				return cli_usage(&vsl_cmd_img, "--output must be json or human");
			json = !strcmp(optarg, "json");
			break;
		default: return cli_usage(&vsl_cmd_img, "map: bad option");
		}
	}
	if (argc - optind != 1)
		return cli_usage(&vsl_cmd_img, "map: expected one IMG");
	if (vsl_image_open(cli->ctx, argv[optind], fmt, VSL_IMAGE_RDONLY, &img) < 0)
		return cli_fail(cli, "img map");
	while (off < img->size && r == 0) {
		uint64_t n, hn, host;
		int flags;

		r = vsl_image_block_status(img, off, img->size - off, &n, &flags);
		if (r < 0)
			break;
		host = VSL_IMAGE_NO_HOST;
		hn = n;
		if ((flags & VSL_BLOCK_DATA) && !(flags & VSL_BLOCK_BACKING)) {
			r = vsl_image_host_offset(img, off, n, &hn, &host);
			if (r < 0)
				break;
			hn = VSL_MIN(hn, n);
		}
		/* merge with the previous extent when it continues it exactly */
		if (cur.valid && cur.flags == flags && cur.start + cur.len == off &&
		    ((cur.host == VSL_IMAGE_NO_HOST && host == VSL_IMAGE_NO_HOST) ||
		     (cur.host != VSL_IMAGE_NO_HOST && host == cur.host + cur.len))) {
			cur.len += hn;
		} else {
			img_map_emit(&cur, json, &first, argv[optind]);
			cur = (struct img_extent){ off, hn, host, flags, true };
		}
		off += hn;
	}
	if (r == 0) {
		img_map_emit(&cur, json, &first, argv[optind]);
		if (json)
			printf("%s]\n", first ? "[" : "");
	}
	vsl_image_close(img);
	return r < 0 ? cli_fail(cli, "img map") : VSL_EXIT_OK;
}

/* ---- resize ---- */

static int img_resize(struct vsl_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "shrink", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char *fmt = NULL, *arg;
	bool shrink = false;
	struct vsl_image *img;
	uint64_t size, delta;
	int c, r;

	while ((c = getopt_long(argc, argv, "f:q", lo, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 's': shrink = true; break;
		case 'q': break;
		default: return cli_usage(&vsl_cmd_img, "resize: bad option");
		}
	}
	if (argc - optind != 2)
		return cli_usage(&vsl_cmd_img, "resize: expected IMG SIZE");
	arg = argv[optind + 1];
	if (vsl_parse_size(arg + (*arg == '+' || *arg == '-'), &delta) < 0)
		return cli_usage(&vsl_cmd_img, "resize: bad size '%s'", arg);
	if (vsl_image_open(cli->ctx, argv[optind], fmt, VSL_IMAGE_RDWR, &img) < 0)
		return cli_fail(cli, "img resize");
	if (*arg == '+')
		size = img->size + delta;
	else if (*arg == '-')
		size = delta > img->size ? 0 : img->size - delta;
	else
		size = delta;
	if (size < img->size && !shrink) {
		vsl_image_close(img);
		return cli_failf("img resize", "use --shrink to shrink an image (data beyond "
				 "the new size is lost)");
	}
	r = vsl_image_resize(img, size);
	if (r == 0)
		r = vsl_image_flush(img);
	if (r < 0) {
		cli_fail(cli, "img resize");
		vsl_image_close(img);
		return VSL_EXIT_FAIL;
	}
	vsl_image_close(img);
	printf("Image resized.\n");
	return VSL_EXIT_OK;
}

/* ---- dispatch ---- */

static const struct {
	const char *name;
	int (*fn)(struct vsl_cli *cli, int argc, char **argv);
} img_subs[] = {
	{ "info", img_info },     { "create", img_create }, { "convert", img_convert },
	{ "check", img_check },   { "compare", img_compare }, { "map", img_map },
	{ "resize", img_resize },
};

static int img_run(struct vsl_cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(&vsl_cmd_img, "missing subcommand");
	for (size_t i = 0; i < VSL_ARRAY_SIZE(img_subs); i++)
		if (!strcmp(argv[1], img_subs[i].name)) {
			optind = 0; /* restart getopt on the subcommand's arguments */
			return img_subs[i].fn(cli, argc - 1, argv + 1);
		}
	return cli_usage(&vsl_cmd_img, "unknown subcommand '%s'", argv[1]);
}

const struct vsl_cmd vsl_cmd_img = {
	.name = "img",
	.run = img_run,
	.summary = "disk image tools: info, create, convert, check, compare, map, resize",
	.usage =
	"usage: vessel img SUBCOMMAND [OPTIONS] ...\n"
	"\n"
	"qemu-img-like tools for disk images. Formats are named as qemu-img names them:\n"
	"raw, qcow2, vmdk, vpc (VHD). The format of an input is probed unless -f is given.\n"
	"\n"
	"  info [-f FMT] [--json|--output=json] IMG\n"
	"      Virtual size, allocated size, backing file and format details.\n"
	"\n"
	"  create [-f FMT] [-o OPTS] [-b BACKING [-F BACKING_FMT]] IMG [SIZE]\n"
	"      Create an image (FMT defaults to raw). SIZE takes K, M, G, T suffixes\n"
	"      (binary); it may be left out with -b (the backing file's size is used).\n"
	"      -o key=value[,key=value...] (repeatable; '-o help' lists the keys):\n"
	"        qcow2: cluster_size (512..2M, default 64K), compat (1.1 or 0.10),\n"
	"               refcount_bits (1..64, default 16), backing_file, backing_fmt,\n"
	"               compression_level (1..12, default 2; vessel's own: libdeflate's\n"
	"               level 2 matches the ratio of qemu-img's zlib level 6)\n"
	"        vmdk:  subformat=monolithicSparse|streamOptimized|... (see the vmdk docs)\n"
	"\n"
	"  convert [-f FMT] [-O FMT] [-o OPTS] [-c] [-p] [-m N] IN OUT\n"
	"      Copy IN into a new image OUT of format -O (default raw), skipping holes\n"
	"      and zero blocks so OUT stays sparse; the backing chain of IN is flattened.\n"
	"      -c compresses (qcow2, vmdk streamOptimized). -m N sets the worker\n"
	"      threads (default: all CPUs): they read IN ahead (at least 2) and\n"
	"      compress with -c. -p shows progress. OUT appears only when complete: it is\n"
	"      written as OUT.tmp-XXXXXX and renamed (removed on failure).\n"
	"\n"
	"  check [-f FMT] IMG\n"
	"      Consistency check of the image's metadata, like qemu-img check.\n"
	"      Exit status: 0 no errors, 1 the check could not run, 2 corruptions\n"
	"      found, 3 only leaked clusters found (no data at risk).\n"
	"\n"
	"  compare [-f FMT] [-F FMT] [-s] A B\n"
	"      Compare guest-visible contents. Images of different sizes compare equal\n"
	"      when the extra part is all zeroes, unless -s (strict).\n"
	"      Exit status: 0 identical, 1 different (the first differing offset is\n"
	"      printed), 2 usage error or an image cannot be opened, 3 read error.\n"
	"\n"
	"  map [-f FMT] [--json|--output=json] IMG\n"
	"      Allocated extents: offset, length, host offset (data only; --json lists\n"
	"      every extent with its data/zero flags, as qemu-img map does).\n"
	"\n"
	"  resize [-f FMT] [--shrink] IMG [+|-]SIZE\n"
	"      Grow (or, with --shrink, shrink where the format allows) an image.\n"
	"\n"
	"Exit status (unless stated above): 0 success, 1 failure, 2 usage error.\n"
	"Environment: VESSEL_PROGRESS=1 draws the progress bar even when stderr is not\n"
	"a terminal.\n",
};
