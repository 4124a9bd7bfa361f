/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The EAL options meshgate reads (EAL alone parses them for itself), the
 * hugepages the machine has, and one-line explanations of why EAL would
 * not start: what EAL itself says ("Cannot init config", errno 0) names
 * neither the cause nor the fix. */

#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_tailq.h>

#include "startup.h"

#define EXIT_USAGE 2
#define MIB	   (1024ull * 1024)

/* Long options of EAL 22.11 that take a value ("--x v" or "--x=v"). */
static const char *const long_with_value[] = {
	"base-virtaddr", "file-prefix",
	"huge-dir",	 "iova-mode",
	"lcores",	 "log-level",
	"trace",	 "trace-dir",
	"trace-bufsz",	 "trace-mode",
	"main-lcore",	 "mbuf-pool-ops-name",
	"block",	 "allow",
	"proc-type",	 "socket-mem",
	"socket-limit",	 "syslog",
	"vdev",		 "vfio-intr",
	"vfio-vf-token", "force-max-simd-bitwidth",
};
/* Short options of EAL 22.11 that take a value ("-l0,1" or "-l 0,1"). */
static const char short_with_value[] = "abcsdlSmnr";

static bool
takes_value(const char *name, size_t len)
{
	unsigned int i;

	for (i = 0; i < RTE_DIM(long_with_value); i++)
		if (strlen(long_with_value[i]) == len &&
		    strncmp(long_with_value[i], name, len) == 0)
			return true;
	return false;
}

/* "1024,1024" -> 2048; numbers are MiB, as EAL reads them. */
static uint64_t
sum_mb(const char *list)
{
	uint64_t sum = 0;
	char *end;

	while (list != NULL && *list != '\0') {
		sum += strtoull(list, &end, 10);
		if (end == list)
			break;
		list = *end == ',' ? end + 1 : end;
	}
	return sum;
}

static void
add_dev(const char **list, unsigned int *n, const char *value)
{
	if (*n < MG_EAL_MAX_DEVS)
		list[(*n)++] = value;
}

static void
long_option(struct mg_eal_opts *o, const char *name, size_t len,
	    const char *value)
{
#define IS(s) (len == strlen(s) && strncmp(name, s, len) == 0)
	if (IS("file-prefix"))
		o->file_prefix = value;
	else if (IS("huge-dir"))
		o->huge_dir = value;
	else if (IS("no-huge"))
		o->no_huge = true;
	else if (IS("in-memory"))
		o->in_memory = true;
	else if (IS("no-shconf"))
		o->no_shconf = true;
	else if (IS("legacy-mem"))
		o->legacy_mem = true;
	else if (IS("single-file-segments"))
		o->single_file_segments = true;
	else if (IS("huge-unlink"))
		o->huge_unlink = true;
	else if (IS("socket-mem"))
		o->mem_mb = sum_mb(value);
	else if (IS("socket-limit"))
		o->socket_limit_mb = sum_mb(value);
	else if (IS("lcores"))
		o->lcores = value;
	else if (IS("vdev") && value != NULL)
		add_dev(o->vdevs, &o->n_vdevs, value);
	else if (IS("allow") && value != NULL)
		add_dev(o->allow, &o->n_allow, value);
#undef IS
}

static void
short_option(struct mg_eal_opts *o, char opt, const char *value)
{
	switch (opt) {
	case 'm':
		o->mem_mb = value != NULL ? strtoull(value, NULL, 10) : 0;
		break;
	case 'l': o->corelist = value; break;
	case 'c': o->coremask = value; break;
	case 'a':
		if (value != NULL)
			add_dev(o->allow, &o->n_allow, value);
		break;
	default: break;
	}
}

