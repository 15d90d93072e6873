/*
 * vessel-cpudiff: run random instruction sequences and guest programs under
 * KVM (the host CPU: the oracle) and under vessel's CPU, and report every
 * difference in the final state. See diff.h for the pieces and
 * tests/guest/README.md for the guest programs.
 *
 *	vessel-cpudiff -n 1000 -s 42                  # 1000 sequences, seeds 42..1041
 *	vessel-cpudiff -c shift,muldiv -l 40 -n 500    # only these classes
 *	vessel-cpudiff -t kvm -n 1000                  # validate the rig: KVM vs KVM
 *	vessel-cpudiff -g build/dbg/tests/guest/pf.bin # a guest program
 *
 * Exit status: 0 all passed, 1 some failed, 2 usage error, 77 /dev/kvm unusable.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <Zydis/Zydis.h>

#include "tests/diff/diff.h"

static const char usage[] =
	"usage: vessel-cpudiff [OPTIONS]\n"
	"Differential test of vessel's x86-64 CPU against the host CPU via /dev/kvm.\n"
	"\n"
	"  -n, --count N        random sequences to run (default 100; 0 with -g)\n"
	"  -s, --seed S         seed of the first sequence; sequence i uses S+i (default 1)\n"
	"  -l, --len L          instructions per sequence, not counting setup (default 20)\n"
	"  -c, --classes LIST   classes to draw from: comma-separated names, 'all',\n"
	"                       '-name' removes one (default all); see --list-classes\n"
	"      --cpl 0|3|any    privilege level of the sequences (default any: CPL 3 three\n"
	"                       times out of four; SSE, x87, MMX only run at CPL 3 and\n"
	"                       sys only at CPL 0, see tests/guest/README.md)\n"
	"  -t, --target T       vessel (default) or kvm (runs KVM against itself to\n"
	"                       validate the rig)\n"
	"  -e, --engine E       vessel engine: interp (default) or bt\n"
	"  -g, --guest FILE     run a flat guest program (repeatable; see tests/guest)\n"
	"      --repro DIR      write a reproducer (command, code, diff) per failure\n"
	"      --max-print N    print details of the first N failures (default 5)\n"
	"      --ignore-rf      do not compare RF in the RFLAGS image pushed by an\n"
	"                       exception (hardware sets it for faults)\n"
	"  -p, --print          print the disassembly of every test (and the port\n"
	"                       writes and early exceptions of the KVM run)\n"
	"      --gen-only       only generate: check that every sequence encodes and\n"
	"                       decodes back (no KVM needed; optional instructions\n"
	"                       only with --features)\n"
	"      --features LIST  optional features to use (cmpxchg16b,popcnt,mm or none;\n"
	"                       mm: MXCSR.MM misaligned SSE) instead of those both\n"
	"                       CPUs offer (CPUID, MXCSR_MASK)\n"
	"      --list-classes   print the class names and exit\n"
	"  -q, --quiet          print only the summary line\n"
	"  -h, --help           this text\n"
	"\n"
	"Prints \"N passed, N failed\" at the end. Exit 0 if all passed, 1 if some\n"
	"failed, 2 on a usage error, 77 if /dev/kvm is unusable (reason printed).\n";

struct main_opts {
	unsigned long count;
	uint64_t seed;
	struct vsl_diff_gen_opts gen;
	bool target_kvm;
	int engine;
	const char **guests;
	int nguests;
	const char *repro;
	unsigned max_print;
	bool print, gen_only, quiet, features_set;
	unsigned cmp_flags;
	char classes_arg[256];
};

struct main_run {
	struct main_opts *o;
	struct vsl_diff_kvm *kvm, *kvm2;
	struct vsl_diff_vessel *vsl;
	unsigned long passed, failed;
	unsigned printed;
	unsigned long fail_by_class[DIFF_C_COUNT], run_by_class[DIFF_C_COUNT];
	unsigned long culprit_by_class[256];
	long culprit;           /* of the failure being reported, or -1 */
	unsigned long ended_normally, ended_by[32], ended_other;
};

static void main_classes(FILE *out, uint32_t mask)
{
	int i, first = 1;

	for (i = 0; i < DIFF_C_COUNT; i++)
		if (mask & (1u << i)) {
			fprintf(out, "%s%s", first ? "" : ",", vsl_diff_class_name(i));
			first = 0;
		}
}

