/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * One gateway per device. DPDK's own lock covers a --file-prefix, not a
 * device: two gateways with different prefixes on one af_packet
 * interface both start and both forward every packet. Each device a
 * port uses (a PCI address, or the interface a vdev opens with iface=)
 * gets a lock file under /run/meshgate, held with flock() for the life
 * of the process: the kernel releases it when the process ends however
 * it ends, so a crash leaves a file (with the dead pid, overwritten by
 * the next holder) but never a stale lock; a clean exit removes it.
 * Taken before EAL starts, so a refused gateway never probes the
 * device.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_common.h>

#include "startup.h"

#define LOCK_DIR "/run/meshgate"
#define KEY_LEN	 128
/* vdev arguments that name the network interface a port opens */
static const char *const iface_args[] = {
	"iface=",
	"rx_iface=",
	"rx_iface_in=",
	"tx_iface=",
};

/* "0000:03:00.0" or "03:00.0" (domain 0) as domain:bus:dev.fn; false
 * when @p s is no PCI address. */
static bool
pci_key(const char *s, char *key, size_t len)
{
	unsigned int dom = 0, bus, dev, fn;
	char tail;

	if (sscanf(s, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) != 4) {
		dom = 0;
		if (sscanf(s, "%x:%x.%x%c", &bus, &dev, &fn, &tail) != 3)
			return false;
	}
	if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7)
		return false;
	snprintf(key, len, "pci-%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return true;
}

/* The interface a --vdev of @p device opens, in this network namespace:
 * interface names are per namespace. */
static bool
iface_key(const struct mg_eal_opts *o, const char *device, char *key,
	  size_t len)
{
	size_t dlen = strlen(device);
	struct stat ns;
	unsigned int i, a;

	if (stat("/proc/self/ns/net", &ns) != 0)
		ns.st_ino = 0;
	for (i = 0; i < o->n_vdevs; i++) {
		const char *v = o->vdevs[i], *p;

		if (strncmp(v, device, dlen) != 0 ||
		    (v[dlen] != ',' && v[dlen] != '\0'))
			continue;
		for (p = v + dlen; *p == ','; p += strcspn(p + 1, ",") + 1)
			for (a = 0; a < RTE_DIM(iface_args); a++) {
				size_t n = strlen(iface_args[a]);
				size_t vlen;

				if (strncmp(p + 1, iface_args[a], n) != 0)
					continue;
				vlen = strcspn(p + 1 + n, ",");
				snprintf(key, len, "iface-%lu-%.*s",
					 (unsigned long)ns.st_ino, (int)vlen,
					 p + 1 + n);
				return true;
			}
	}
	return false;
}

/* A key's characters that may not go in a file name become '_'. */
static void
file_name(char *key)
{
	for (; *key != '\0'; key++)
		if (!isalnum((unsigned char)*key) && *key != '-' &&
		    *key != '.' && *key != ':')
			*key = '_';
}

/* The pid written in a lock file, or 0. */
static long
holder(int fd)
{
	char buf[32] = "";
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

static int
lock_one(const char *dir, const char *key, const struct mg_port_conf *pc,
	 struct mg_dev_locks *locks)
{
	char *path = locks->path[locks->n], pid[32];
	struct stat held, named;
	int fd, n, tries;

	snprintf(path, sizeof(locks->path[0]), "%s/%s.lock", dir, key);
	for (tries = 0;; tries++) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr,
				"meshgate: port %s: cannot create %s (%s); a "
				"second gateway on %s would not be refused\n",
				pc->name, path, strerror(errno), pc->device);
			return 0;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int e = errno;

			if (e == EWOULDBLOCK)
				fprintf(stderr,
					"meshgate: port %s: device %s is in "
					"use by another gateway (pid %ld, lock "
					"%s); stop it, or give this gateway "
					"another device\n",
					pc->name, pc->device, holder(fd), path);
			else
				fprintf(stderr,
					"meshgate: port %s: cannot lock %s: "
					"%s\n",
					pc->name, path, strerror(e));
			close(fd);
			return e == EWOULDBLOCK ? -EBUSY : -e;
		}
		/* the holder may have unlinked the file between our open
		 * and our lock: then we hold a file nobody else can find,
		 * and must lock the one the path names now */
		if (fstat(fd, &held) == 0 && stat(path, &named) == 0 &&
		    held.st_dev == named.st_dev && held.st_ino == named.st_ino)
			break;
		close(fd);
		if (tries == 3) {
			fprintf(stderr,
				"meshgate: port %s: %s keeps changing; "
				"another gateway is starting on %s\n",
				pc->name, path, pc->device);
			return -EBUSY;
		}
	}
	/* ours now: whatever pid a crashed holder left is overwritten */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		fprintf(stderr, "meshgate: %s: cannot record the pid: %s\n",
			path, strerror(errno));
	locks->fd[locks->n++] = fd;
	return 0;
}

int
mg_dev_lock(const struct mg_conf *conf, const struct mg_eal_opts *o,
	    struct mg_dev_locks *locks)
{
	const char *dir = getenv("MESHGATE_LOCK_DIR");
	char key[KEY_LEN];
	unsigned int i;
	int rc;

	locks->n = 0;
	if (dir == NULL || *dir == '\0')
		dir = LOCK_DIR;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr,
			"meshgate: cannot create %s (%s); a second gateway on "
			"the same device would not be refused\n",
			dir, strerror(errno));
		return 0;
	}
	for (i = 0; i < conf->n_ports; i++) {
		const struct mg_port_conf *pc = &conf->ports[i];

		if (!pci_key(pc->device, key, sizeof(key)) &&
		    !iface_key(o, pc->device, key, sizeof(key)))
			continue; /* a file, a ring, null: nothing shared */
		file_name(key);
		rc = lock_one(dir, key, pc, locks);
		if (rc < 0) {
			mg_dev_unlock(locks);
			return rc;
		}
	}
	return 0;
}

void
mg_dev_unlock(struct mg_dev_locks *locks)
{
	unsigned int i;

	/* unlinked while still held: a gateway that opened the file just
	 * before sees it gone once it holds the lock, and starts over */
	for (i = 0; i < locks->n; i++) {
		unlink(locks->path[i]);
		close(locks->fd[i]);
	}
	locks->n = 0;
}