void
mg_eal_opts_scan(int argc, char **argv, struct mg_eal_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->file_prefix = "rte";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *value = NULL;

		if (strncmp(a, "--", 2) == 0 && a[2] != '\0') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len =
				eq != NULL ? (size_t)(eq - name) : strlen(name);

			if (eq != NULL)
				value = eq + 1;
			else if (takes_value(name, len) && i + 1 < argc)
				value = argv[++i];
			long_option(o, name, len, value);
		} else if (a[0] == '-' && a[1] != '\0' && a[1] != '-') {
			if (strchr(short_with_value, a[1]) == NULL)
				continue;
			if (a[2] != '\0')
				value = a + 2;
			else if (i + 1 < argc)
				value = argv[++i];
			short_option(o, a[1], value);
		}
	}
}

/* Every tail queue the libraries and drivers of Debian's DPDK 22.11
 * register (EAL_REGISTER_TAILQ; `nm` finds the objects that call
 * rte_eal_tailq_register in its static archives): 25 of EAL's 32. */
static struct rte_tailq_elem dpdk_tailqs[] = {
	{ .name = "RTE_ACL" },
	{ .name = "UIO_RESOURCE_LIST" },
	{ .name = "VFIO_RESOURCE_LIST" },
	{ .name = "VMBUS_RESOURCE_LIST" },
	{ .name = "RTE_DIST_BURST" },
	{ .name = "RTE_DISTRIBUTOR" },
	{ .name = "RTE_EFD" },
	{ .name = "RTE_FIB" },
	{ .name = "RTE_FIB6" },
	{ .name = "RTE_HASH" },
	{ .name = "RTE_FBK_HASH" },
	{ .name = "RTE_THASH" },
	{ .name = "RTE_IPSEC_SAD" },
	{ .name = "RTE_LPM" },
	{ .name = "RTE_LPM6" },
	{ .name = "RTE_MBUF_DYNFIELD" },
	{ .name = "RTE_MBUF_DYNFLAG" },
	{ .name = "RTE_MEMBER" },
	{ .name = "RTE_MEMPOOL" },
	{ .name = "RTE_SWX_PIPELINE" },
	{ .name = "RTE_SWX_CTL_PIPELINE" },
	{ .name = "RTE_REORDER" },
	{ .name = "RTE_RIB" },
	{ .name = "RTE_RIB6" },
	{ .name = "RTE_RING" },
	{ .name = "RTE_STACK" },
};

int
mg_eal_register_tailqs(void)
{
	unsigned int i;

	for (i = 0; i < RTE_DIM(dpdk_tailqs); i++)
		/* a linked library registered its own at start */
		if (rte_eal_tailq_lookup(dpdk_tailqs[i].name) == NULL &&
		    rte_eal_tailq_register(&dpdk_tailqs[i]) < 0)
			return -1;
	return 0;
}

static char huge_unlink[] = "--huge-unlink";

static char prealloc_opt[] = "-m";
static char prealloc_arg[24];

char **
mg_eal_argv(int argc, char **argv, const struct mg_eal_opts *o,
	    uint64_t prealloc_mb, int *out_argc)
{
	/* files in hugetlbfs pin their pages until someone deletes them:
	 * unlink each at once, unless the operator chose otherwise or the
	 * mode has no files (or cannot do without them) */
	bool unlink = !o->huge_unlink && !o->no_huge && !o->in_memory &&
		      !o->single_file_segments;
	char **v = calloc((size_t)argc + 4, sizeof(*v));
	int i;

	if (v == NULL)
		return NULL;
	for (i = 0; i < argc; i++)
		v[i] = argv[i];
	if (unlink)
		v[i++] = huge_unlink;
	if (prealloc_mb != 0) {
		snprintf(prealloc_arg, sizeof(prealloc_arg), "%llu",
			 (unsigned long long)prealloc_mb);
		v[i++] = prealloc_opt;
		v[i++] = prealloc_arg;
	}
	*out_argc = i;
	return v;
}

/* Calls @p fn for each id of a list such as "0-3,5"; false when the list
 * does not parse (EAL then says so itself). */