static void main_report(struct main_run *mr, const struct vsl_diff_test *t,
			const struct vsl_diff_result *a, const struct vsl_diff_result *b,
			const char *nb, FILE *out)
{
	fprintf(out, "FAIL %s (cpl %d; classes ", t->name, t->cpl);
	main_classes(out, t->classes);
	fprintf(out, ")\n");
	if (t->insn)
		fprintf(out, "  reproduce: vessel-cpudiff -s %" PRIu64 " -n 1 -l %u -c %s --cpl %d%s%s%s%s%s%s -p\n",
			t->seed, mr->o->gen.len, mr->o->classes_arg, t->cpl,
			mr->o->gen.features ? " --features " : " --features none",
			(mr->o->gen.features & DIFF_F_CX16) ? "cmpxchg16b," : "",
			(mr->o->gen.features & DIFF_F_POPCNT) ? "popcnt," : "",
			(mr->o->gen.features & DIFF_F_MM) ? "mm" : "",
			mr->o->target_kvm ? " -t kvm" : mr->o->engine ? " -e bt" : "",
			(mr->o->cmp_flags & DIFF_CMP_IGNORE_RF) ? " --ignore-rf" : "");
	vsl_diff_disasm(t, out);
	if (a->exit == DIFF_EXIT_ERROR)
		fprintf(out, "  kvm error: %s\n", a->msg);
	if (b->exit == DIFF_EXIT_ERROR)
		fprintf(out, "  %s error: %s\n", nb, b->msg);
	fprintf(out, "  %-7s %-20s %-20s\n", "", "kvm", nb);
	vsl_diff_compare(t, a, b, mr->o->cmp_flags, out);
	{
		uint64_t cnt, vec, err, rip;

		memcpy(&cnt, a->ram + DIFF_REC + DIFF_REC_COUNT, 8);
		memcpy(&vec, a->ram + DIFF_REC + DIFF_REC_VECTOR, 8);
		memcpy(&err, a->ram + DIFF_REC + DIFF_REC_ERROR, 8);
		memcpy(&rip, a->ram + DIFF_REC + DIFF_REC_RIP, 8);
		if (cnt)
			fprintf(out, "  kvm took exception %" PRIu64 " (error %#" PRIx64 ") at %#" PRIx64 "\n",
				vec, err, rip);
	}
}

static void main_write_repro(struct main_run *mr, const struct vsl_diff_test *t,
			     const struct vsl_diff_result *a, const struct vsl_diff_result *b,
			     const char *nb)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s", mr->o->repro);
	for (char *sl = strchr(path + 1, '/');; sl = strchr(sl + 1, '/')) { /* mkdir -p */
		if (sl)
			*sl = 0;
		mkdir(path, 0777);
		if (!sl)
			break;
		*sl = '/';
	}
	if (t->insn)
		snprintf(path, sizeof(path), "%s/cpudiff-%" PRIu64 ".txt", mr->o->repro, t->seed);
	else
		snprintf(path, sizeof(path), "%s/cpudiff-%s.txt", mr->o->repro,
			 strrchr(t->name, '/') ? strrchr(t->name, '/') + 1 : t->name);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "vessel-cpudiff: %s: %s\n", path, strerror(errno));
		return;
	}
	main_report(mr, t, a, b, nb, f);
	if (mr->culprit >= 0) {
		ZydisDisassembledInstruction d;
		const struct vsl_diff_insn *in = &t->insn[mr->culprit];

		if (ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LONG_64, DIFF_CODE + in->off,
							 t->ram + DIFF_CODE + in->off, in->len, &d)))
			fprintf(f, "  first difference after %#x: %s (%s)\n", DIFF_CODE + in->off,
				d.text, vsl_diff_class_name(in->cls));
	}
	fclose(f);
	/* the raw code blob next to it, for objdump -b binary -m i386:x86-64 -D */
	if (t->insn) {
		snprintf(path, sizeof(path), "%s/cpudiff-%" PRIu64 ".bin", mr->o->repro, t->seed);
		f = fopen(path, "wb");
		if (f) {
			fwrite(t->ram + DIFF_CODE, 1, t->code_len, f);
			fclose(f);
		}
	}
}

/*
 * The optional instructions both sides advertise: run CPUID leaf 1 at CPL 0
 * on KVM and on the target, and keep the feature bits both report.
 */
