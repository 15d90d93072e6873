/*
 * Small pieces of plumbing that more than one image-format driver needs
 * (see format_int.h). Nothing here knows about a particular format.
 */
#include <fcntl.h>
#include <unistd.h>

#include "formats/format_int.h"

void vsl_format_skip_close_flush(const char *path)
{
	int fd;

	if (path && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
		close(fd);
}