static bool
each_in_list(const char *list, bool (*fn)(unsigned int id, void *arg),
	     void *arg)
{
	const char *p = list;
	char *end;

	while (*p != '\0') {
		unsigned long lo = strtoul(p, &end, 10), hi = lo, id;

		if (end == p)
			return false;
		p = end;
		if (*p == '-') {
			hi = strtoul(p + 1, &end, 10);
			if (end == p + 1 || hi < lo)
				return false;
			p = end;
		}
		for (id = lo; id <= hi && id - lo < 4096; id++)
			if (!fn((unsigned int)id, arg))
				return true;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			return false;
	}
	return true;
}

static bool
count_one(unsigned int id __rte_unused, void *arg)
{
	(*(unsigned int *)arg)++;
	return true;
}

/* Lcore ids of "--lcores": in each element "lcores[@cpus]" the part
 * before '@', a number, a range or a parenthesised list. */
static unsigned int
count_lcores_map(const char *map)
{
	char buf[1024], *p, *out = buf;
	unsigned int n = 0, depth = 0;
	bool skipping = false;

	for (p = (char *)(uintptr_t)map; *p != '\0' && out < buf + 1023; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')')
			depth--;
		else if (*p == '@')
			skipping = true;
		else if (*p == ',' && depth == 0)
			skipping = false;
		if (!skipping && *p != '(' && *p != ')' && *p != '@')
			*out++ = *p;
	}
	*out = '\0';
	each_in_list(buf, count_one, &n);
	return n;
}

static unsigned int
popcount_hex(const char *mask)
{
	unsigned int n = 0;
	const char *p = mask;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	for (; *p != '\0'; p++) {
		int v = *p >= '0' && *p <= '9'	 ? *p - '0'
			: *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
			: *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
						 : 0;

		n += (unsigned int)__builtin_popcount((unsigned int)v);
	}
	return n;
}

unsigned int
mg_eal_lcore_count(const struct mg_eal_opts *o)
{
	unsigned int n = 0;
	cpu_set_t set;

	if (o->lcores != NULL)
		n = count_lcores_map(o->lcores);
	else if (o->corelist != NULL)
		each_in_list(o->corelist, count_one, &n);
	else if (o->coremask != NULL)
		n = popcount_hex(o->coremask);
	else if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = (unsigned int)CPU_COUNT(&set);
	return n;
}

/* A CPU EAL can use: it checks the same file (eal_cpu_detected). */
static bool
cpu_present(unsigned int id)
{
	char path[96];

	snprintf(path, sizeof(path),
		 "/sys/devices/system/cpu/cpu%u/topology/core_id", id);
	return access(path, F_OK) == 0;
}

struct absent {
	unsigned int id;
	bool found;
};

static bool
find_absent(unsigned int id, void *arg)
{
	struct absent *a = arg;

	if (cpu_present(id))
		return true;
	a->id = id;
	a->found = true;
	return false;
}

static void
read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(buf, (int)len, f) == NULL)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* -l or -c names a CPU the machine does not have. */
static bool
absent_lcore(const struct mg_eal_opts *o, char *why, size_t len)
{
	struct absent a = { 0, false };
	char present[128];
	const char *p;
	unsigned int bit;

	if (o->corelist != NULL) {
		each_in_list(o->corelist, find_absent, &a);
	} else if (o->coremask != NULL) {
		p = o->coremask + strlen(o->coremask);
		for (bit = 0; p > o->coremask && !a.found; bit += 4) {
			char c = *--p;
			int v = c >= '0' && c <= '9'   ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
				: c >= 'A' && c <= 'F' ? c - 'A' + 10
						       : 0;
			unsigned int b;

			if (c == 'x' || c == 'X')
				break;
			for (b = 0; b < 4 && !a.found; b++)
				if ((v >> b) & 1)
					find_absent(bit + b, &a);
		}
	}
	if (!a.found)
		return false;
	read_line("/sys/devices/system/cpu/present", present, sizeof(present));
	snprintf(why, len,
		 "lcore %u is not a CPU of this machine (CPUs present: %s); "
		 "give -l CPUs it has, e.g. -l 0,1",
		 a.id, present[0] != '\0' ? present : "unknown");
	return true;
}