static uint32_t main_probe(struct main_run *mr)
{
	static const uint8_t code[] = {
		0xb8, 0x01, 0, 0, 0,   /* mov eax, 1 */
		0x31, 0xc9,            /* xor ecx, ecx */
		0x0f, 0xa2,            /* cpuid */
		0x0f, 0xae, 0x04, 0x25, 0x00, 0x20, 0x20, 0x00, /* fxsave [0x202000] */
		0xf4,                  /* hlt */
	};
	uint32_t mask_a, mask_b = ~0u;
	static struct vsl_diff_result a, b;
	struct vsl_diff_test t;
	uint32_t ecx, f = 0;

	assert(DIFF_FXSAVE == 0x202000); /* the FXSAVE address above */
	if (vsl_diff_test_init(&t) < 0)
		return 0;
	memcpy(t.ram + DIFF_CODE, code, sizeof(code));
	t.code_len = sizeof(code);
	vsl_diff_image_prologue(&t);
	if (vsl_diff_kvm_run(mr->kvm, &t, &a) < 0 || a.exit != DIFF_EXIT_HLT)
		goto out;
	ecx = (uint32_t)a.st.gpr[1];
	memcpy(&mask_a, a.ram + DIFF_FXSAVE + 28, 4);
	if (!mr->o->target_kvm) {
		if (vsl_diff_vessel_run(mr->vsl, &t, &b) < 0 || b.exit != DIFF_EXIT_HLT)
			goto out;
		ecx &= (uint32_t)b.st.gpr[1];
		memcpy(&mask_b, b.ram + DIFF_FXSAVE + 28, 4);
	}
	if (mask_a & mask_b & 0x20000)
		f |= DIFF_F_MM;
	if (ecx & (1u << 13))
		f |= DIFF_F_CX16;
	if (ecx & (1u << 23))
		f |= DIFF_F_POPCNT;
out:
	vsl_diff_test_fini(&t);
	return f;
}

/* A guest program must halt without writing a failure code. */
static const char *main_guest_ok(const struct vsl_diff_result *r)
{
	static char why[128];
	unsigned i;
	bool done = false;

	for (i = 0; i < r->nio && i < DIFF_MAX_IO; i++) {
		if (r->io[i].port == DIFF_PORT_FAIL && r->io[i].val) {
			if (i > 0 && r->io[i - 1].port == DIFF_PORT_LOG)
				snprintf(why, sizeof(why), "check %#x failed (actual value %#x)",
					 r->io[i].val, r->io[i - 1].val);
			else
				snprintf(why, sizeof(why), "check %#x failed", r->io[i].val);
			return why;
		}
		if (r->io[i].port == DIFF_PORT_LOG && r->io[i].val == 0x600d)
			done = true;
	}
	if (r->exit != DIFF_EXIT_HLT)
		return "did not halt";
	return done ? NULL : "did not report completion (0x600d on port 0x501)";
}

/*
 * For a failing random sequence, find the shortest prefix that already
 * differs: instruction k is replaced by HLT (and so is everything after
 * it, so that forward branches land on HLT too) for k = 1, 2, ... The
 * instruction before the first differing prefix is the culprit. Returns its
 * index, or -1 if no prefix differs (the difference needs the whole run).
 */
static long main_culprit(struct main_run *mr, const struct vsl_diff_test *t)
{
	static struct vsl_diff_result a, b;
	struct vsl_diff_test p;
	size_t k;

	if (!t->insn || t->ninsn < 2)
		return -1;
	p = *t;
	p.ram = malloc(DIFF_RAM_SIZE);
	p.insn = malloc(t->ninsn * sizeof(*p.insn));
	if (!p.ram || !p.insn)
		goto out;
	for (k = 1; k < t->ninsn; k++) {
		uint32_t undef = 0;
		size_t j;
		int d;

		memcpy(p.ram, t->ram, DIFF_RAM_SIZE);
		memcpy(p.insn, t->insn, k * sizeof(*p.insn));
		memset(p.ram + DIFF_CODE + t->insn[k].off, 0xf4, t->code_len - t->insn[k].off);
		for (j = 0; j < k; j++)
			undef |= t->insn[j].undef_after;
		p.insn[k] = (struct vsl_diff_insn){ .off = t->insn[k].off, .len = 1, .cls = 255,
						    .undef_after = undef };
		p.ninsn = k + 1;
		p.code_len = t->insn[k].off + 1;
		vsl_diff_kvm_run(mr->kvm, &p, &a);
		if (mr->o->target_kvm)
			vsl_diff_kvm_run(mr->kvm2, &p, &b);
		else
			vsl_diff_vessel_run(mr->vsl, &p, &b);
		d = vsl_diff_compare(&p, &a, &b, mr->o->cmp_flags, NULL);
		if (d) {
			free(p.ram);
			free(p.insn);
			return (long)k - 1;
		}
	}
out:
	free(p.ram);
	free(p.insn);
	return -1;
}

