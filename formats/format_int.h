/*
 * Internal helpers shared by the image-format drivers in formats/ (not part
 * of the public API in include/vessel/format.h). Implemented in
 * formats/format_util.c.
 */
#ifndef VESSEL_FORMATS_FORMAT_INT_H
#define VESSEL_FORMATS_FORMAT_INT_H

/*
 * ext4 (auto_da_alloc) flushes a file that was truncated to zero when a
 * descriptor that saw the truncation is closed: the whole freshly written
 * image would be forced to disk at close, which costs more than the
 * conversion itself. Opening and closing the new, still empty file once
 * right after creation consumes that flag with nothing to flush. A NULL
 * path (an image on a memory stream) or a file that cannot be opened is
 * ignored: this only saves time.
 */
void vsl_format_skip_close_flush(const char *path);

#endif