/* The file EAL locks for its --file-prefix, and who holds it. */
static bool
prefix_in_use(const struct mg_eal_opts *o, char *why, size_t len)
{
	const char *base = "/var/run";
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[512], comm[64] = "", proc[64];
	int fd;

	if (o->in_memory || o->no_shconf)
		return false;
	/* as eal_create_runtime_dir() picks it */
	if (getuid() != 0) {
		base = getenv("XDG_RUNTIME_DIR");
		if (base == NULL)
			base = "/tmp";
	}
	snprintf(path, sizeof(path), "%s/dpdk/%s/config", base, o->file_prefix);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fcntl(fd, F_GETLK, &fl) != 0 || fl.l_type == F_UNLCK) {
		close(fd);
		return false;
	}
	close(fd);
	snprintf(proc, sizeof(proc), "/proc/%d/comm", (int)fl.l_pid);
	read_line(proc, comm, sizeof(comm));
	snprintf(why, len,
		 "--file-prefix %s is in use by pid %d (%s), another gateway "
		 "or DPDK program; stop it, or give this gateway a "
		 "--file-prefix of its own",
		 o->file_prefix, (int)fl.l_pid,
		 comm[0] != '\0' ? comm : "gone");
	return true;
}

/* A number in DIR/SUB/FILE of sysfs; 0 when absent. */
static unsigned long long
sysfs_number(const char *dir, const char *sub, const char *file)
{
	char path[PATH_MAX], line[64];

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, file);
	read_line(path, line, sizeof(line));
	return strtoull(line, NULL, 10);
}

uint64_t
mg_hugepages_free(int node, uint64_t *reserved, uint64_t *page_size)
{
	uint64_t free_bytes = 0, total = 0;
	char dir[128], line[64];
	struct dirent *de;
	DIR *d;

	if (node >= 0)
		snprintf(dir, sizeof(dir),
			 "/sys/devices/system/node/node%d/hugepages", node);
	else
		snprintf(dir, sizeof(dir), "/sys/kernel/mm/hugepages");
	if (page_size != NULL) {
		FILE *f = fopen("/proc/meminfo", "r");
		unsigned long long kb = 2048;

		while (f != NULL && fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "Hugepagesize: %llu kB", &kb) == 1)
				break;
		if (f != NULL)
			fclose(f);
		*page_size = kb * 1024;
	}
	d = opendir(dir);
	while (d != NULL && (de = readdir(d)) != NULL) {
		unsigned long long kb, nr, fr, rs;

		if (sscanf(de->d_name, "hugepages-%llukB", &kb) != 1)
			continue;
		nr = sysfs_number(dir, de->d_name, "nr_hugepages");
		fr = sysfs_number(dir, de->d_name, "free_hugepages");
		/* promised to a mapping, not yet faulted in (global only) */
		rs = sysfs_number(dir, de->d_name, "resv_hugepages");
		total += nr * kb * 1024;
		free_bytes += (fr > rs ? fr - rs : 0) * kb * 1024;
	}
	if (d != NULL)
		closedir(d);
	if (reserved != NULL)
		*reserved = total;
	return free_bytes;
}

/* The hugetlbfs mount EAL would use: --huge-dir if it is one, else the
 * first; "" when there is none. */
static void
hugetlbfs_mount(const struct mg_eal_opts *o, char *mnt, size_t len)
{
	struct mntent *m;
	FILE *f = setmntent("/proc/mounts", "r");

	mnt[0] = '\0';
	while (f != NULL && (m = getmntent(f)) != NULL) {
		if (strcmp(m->mnt_type, "hugetlbfs") != 0)
			continue;
		if (o->huge_dir != NULL && strcmp(o->huge_dir, m->mnt_dir) != 0)
			continue;
		snprintf(mnt, len, "%s", m->mnt_dir);
		break;
	}
	if (f != NULL)
		endmntent(f);
}