static int main_one(struct main_run *mr, struct vsl_diff_test *t)
{
	static struct vsl_diff_result a, b;
	const char *nb = mr->o->target_kvm ? "kvm#2" : "vessel";
	long culprit;
	bool fail, detailed;
	int i;

	if (mr->o->print) {
		printf("== %s (cpl %d)\n", t->name, t->cpl);
		vsl_diff_disasm(t, stdout);
	}
	vsl_diff_kvm_run(mr->kvm, t, &a);
	if (mr->o->print)
		for (i = 0; i < (int)a.nio && i < DIFF_MAX_IO; i++)
			printf("  kvm port write %#x = %#x\n", a.io[i].port, a.io[i].val);
	if (mr->o->target_kvm) {
		/* a second VM, so the comparison sees two separate RAM copies */
		vsl_diff_kvm_run(mr->kvm2, t, &b);
	} else {
		vsl_diff_vessel_run(mr->vsl, t, &b);
	}
	fail = vsl_diff_compare(t, &a, &b, mr->o->cmp_flags, NULL) != 0 || a.exit == DIFF_EXIT_ERROR;
	if (t->insn && a.exit == DIFF_EXIT_HLT) { /* how the reference run ended */
		uint64_t cnt, vec, rip;

		memcpy(&cnt, a.ram + DIFF_REC + DIFF_REC_COUNT, 8);
		memcpy(&vec, a.ram + DIFF_REC + DIFF_REC_VECTOR, 8);
		memcpy(&rip, a.ram + DIFF_REC + DIFF_REC_RIP, 8);
		if (!cnt || (vec == 13 && rip == DIFF_CODE + t->code_len - 1))
			mr->ended_normally++;
		else if (vec < 32) {
			mr->ended_by[vec]++;
			if (mr->o->print) {
				ZydisDisassembledInstruction d;
				uint64_t off = rip - DIFF_CODE;

				if (rip >= DIFF_CODE && off < t->code_len &&
				    ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LONG_64, rip,
								     t->ram + rip, t->code_len - off, &d)))
					printf("  ended early: vector %d at %#llx: %s\n", (int)vec,
					       (unsigned long long)rip, d.text);
				else
					printf("  ended early: vector %d at %#llx\n", (int)vec,
					       (unsigned long long)rip);
			}
		}
		else
			mr->ended_other++;
	}
	if (!t->insn) {
		const char *why = main_guest_ok(&a);

		if (why) {
			printf("FAIL %s under kvm: %s (the program or the rig is wrong)\n", t->name, why);
			fail = true;
		}
		why = main_guest_ok(&b);
		if (why) {
			printf("FAIL %s under %s: %s\n", t->name, nb, why);
			fail = true;
		}
	}
	for (i = 0; i < DIFF_C_COUNT; i++)
		if (t->classes & (1u << i)) {
			mr->run_by_class[i]++;
			if (fail)
				mr->fail_by_class[i]++;
		}
	if (!fail) {
		mr->passed++;
		if (!mr->o->quiet && mr->o->print)
			printf("ok %s\n", t->name);
		return 0;
	}
	mr->failed++;
	/* the prefix search reruns the test up to its length: only when shown */
	culprit = (!mr->o->quiet || mr->o->repro) ? main_culprit(mr, t) : -1;
	mr->culprit = culprit;
	if (culprit >= 0)
		mr->culprit_by_class[t->insn[culprit].cls]++;
	detailed = !mr->o->quiet && mr->printed < mr->o->max_print;
	if (detailed) {
		mr->printed++;
		main_report(mr, t, &a, &b, nb, stdout);
	} else if (!mr->o->quiet) {
		printf("FAIL %s", t->name);
	}
	if (!mr->o->quiet && culprit >= 0) {
		ZydisDisassembledInstruction d;
		const struct vsl_diff_insn *in = &t->insn[culprit];

		if (ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LONG_64, DIFF_CODE + in->off,
							 t->ram + DIFF_CODE + in->off, in->len, &d)))
			printf("%sfirst difference after %#x: %s (%s)\n", detailed ? "  " : ": ",
			       DIFF_CODE + in->off, d.text, vsl_diff_class_name(in->cls));
	} else if (!mr->o->quiet && !detailed) {
		printf("\n");
	}
	if (mr->o->repro)
		main_write_repro(mr, t, &a, &b, nb);
	return 1;
}

