/*
 * A read-only libext2fs I/O manager over a struct vsl_p2v_reader, so that
 * the free-map code (builder/p2v.c) reads the block bitmaps of a disk that
 * is not a local file: an ssh source is mirrored into a sparse local file
 * and each read first asks the reader to fetch the range it covers.
 *
 *	char name[64];
 *	vsl_p2v_io_name(&rd, name, sizeof(name));
 *	ext2fs_open2(name, "offset=1048576", EXT2_FLAG_64BITS, 0, 0,
 *		     vsl_p2v_io_manager(), &fs);
 *
 * libext2fs hands an io manager only a name string, so the name carries the
 * reader's address ("vsl-p2v:0x..."); the reader must outlive the channel.
 * There is no cache: the mirror file and the page cache behind it are one,
 * and the fetch callback remembers what it already fetched. A reader with
 * segments (a logical volume of an ssh source) is read through them.
 *
 * Every write entry point fails with EXT2_ET_RO_FILSYS: the source is only
 * ever read, whatever libext2fs tries.
 */
#include <errno.h>
#include <ext2fs/ext2fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/p2v.h"

#define P2V_IO_PREFIX "vsl-p2v:"

struct p2v_io {
	const struct vsl_p2v_reader *rd;
	uint64_t offset;             /* "offset=N": the filesystem's start on the disk */
};

static struct struct_io_manager p2v_io_ops;

void vsl_p2v_io_name(const struct vsl_p2v_reader *rd, char *buf, size_t len)
{
	snprintf(buf, len, P2V_IO_PREFIX "%p", (const void *)rd);
}

struct struct_io_manager *vsl_p2v_io_manager(void)
{
	return &p2v_io_ops;
}

static errcode_t p2v_io_open(const char *name, int flags, io_channel *out)
{
	struct struct_io_channel *ch;
	struct p2v_io *io;
	void *p = NULL;

	if (!name || strncmp(name, P2V_IO_PREFIX, strlen(P2V_IO_PREFIX)) ||
	    sscanf(name + strlen(P2V_IO_PREFIX), "%p", &p) != 1 || !p)
		return EXT2_ET_BAD_DEVICE_NAME;
	if (flags & IO_FLAG_RW)
		return EXT2_ET_RO_FILSYS;
	ch = calloc(1, sizeof(*ch));
	io = calloc(1, sizeof(*io));
	if (ch)
		ch->name = strdup(name);
	if (!ch || !io || !ch->name) {
		if (ch)
			free(ch->name);
		free(ch);
		free(io);
		return EXT2_ET_NO_MEMORY;
	}
	io->rd = p;
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = &p2v_io_ops;
	ch->block_size = 1024;
	ch->refcount = 1;
	ch->private_data = io;
	*out = ch;
	return 0;
}

static errcode_t p2v_io_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	free(ch->private_data);
	free(ch->name);
	free(ch);
	return 0;
}

static errcode_t p2v_io_set_blksize(io_channel ch, int blksize)
{
	if (blksize <= 0 || blksize > (1 << 16))
		return EXT2_ET_INVALID_ARGUMENT;
	ch->block_size = blksize;
	return 0;
}

/*
 * Reader offset off -> fd offset, and how many bytes from there stay
 * contiguous on the fd (at most want). 0 bytes: off is in no segment.
 */
static uint64_t p2v_io_map(const struct vsl_p2v_reader *rd, uint64_t off, uint64_t want,
			   uint64_t *doff)
{
	if (!rd->segs) {
		*doff = off;
		return want;
	}
	for (size_t i = 0; i < rd->nsegs; i++) {
		const struct vsl_p2v_seg *g = &rd->segs[i];

		if (off >= g->loff && off - g->loff < g->len) {
			*doff = g->doff + (off - g->loff);
			return VSL_MIN(want, g->len - (off - g->loff));
		}
	}
	return 0;
}

/* count < 0 means -count bytes (libext2fs's convention for sub-block reads). */
static errcode_t p2v_io_read64(io_channel ch, unsigned long long block, int count, void *data)
{
	struct p2v_io *io = ch->private_data;
	const struct vsl_p2v_reader *rd = io->rd;
	uint64_t len = count < 0 ? (uint64_t)-(int64_t)count :
		(uint64_t)count * (uint64_t)ch->block_size;
	uint64_t off = io->offset + (uint64_t)block * (uint64_t)ch->block_size;
	size_t got = 0;

	if (block > UINT64_MAX / (uint64_t)ch->block_size || off < io->offset ||
	    off > rd->size || len > rd->size - off) {
		memset(data, 0, (size_t)len);
		return EXT2_ET_SHORT_READ;
	}
	while (got < len) {
		uint64_t doff, run = p2v_io_map(rd, off + got, len - got, &doff);
		ssize_t n;

		if (!run) {
			memset((char *)data + got, 0, (size_t)(len - got));
			return EXT2_ET_SHORT_READ;
		}
		if (rd->fetch && rd->fetch(rd->opaque, doff, run) < 0)
			return EXT2_ET_SHORT_READ; /* the reader's ctx says why */
		n = pread(rd->fd, (char *)data + got, (size_t)run, (off_t)doff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			memset((char *)data + got, 0, (size_t)(len - got));
			return n < 0 ? (errcode_t)errno : EXT2_ET_SHORT_READ;
		}
		got += (size_t)n;
	}
	return 0;
}

static errcode_t p2v_io_read(io_channel ch, unsigned long block, int count, void *data)
{
	return p2v_io_read64(ch, block, count, data);
}

static errcode_t p2v_io_write(io_channel ch, unsigned long block, int count, const void *data)
{
	(void)ch, (void)block, (void)count, (void)data;
	return EXT2_ET_RO_FILSYS;
}

static errcode_t p2v_io_write64(io_channel ch, unsigned long long block, int count,
				const void *data)
{
	(void)ch, (void)block, (void)count, (void)data;
	return EXT2_ET_RO_FILSYS;
}

static errcode_t p2v_io_write_byte(io_channel ch, unsigned long off, int count, const void *data)
{
	(void)ch, (void)off, (void)count, (void)data;
	return EXT2_ET_RO_FILSYS;
}

static errcode_t p2v_io_flush(io_channel ch)
{
	(void)ch;
	return 0;
}

static errcode_t p2v_io_set_option(io_channel ch, const char *opt, const char *arg)
{
	struct p2v_io *io = ch->private_data;
	unsigned long long v;
	char *end;

	if (strcmp(opt, "offset"))
		return EXT2_ET_INVALID_ARGUMENT;
	if (!arg || !*arg)
		return EXT2_ET_INVALID_ARGUMENT;
	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || *end || v > io->rd->size)
		return EXT2_ET_INVALID_ARGUMENT;
	io->offset = v;
	return 0;
}

static struct struct_io_manager p2v_io_ops = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "vessel p2v reader I/O manager",
	.open = p2v_io_open,
	.close = p2v_io_close,
	.set_blksize = p2v_io_set_blksize,
	.read_blk = p2v_io_read,
	.write_blk = p2v_io_write,
	.flush = p2v_io_flush,
	.write_byte = p2v_io_write_byte,
	.set_option = p2v_io_set_option,
	.read_blk64 = p2v_io_read64,
	.write_blk64 = p2v_io_write64,
};