static bool
hugepage_problem(const struct mg_eal_opts *o, char *why, size_t len)
{
	uint64_t reserved, page, avail, need, pages;
	char mnt[256];

	if (o->no_huge)
		return false;
	hugetlbfs_mount(o, mnt, sizeof(mnt));
	if (mnt[0] == '\0' && o->huge_dir != NULL) {
		snprintf(why, len,
			 "--huge-dir %s is not a hugetlbfs mount; mount one "
			 "there (mount -t hugetlbfs nodev %s) or leave "
			 "--huge-dir out",
			 o->huge_dir, o->huge_dir);
		return true;
	}
	if (mnt[0] == '\0') {
		snprintf(why, len,
			 "no hugetlbfs is mounted; as root, reserve and mount "
			 "hugepages (scripts/hugepages.sh 512), or run with "
			 "--no-huge (virtual devices, tests)");
		return true;
	}
	if (geteuid() != 0 && access(mnt, W_OK) != 0) {
		snprintf(why, len,
			 "not root: the hugepages under %s are not writable "
			 "by uid %u; run as root (or, with virtual devices "
			 "only, with --no-huge)",
			 mnt, (unsigned int)geteuid());
		return true;
	}
	avail = mg_hugepages_free(-1, &reserved, &page);
	need = o->mem_mb != 0 ? o->mem_mb * MIB : page;
	if (avail >= need)
		return false;
	/* hugepages.sh N sets the total: those in use plus those needed */
	pages = (reserved - avail + need + page - 1) / page;
	if (reserved == 0)
		snprintf(why, len,
			 "no hugepages are reserved; as root, reserve some "
			 "(scripts/hugepages.sh %llu) or run with --no-huge",
			 (unsigned long long)RTE_MAX(pages, 512ull));
	else
		snprintf(why, len,
			 "too few hugepages: %s%llu MiB asked, %llu MiB free "
			 "(of %llu MiB reserved, in pages of %llu KiB); "
			 "reserve more (scripts/hugepages.sh %llu)%s",
			 o->mem_mb != 0 ? "-m " : "",
			 (unsigned long long)(need / MIB),
			 (unsigned long long)(avail / MIB),
			 (unsigned long long)(reserved / MIB),
			 (unsigned long long)(page / 1024),
			 (unsigned long long)pages,
			 o->mem_mb != 0 ? " or lower -m" : "");
	return true;
}

int
mg_eal_explain(const struct mg_eal_opts *o, int err)
{
	char why[640];
	int status = EXIT_FAILURE;

	if (err == EINVAL) {
		status = EXIT_USAGE;
		if (!absent_lcore(o, why, sizeof(why)))
			snprintf(why, sizeof(why),
				 "EAL refused its options (its message is "
				 "above); EAL options go before \"--\", "
				 "meshgate's after it (meshgate -h)");
	} else if (prefix_in_use(o, why, sizeof(why)) ||
		   hugepage_problem(o, why, sizeof(why))) {
		/* why says it */
	} else if (geteuid() != 0) {
		snprintf(why, sizeof(why),
			 "not root (uid %u): DPDK needs root for hugepages, "
			 "devices and /var/run/dpdk; run as root (or, with "
			 "virtual devices only, with --no-huge)",
			 (unsigned int)geteuid());
	} else {
		snprintf(why, sizeof(why),
			 "EAL initialisation failed%s%s; its messages above "
			 "say where",
			 err != 0 ? ": " : "",
			 err != 0 ? rte_strerror(err) : "");
	}
	fprintf(stderr, "meshgate: cannot start DPDK: %s\n", why);
	return status;
}