static int main_parse(int argc, char **argv, struct main_opts *o)
{
	static const struct option lo[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "len", required_argument, NULL, 'l' },
		{ "classes", required_argument, NULL, 'c' },
		{ "cpl", required_argument, NULL, 'C' },
		{ "target", required_argument, NULL, 't' },
		{ "engine", required_argument, NULL, 'e' },
		{ "guest", required_argument, NULL, 'g' },
		{ "repro", required_argument, NULL, 'R' },
		{ "max-print", required_argument, NULL, 'M' },
		{ "print", no_argument, NULL, 'p' },
		{ "ignore-rf", no_argument, NULL, 'I' },
		{ "features", required_argument, NULL, 'F' },
		{ "gen-only", no_argument, NULL, 'G' },
		{ "list-classes", no_argument, NULL, 'L' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool count_set = false;
	char *end;
	int c, i;

	*o = (struct main_opts){ .count = 100, .seed = 1, .max_print = 5,
				 .gen = { .classes = DIFF_C_ALL, .len = 20, .cpl = -1 } };
	strcpy(o->classes_arg, "all");
	o->guests = calloc((size_t)argc + 1, sizeof(*o->guests));
	if (!o->guests)
		return 1;
	while ((c = getopt_long(argc, argv, "n:s:l:c:t:e:g:pqh", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->count = strtoul(optarg, &end, 0);
			if (*end || !*optarg)
				goto bad;
			count_set = true;
			break;
		case 's':
			errno = 0;
			o->seed = strtoull(optarg, &end, 0);
			if (*end || !*optarg || errno)
				goto bad;
			break;
		case 'l':
			o->gen.len = (unsigned)strtoul(optarg, &end, 0);
			if (*end || !*optarg || o->gen.len > 2000)
				goto bad;
			break;
		case 'c':
			if (vsl_diff_class_parse(optarg, &o->gen.classes) < 0) {
				fprintf(stderr, "vessel-cpudiff: --classes: unknown class or empty set "
					"in '%s' (see --list-classes)\n", optarg);
				return 2;
			}
			snprintf(o->classes_arg, sizeof(o->classes_arg), "%s", optarg);
			break;
		case 'C':
			if (!strcmp(optarg, "0"))
				o->gen.cpl = 0;
			else if (!strcmp(optarg, "3"))
				o->gen.cpl = 3;
			else if (!strcmp(optarg, "any"))
				o->gen.cpl = -1;
			else
				goto bad;
			break;
		case 't':
			if (!strcmp(optarg, "kvm"))
				o->target_kvm = true;
			else if (strcmp(optarg, "vessel"))
				goto bad;
			break;
		case 'e':
			if (!strcmp(optarg, "bt"))
				o->engine = 1;
			else if (strcmp(optarg, "interp"))
				goto bad;
			break;
		case 'g':
			o->guests[o->nguests++] = optarg;
			break;
		case 'R':
			o->repro = optarg;
			break;
		case 'M':
			o->max_print = (unsigned)strtoul(optarg, &end, 0);
			if (*end)
				goto bad;
			break;
		case 'p':
			o->print = true;
			break;
		case 'I':
			o->cmp_flags |= DIFF_CMP_IGNORE_RF;
			break;
		case 'F':
			o->features_set = true;
			o->gen.features = 0;
			if (strstr(optarg, "cmpxchg16b"))
				o->gen.features |= DIFF_F_CX16;
			if (strstr(optarg, "popcnt"))
				o->gen.features |= DIFF_F_POPCNT;
			if (strstr(optarg, "mm"))
				o->gen.features |= DIFF_F_MM;
			if (!o->gen.features && strcmp(optarg, "none"))
				goto bad;
			break;
		case 'G':
			o->gen_only = true;
			break;
		case 'L':
			for (i = 0; i < DIFF_C_COUNT; i++)
				printf("%s\n", vsl_diff_class_name(i));
			exit(0);
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vessel-cpudiff: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (o->nguests && !count_set)
		o->count = 0;
	return 0;
bad:
	fprintf(stderr, "vessel-cpudiff: invalid value '%s' for -%c\n", optarg, c);
	return 2;
}

/* --gen-only: every instruction must decode back to its recorded length. */
static int main_gen_only(struct main_opts *o)
{
	unsigned long i, bad = 0, insns = 0;

	for (i = 0; i < o->count; i++) {
		struct vsl_diff_test t;

		if (vsl_diff_gen(&t, o->seed + i, &o->gen) < 0) {
			printf("FAIL seed %" PRIu64 ": generator failed\n", o->seed + i);
			bad++;
			continue;
		}
		insns += t.ninsn;
		if (t.insn[t.ninsn - 1].off + t.insn[t.ninsn - 1].len != t.code_len)
			bad++;
		if (o->print) {
			printf("== %s (cpl %d)\n", t.name, t.cpl);
			vsl_diff_disasm(&t, stdout);
		}
		vsl_diff_test_fini(&t);
	}
	printf("generated %lu sequences, %lu instructions; %lu passed, %lu failed\n",
	       o->count, insns, o->count - bad, bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct main_opts o;
	struct main_run mr = { .o = &o };
	char err[512];
	unsigned long i;
	int rc, c;

	rc = main_parse(argc, argv, &o);
	if (rc)
		return rc;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (o.gen_only) {
		rc = main_gen_only(&o);
		free(o.guests);
		return rc;
	}
	mr.kvm = vsl_diff_kvm_new(err, sizeof(err));
	if (!mr.kvm) {
		printf("vessel-cpudiff: /dev/kvm unusable: %s\n", err);
		rc = 77;
		goto out;
	}
	if (o.target_kvm) {
		mr.kvm2 = vsl_diff_kvm_new(err, sizeof(err));
		if (!mr.kvm2) {
			printf("vessel-cpudiff: second KVM VM: %s\n", err);
			rc = 77;
			goto out;
		}
	} else {
		mr.vsl = vsl_diff_vessel_new(o.engine, err, sizeof(err));
		if (!mr.vsl) {
			fprintf(stderr, "vessel-cpudiff: %s\n", err);
			rc = 1;
			goto out;
		}
	}
	if (!o.features_set)
		o.gen.features = main_probe(&mr);
	if (!o.quiet)
		printf("optional features both CPUs offer:%s%s%s%s\n",
		       o.gen.features & DIFF_F_CX16 ? " cmpxchg16b" : "",
		       o.gen.features & DIFF_F_POPCNT ? " popcnt" : "",
		       o.gen.features & DIFF_F_MM ? " mm" : "",
		       o.gen.features ? "" : " none");
	for (c = 0; c < o.nguests; c++) {
		struct vsl_diff_test t;

		if (vsl_diff_test_init(&t) < 0 ||
		    vsl_diff_image_load(&t, o.guests[c], err, sizeof(err)) < 0) {
			fprintf(stderr, "vessel-cpudiff: %s\n", err);
			vsl_diff_test_fini(&t);
			rc = 1;
			goto out;
		}
		snprintf(t.name, sizeof(t.name), "%s", o.guests[c]);
		vsl_diff_image_prologue(&t);
		main_one(&mr, &t);
		vsl_diff_test_fini(&t);
	}
	for (i = 0; i < o.count; i++) {
		struct vsl_diff_test t;

		if (vsl_diff_gen(&t, o.seed + i, &o.gen) < 0) {
			fprintf(stderr, "vessel-cpudiff: generator failed for seed %" PRIu64 "\n", o.seed + i);
			rc = 1;
			goto out;
		}
		main_one(&mr, &t);
		vsl_diff_test_fini(&t);
	}
	if (mr.failed && !o.quiet) {
		printf("failures by class: sequences containing it that failed; culprits\n"
		       "(the instruction after which the shortest failing prefix ends):\n");
		for (c = 0; c < DIFF_C_COUNT; c++)
			if (mr.run_by_class[c])
				printf("  %-8s %lu of %lu; culprit in %lu\n", vsl_diff_class_name(c),
				       mr.fail_by_class[c], mr.run_by_class[c], mr.culprit_by_class[c]);
	}
	if (!o.quiet && o.count) {
		printf("sequences that ran to the end: %lu; ended early by", mr.ended_normally);
		for (c = 0; c < 32; c++)
			if (mr.ended_by[c])
				printf(" #%d:%lu", c, mr.ended_by[c]);
		printf(mr.ended_other ? " other:%lu\n" : "\n", mr.ended_other);
	}
	printf("%lu passed, %lu failed\n", mr.passed, mr.failed);
	rc = mr.failed ? 1 : 0;
out:
	vsl_diff_kvm_free(mr.kvm);
	vsl_diff_kvm_free(mr.kvm2);
	vsl_diff_vessel_free(mr.vsl);
	free(o.guests);
	return rc;
}
