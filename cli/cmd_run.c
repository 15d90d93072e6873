/*
 * vessel run: boot a virtual machine on vessel's own x86-64 hypervisor, with
 * the guest's first serial port (COM1) as the terminal.
 *
 * On a terminal, stdin goes raw (every key reaches the guest, Ctrl-C too)
 * and Ctrl-A starts an escape: Ctrl-A x quits, Ctrl-A h lists the keys,
 * Ctrl-A Ctrl-A sends one Ctrl-A. When stdin/stdout are pipes the bytes pass
 * through untouched, so scripts can drive the guest. A guest reboot starts
 * the machine again (or ends with --no-reboot); poweroff ends with 0.
 *
 *	vessel run --kernel vmlinuz --initrd initrd.gz --append console=ttyS0
 *	vessel run web.vessel
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "vessel/bundle.h"
#include "vessel/machine.h"
#include "runtime/devices/virtio.h"

#define RUN_DEFAULT_MEM (256ull << 20)

extern const struct vsl_cmd vsl_cmd_run;

/* ---- disks: vessel.yaml's disks, then --disk options (virtio engineer) ---- */
#define RUN_MAX_DISKS 16
struct run_disks {
	struct vsl_virtio_disk_spec spec[RUN_MAX_DISKS];
	const char *bundle;               /* re-sealed after the run when it has writable disks */
	char *owned[2 * RUN_MAX_DISKS];   /* resolved paths, formats */
	size_t n, nowned;
};

/* ---- network: vessel.yaml's NICs; -p adds forwards to the first (virtio engineer) */
#define RUN_MAX_NICS 4
#define RUN_MAX_FWDS 32
struct run_nets {
	struct vsl_virtio_nic_spec nic[RUN_MAX_NICS];
	struct vsl_virtio_fwd fwd[RUN_MAX_NICS][RUN_MAX_FWDS];
	char *owned[RUN_MAX_NICS * RUN_MAX_FWDS];   /* host addresses */
	size_t n, nowned;
	struct vsl_virtio_fwd cli[RUN_MAX_FWDS];    /* -p, appended to the first NIC */
	size_t ncli;
};

/* -p [udp:]HOSTPORT:GUESTPORT */
static int run_parse_fwd(struct run_nets *rn, const char *arg)
{
	struct vsl_virtio_fwd *f;
	unsigned long h, g;
	char *end;

	if (rn->ncli == RUN_MAX_FWDS)
		return -1;
	f = &rn->cli[rn->ncli];
	*f = (struct vsl_virtio_fwd){ 0 };
	if (!strncmp(arg, "udp:", 4)) {
		f->udp = true;
		arg += 4;
	} else if (!strncmp(arg, "tcp:", 4)) {
		arg += 4;
	}
	h = strtoul(arg, &end, 10);
	if (end == arg || *end != ':' || h < 1 || h > 65535)
		return -1;
	arg = end + 1;
	g = strtoul(arg, &end, 10);
	if (end == arg || *end || g < 1 || g > 65535)
		return -1;
	f->host_port = (uint16_t)h;
	f->guest_port = (uint16_t)g;
	rn->ncli++;
	return 0;
}

/* --disk FILE[,format=F][,ro] (FILE without commas); arg is split in place. */
static int run_parse_disk(struct run_disks *rd, char *arg)
{
	struct vsl_virtio_disk_spec *d;
	char *save = NULL, *tok;

	if (rd->n == RUN_MAX_DISKS || arg[0] == ',')
		return -1;
	d = &rd->spec[rd->n];
	if (!(tok = strtok_r(arg, ",", &save)))
		return -1;
	*d = (struct vsl_virtio_disk_spec){ .path = tok };
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (!strncmp(tok, "format=", 7) && tok[7])
			d->format = tok + 7;
		else if (!strcmp(tok, "ro"))
			d->readonly = true;
		else
			return -1;
	}
	rd->n++;
	return 0;
}

struct run_term {
	bool tty;          /* stdin is a terminal in raw mode */
	bool escape;       /* saw Ctrl-A */
	FILE *log;         /* --console FILE */
	bool out_ok;
};

static struct termios run_saved_termios;
static volatile sig_atomic_t run_termios_saved;

static void run_restore_term(void)
{
	if (run_termios_saved) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &run_saved_termios);
		run_termios_saved = 0;
	}
}

static void run_on_signal(int sig)
{
	run_restore_term();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * SIGTERM, SIGINT and SIGHUP stop the machine at the next slice boundary, so
 * that its disks are flushed and the bundle's MANIFEST sealed again; a
 * second signal ends vessel at once.
 */
static struct vsl_machine *volatile run_machine;
static volatile sig_atomic_t run_stop_signal;

static void run_on_stop_signal(int sig)
{
	struct vsl_machine *m = run_machine;

	if (run_stop_signal || !m) {
		run_on_signal(sig);
		return;
	}
	run_stop_signal = sig;
	vsl_machine_quit(m);
	signal(sig, run_on_signal);
}

static void run_catch_stop_signals(void)
{
	signal(SIGTERM, run_on_stop_signal);
	signal(SIGHUP, run_on_stop_signal);
	signal(SIGINT, run_on_stop_signal);
}

static void run_raw_mode(void)
{
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &run_saved_termios) < 0)
		return;
	t = run_saved_termios;
	cfmakeraw(&t); /* no output processing either: guest bytes pass unchanged */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0)
		return;
	run_termios_saved = 1;
	atexit(run_restore_term);
	/* SIGTERM, SIGINT, SIGHUP: run_catch_stop_signals, before each run */
	signal(SIGQUIT, run_on_signal);
}

static void run_write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void term_write(void *opaque, const uint8_t *buf, size_t len)
{
	struct run_term *t = opaque;

	if (t->out_ok)
		run_write_all(STDOUT_FILENO, buf, len);
	if (t->log) {
		fwrite(buf, 1, len, t->log);
		fflush(t->log);
	}
}

static int term_read(void *opaque, uint8_t *buf, size_t len)
{
	struct run_term *t = opaque;
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	uint8_t raw[512];
	ssize_t n;
	size_t out = 0;

	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	n = read(STDIN_FILENO, raw, VSL_MIN(len, sizeof(raw)));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : VSL_EIO;
	if (n == 0)
		return VSL_EIO; /* end of input */
	if (!t->tty) {
		memcpy(buf, raw, (size_t)n);
		return (int)n;
	}
	for (ssize_t i = 0; i < n; i++) {
		uint8_t c = raw[i];
		if (!t->escape) {
			if (c == 0x01)
				t->escape = true;
			else
				buf[out++] = c;
			continue;
		}
		t->escape = false;
		switch (c) {
		case 'x': case 'X':
			return VSL_ECANCELED;
		case 'h': case 'H': case '?':
			fprintf(stderr, "\r\nvessel: Ctrl-A x  quit\r\n"
					"vessel: Ctrl-A h  this help\r\n"
					"vessel: Ctrl-A Ctrl-A  send Ctrl-A to the guest\r\n");
			break;
		case 0x01:
			buf[out++] = 0x01;
			break;
		default:
			buf[out++] = 0x01;
			if (out < len)
				buf[out++] = c;
			break;
		}
	}
	return (int)out;
}

static bool term_wait(void *opaque, int timeout_ms)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms) > 0;
}

static const struct vsl_console_ops run_console = {
	.read = term_read, .write = term_write, .wait = term_wait,
};

/* "-m 512" means MiB (as QEMU's -m); units are accepted too ("2G", "256MiB"). */
static int run_parse_mem(const char *s, uint64_t *out)
{
	size_t n = strlen(s);

	if (n && strspn(s, "0123456789") == n) {
		if (vsl_parse_size(s, out) < 0 || *out > (UINT64_MAX >> 20))
			return VSL_ERANGE;
		*out <<= 20;
		return 0;
	}
	return vsl_parse_size(s, out);
}

/* Fill boot fields from BUNDLE's vessel.yaml; strings returned in owned[] (caller frees). */
static int run_from_bundle(struct vsl_cli *cli, const char *dir, struct vsl_machine_config *mc,
			   char **owned, struct run_disks *rd, struct run_nets *rn)
{
	struct vsl_bundle_config cfg;
	struct vsl_problems probs;
	char buf[512];
	int r;

	vsl_bundle_config_init(&cfg);
	vsl_problems_init(&probs);
	r = vsl_bundle_load(cli->ctx, dir, 0, &cfg, &probs);
	if (r < 0) {
		for (size_t i = 0; i < probs.count; i++)
			fprintf(stderr, "vessel: %s: %s\n", dir,
				vsl_problem_format(&probs.items[i], buf, sizeof(buf)));
		goto out;
	}
	if (cfg.boot.kind != VSL_BOOT_KERNEL) {
		r = vsl_set_error(cli->ctx, 0, VSL_ENOTSUP,
				  "%s boots from firmware (%s): vessel run supports direct kernel boot only for now",
				  dir, vsl_bundle_firmware_name(cfg.boot.firmware));
		goto out;
	}
	if ((r = vsl_bundle_resolve_path(cli->ctx, dir, cfg.boot.kernel, &owned[0])) < 0)
		goto out;
	if (cfg.boot.initrd &&
	    (r = vsl_bundle_resolve_path(cli->ctx, dir, cfg.boot.initrd, &owned[1])) < 0)
		goto out;
	if (cfg.boot.cmdline && !(owned[2] = strdup(cfg.boot.cmdline))) {
		r = vsl_set_error(cli->ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	if (cfg.cpus > 1)
		vsl_warn(cli->ctx, "%s asks for %u CPUs; vessel runs one for now", dir, cfg.cpus);
	/* NICs in user mode become virtio-net devices on slirp */
	for (size_t i = 0; i < cfg.nnics; i++) {
		const struct vsl_bundle_nic *bn = &cfg.nics[i];
		struct vsl_virtio_nic_spec *n;
		if (bn->mode != VSL_NET_USER)
			continue;
		if (rn->n == RUN_MAX_NICS || bn->nforwards > RUN_MAX_FWDS) {
			r = vsl_set_error(cli->ctx, 0, VSL_ERANGE, "%s: too many NICs or forwards (at most %d and %d)",
					  dir, RUN_MAX_NICS, RUN_MAX_FWDS);
			goto out;
		}
		n = &rn->nic[rn->n];
		*n = (struct vsl_virtio_nic_spec){ .has_mac = bn->has_mac, .fwd = rn->fwd[rn->n],
						   .nfwd = bn->nforwards };
		memcpy(n->mac, bn->mac, 6);
		for (size_t f = 0; f < bn->nforwards; f++) {
			const struct vsl_bundle_forward *bf = &bn->forwards[f];
			char *a = bf->host_addr ? strdup(bf->host_addr) : NULL;
			if (a)
				rn->owned[rn->nowned++] = a;
			rn->fwd[rn->n][f] = (struct vsl_virtio_fwd){ bf->proto == VSL_NET_UDP, a,
								     bf->host_port, bf->guest_port };
		}
		rn->n++;
	}
	/* disks become virtio-blk devices in vessel.yaml's order (vda, vdb, ...) */
	if (cfg.ndisks > RUN_MAX_DISKS) {
		r = vsl_set_error(cli->ctx, 0, VSL_ERANGE, "%s has %zu disks; vessel attaches at most %d",
				  dir, cfg.ndisks, RUN_MAX_DISKS);
		goto out;
	}
	for (size_t i = 0; i < cfg.ndisks; i++) {
		struct vsl_virtio_disk_spec *d = &rd->spec[rd->n];
		char *path = NULL, *fmt = cfg.disks[i].format ? strdup(cfg.disks[i].format) : NULL;
		if ((r = vsl_bundle_resolve_path(cli->ctx, dir, cfg.disks[i].file, &path)) < 0) {
			free(fmt);
			goto out;
		}
		rd->owned[rd->nowned++] = path;
		rd->owned[rd->nowned++] = fmt;
		*d = (struct vsl_virtio_disk_spec){ path, fmt, cfg.disks[i].readonly };
		if (!cfg.disks[i].readonly)
			rd->bundle = dir;
		rd->n++;
	}
	mc->kernel = owned[0];
	mc->initrd = owned[1];
	mc->cmdline = owned[2];
	mc->mem_size = cfg.memory;
out:
	vsl_bundle_config_free(&cfg);
	vsl_problems_fini(&probs);
	return r;
}

static double run_host_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --stats: the CPU's counters on stderr, one "name value" per line */
static void run_print_cpu_stats(const struct vsl_cpu_stats *c)
{
	static const struct {
		const char *name;
		size_t off;
	} rows[] = {
#define RUN_STAT(n, f) { n, offsetof(struct vsl_cpu_stats, f) }
		RUN_STAT("bt.blocks_translated", blocks_translated),
		RUN_STAT("bt.insns_translated", insns_translated),
		RUN_STAT("bt.cache_bytes_used", cache_bytes_used),
		RUN_STAT("bt.cache_bytes_total", cache_bytes_total),
		RUN_STAT("bt.cache_flushes", cache_flushes),
		RUN_STAT("bt.invalidated", invalidated),
		RUN_STAT("bt.chained_exits", chained_exits),
		RUN_STAT("bt.lookup_exits", lookup_exits),
		RUN_STAT("bt.indirect_hits", indirect_hits),
		RUN_STAT("bt.indirect_misses", indirect_misses),
		RUN_STAT("bt.helper_exits", helper_exits),
		RUN_STAT("bt.loops_carried", loops_carried),
		RUN_STAT("bt.interp_steps", interp_steps),
		RUN_STAT("tlb.hits", tlb_hits),
		RUN_STAT("tlb.misses", tlb_misses),
		RUN_STAT("tlb.flushes", tlb_flushes),
		RUN_STAT("exit.io", io),
		RUN_STAT("exit.mmio", mmio),
		RUN_STAT("exit.msr", msr),
		RUN_STAT("exit.cpuid", cpuid),
		RUN_STAT("exit.hlt", hlt),
		RUN_STAT("exit.interrupts", interrupts),
		RUN_STAT("exit.exceptions", exceptions),
#undef RUN_STAT
	};
	uint64_t acc = c->tlb_hits + c->tlb_misses;

	for (size_t i = 0; i < VSL_ARRAY_SIZE(rows); i++) {
		uint64_t v;
		memcpy(&v, (const char *)c + rows[i].off, sizeof(v));
		fprintf(stderr, "%-22s %llu\n", rows[i].name, (unsigned long long)v);
	}
	/* inline TLB hits in translated code are not counted: the rate is of the C paths */
	fprintf(stderr, "%-22s %.2f%% (of data accesses through the executor and the "
		"translator's helpers; translated code's inline TLB counts misses only)\n",
		"tlb.hit_rate", acc ? 100.0 * (double)c->tlb_hits / (double)acc : 0.0);
}

static int run_run(struct vsl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "append", required_argument, NULL, 'a' },
		{ "memory", required_argument, NULL, 'm' },
		{ "engine", required_argument, NULL, 'e' },
		{ "console", required_argument, NULL, 'c' },
		{ "no-reboot", no_argument, NULL, 'n' },
		{ "stats", no_argument, NULL, 's' },
		{ "disk", required_argument, NULL, 'D' },
		{ "publish", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	/* the binary translator by default; the interpreter if it cannot be set up */
	struct vsl_machine_config mc = { .engine = VSL_ENGINE_BT, .engine_fallback = true };
	const char *kernel = NULL, *initrd = NULL, *append = NULL, *mem = NULL, *console = NULL;
	char *owned[3] = { NULL, NULL, NULL };
	struct run_term term = { .out_ok = true };
	bool no_reboot = false, stats = false;
	struct run_disks disks = { .n = 0 };
	struct run_disks extra = { .n = 0 };   /* --disk, appended after the bundle's */
	static struct run_nets nets;           /* static: large */
	int c, status = VSL_EXIT_FAIL;
	uint64_t mem_size = 0;

	while ((c = getopt_long(argc, argv, "m:p:", opts, NULL)) != -1) {
		switch (c) {
		case 'k': kernel = optarg; break;
		case 'i': initrd = optarg; break;
		case 'a': append = optarg; break;
		case 'm': mem = optarg; break;
		case 'c': console = optarg; break;
		case 'n': no_reboot = true; break;
		case 's': stats = true; break;
		case 'p':
			if (run_parse_fwd(&nets, optarg) < 0)
				return cli_usage(&vsl_cmd_run, "invalid -p '%s' ([udp:]HOSTPORT:GUESTPORT, at most %d)",
						 optarg, RUN_MAX_FWDS);
			break;
		case 'D':
			if (run_parse_disk(&extra, optarg) < 0)
				return cli_usage(&vsl_cmd_run, "invalid --disk '%s' (FILE[,format=F][,ro], at most %d)",
						 optarg, RUN_MAX_DISKS);
			break;
		case 'e':
			if (!strcmp(optarg, "interp"))
				mc.engine = VSL_ENGINE_INTERP;
			else if (!strcmp(optarg, "bt"))
				mc.engine = VSL_ENGINE_BT;
			else
				return cli_usage(&vsl_cmd_run, "unknown engine '%s' (interp or bt)", optarg);
			mc.engine_fallback = false;
			break;
		default:
			return cli_usage(&vsl_cmd_run, "invalid option");
		}
	}
	if (optind < argc - 1)
		return cli_usage(&vsl_cmd_run, "unexpected argument '%s'", argv[optind + 1]);
	if (optind == argc && !kernel)
		return cli_usage(&vsl_cmd_run, "give a BUNDLE or --kernel FILE");
	if (mem && run_parse_mem(mem, &mem_size) < 0)
		return cli_usage(&vsl_cmd_run, "invalid memory size '%s'", mem);

	if (optind < argc) {
		if (run_from_bundle(cli, argv[optind], &mc, owned, &disks, &nets) < 0) {
			status = cli_fail(cli, "run");
			goto out;
		}
	}
	for (size_t i = 0; i < extra.n; i++) {
		if (disks.n == RUN_MAX_DISKS) {
			status = cli_failf("run", "too many disks (at most %d)", RUN_MAX_DISKS);
			goto out;
		}
		disks.spec[disks.n++] = extra.spec[i];
	}
	if (nets.ncli) {
		/* -p forwards go to the first NIC (one is made when the bundle has none) */
		struct vsl_virtio_nic_spec *n = &nets.nic[0];
		if (!nets.n) {
			*n = (struct vsl_virtio_nic_spec){ .fwd = nets.fwd[0] };
			nets.n = 1;
		}
		if (n->nfwd + nets.ncli > RUN_MAX_FWDS) {
			status = cli_failf("run", "too many port forwards (at most %d)", RUN_MAX_FWDS);
			goto out;
		}
		memcpy(nets.fwd[0] + n->nfwd, nets.cli, nets.ncli * sizeof(nets.cli[0]));
		n->nfwd += nets.ncli;
	}
	if (kernel)
		mc.kernel = kernel;
	if (initrd)
		mc.initrd = initrd;
	if (append)
		mc.cmdline = append;
	if (mem)
		mc.mem_size = mem_size;
	else if (!mc.mem_size)
		mc.mem_size = RUN_DEFAULT_MEM;
	if (!mc.mem_size) {
		status = cli_failf("run", "memory size must not be 0");
		goto out;
	}

	if (console && !(term.log = fopen(console, "ab"))) {
		status = cli_failf("run", "--console %s: %s", console, strerror(errno));
		goto out;
	}
	term.tty = isatty(STDIN_FILENO);
	mc.console = &run_console;
	mc.console_opaque = &term;
	mc.idle_realtime = term.tty;

	for (;;) {
		enum vsl_machine_stop why;
		struct vsl_machine *m = vsl_machine_new(cli->ctx, &mc);
		struct vsl_virtio_set *vs = NULL;   /* disk images, closed after the machine */
		struct vsl_machine_stats st;
		double t0;
		int r;

		if (!m) {
			status = cli_fail(cli, "run");
			goto out;
		}
		if (!(vs = vsl_virtio_attach(cli->ctx, m, disks.spec, disks.n, nets.nic, nets.n))) {
			vsl_machine_free(m);
			status = cli_fail(cli, "run");
			goto out;
		}
		if (term.tty && !run_termios_saved) {
			fprintf(stderr, "vessel: console on COM1; Ctrl-A x quits, Ctrl-A h helps\n");
			run_raw_mode();
		}
		t0 = run_host_seconds();
		run_catch_stop_signals();
		run_machine = m;
		r = vsl_machine_run(m, &why);
		run_machine = NULL;
		vsl_machine_get_stats(m, &st);
		if (stats || cli->verbosity > 0) {
			double secs = run_host_seconds() - t0;
			fprintf(stderr, "vessel: %llu instructions in %.2f s (%.1f MIPS), virtual time "
					"%.3f s (%.3f s skipped while halted), %llu halts\n",
				(unsigned long long)st.instructions, secs,
				secs > 0 ? (double)st.instructions / secs / 1e6 : 0.0,
				(double)st.vtime_ns / 1e9, (double)st.skipped_ns / 1e9,
				(unsigned long long)st.halts);
		}
		if (stats)
			run_print_cpu_stats(&st.cpu);
		if (r < 0) {
			static char dump[16384];
			run_restore_term();
			fprintf(stderr, "vessel: run: %s\n", vsl_ctx_error(cli->ctx));
			vsl_machine_dump(m, dump, sizeof(dump));
			if (*dump)
				fprintf(stderr, "guest registers:\n%s\n", dump);
			vsl_machine_free(m);
			vsl_virtio_set_free(vs);
			status = VSL_EXIT_FAIL;
			goto seal; /* the guest may have written its disks before it failed */
		}
		vsl_machine_free(m);
		vsl_virtio_set_free(vs);
		if (why == VSL_STOP_RESET && !no_reboot) {
			/* the terminal is still raw here: end the line by hand */
			if (cli->verbosity > 0)
				fprintf(stderr, "vessel: the guest rebooted; restarting it%s",
					run_termios_saved ? "\r\n" : "\n");
			continue;
		}
		run_restore_term();
		if (why == VSL_STOP_QUIT && run_stop_signal) {
			fprintf(stderr, "vessel: run: stopped by signal %d (%s): the guest did not shut "
					"down; its disks are flushed%s\n", (int)run_stop_signal,
				strsignal(run_stop_signal),
				disks.bundle ? " and the bundle's MANIFEST sealed" : "");
			status = VSL_EXIT_FAIL;
			break;
		}
		if (why == VSL_STOP_QUIT)
			fprintf(stderr, "vessel: run: stopped from the console (Ctrl-A x)\n");
		else if (why == VSL_STOP_RESET)
			vsl_info(cli->ctx, "the guest rebooted (--no-reboot: stopping)");
		else
			vsl_info(cli->ctx, "the guest powered off");
		status = VSL_EXIT_OK;
		break;
	}
seal:
	/* the guest may have written the bundle's disks: MANIFEST hashes them anew */
	if (disks.bundle && vsl_bundle_write_manifest(cli->ctx, disks.bundle) < 0)
		status = cli_fail(cli, "run");
out:
	run_restore_term();
	if (term.log)
		fclose(term.log);
	for (size_t i = 0; i < VSL_ARRAY_SIZE(owned); i++)
		free(owned[i]);
	for (size_t i = 0; i < disks.nowned; i++)
		free(disks.owned[i]);
	for (size_t i = 0; i < nets.nowned; i++)
		free(nets.owned[i]);
	return status;
}

const struct vsl_cmd vsl_cmd_run = {
	.name = "run",
	.run = run_run,
	.summary = "boot a VM bundle or a Linux kernel on vessel's hypervisor",
	.usage =
	"usage: vessel run BUNDLE [OPTIONS]\n"
	"       vessel run --kernel FILE [--initrd FILE] [--append CMDLINE] [OPTIONS]\n"
	"\n"
	"Boot a virtual x86-64 PC (one CPU, 8259 PIC, 8254 PIT, CMOS RTC, 16550 UART\n"
	"on COM1, local APIC + I/O APIC, ACPI) and connect its serial console COM1 to\n"
	"this terminal. BUNDLE is a NAME.vessel directory whose vessel.yaml boots a\n"
	"kernel directly (firmware boot is not supported yet). Its disks become\n"
	"virtio-blk devices on PCI (/dev/vda, /dev/vdb... in vessel.yaml's order)\n"
	"served from the bundle's image files directly; its user-mode NICs become\n"
	"virtio-net devices on libslirp (DHCP gives the guest 10.0.2.15, gateway\n"
	"10.0.2.2, DNS 10.0.2.3; outbound TCP/UDP goes through the host's sockets);\n"
	"a virtio-rng is added.\n"
	"The kernel must be an x86-64 bzImage (boot protocol 2.12 or later).\n"
	"Options override the bundle's settings.\n"
	"\n"
	"Options:\n"
	"  --kernel FILE     Linux bzImage to boot\n"
	"  --initrd FILE     initial ramdisk (e.g. a gzip'd cpio initramfs)\n"
	"  --append CMDLINE  kernel command line (use console=ttyS0 to see the kernel)\n"
	"  -m, --memory SIZE guest RAM: a number of MiB or a size with unit (256M, 1G);\n"
	"                    default 256 MiB, 16 MiB to 128 GiB and not more than the host has\n"
	"  --engine ENGINE   bt (binary translator, the default; falls back to the\n"
	"                    interpreter when it cannot be set up) or interp (reference\n"
	"                    interpreter, for debugging)\n"
	"  --console FILE    also append everything the guest prints to FILE\n"
	"  --no-reboot       stop (exit 0) when the guest reboots instead of restarting it\n"
	"  --stats           at the end print instructions, speed and virtual time, then\n"
	"                    the CPU's counters on stderr, one \"name value\" a line:\n"
	"                    bt.* translator (blocks and instructions translated, code\n"
	"                    cache use, flushes, chained vs looked-up block exits...),\n"
	"                    tlb.* softmmu (hits: data accesses of the executor and the\n"
	"                    translator's helpers, not the translated code's inline\n"
	"                    TLB; misses: page-walk slow path, both engines; flushes),\n"
	"                    exit.* guest operations handed to the machine (port I/O,\n"
	"                    MMIO, MSR, CPUID, HLT, interrupts and exceptions delivered)\n"
	"  --disk FILE[,format=F][,ro]\n"
	"                    attach another disk image (after the bundle's; F: qcow2,\n"
	"                    vmdk, vpc or raw, probed when omitted; ro: read-only);\n"
	"                    may be repeated; FILE must not contain commas\n"
	"  -p, --publish [udp:]HOSTPORT:GUESTPORT\n"
	"                    forward 127.0.0.1:HOSTPORT on the host to the guest's port\n"
	"                    (TCP unless udp:); adds a NIC when the bundle has none;\n"
	"                    may be repeated\n"
	"\n"
	"Console: on a terminal, keys go to the guest unchanged (Ctrl-C too);\n"
	"Ctrl-A x quits, Ctrl-A h lists the escape keys, Ctrl-A Ctrl-A sends Ctrl-A.\n"
	"With pipes, stdin is passed to the guest and its output to stdout as is.\n"
	"\n"
	"Time is virtual: it advances with guest instructions and jumps ahead while the\n"
	"guest is idle, so sleeping guests do not wait (on a terminal an idle guest is\n"
	"held to the host clock).\n"
	"\n"
	"Exit status: 0 when the guest powers off (ACPI S5), or reboots with --no-reboot,\n"
	"or the console user quits; 1 on a guest crash (triple fault, CPU error, a halt\n"
	"that can never resume: the guest registers and last instructions are printed)\n"
	"or a setup error; 2 on a usage error. SIGTERM, SIGINT or SIGHUP stop the guest\n"
	"where it is (its disks flushed, a bundle's MANIFEST sealed again) with status 1;\n"
	"a second signal ends vessel at once.\n",
};
