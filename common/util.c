/*
 * Small utilities: sizes with units, overflow-checked allocation.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/common.h"

#ifndef VSL_VERSION
#define VSL_VERSION "0.1.0"
#endif

const char *vsl_version(void)
{
	return VSL_VERSION;
}

int vsl_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return VSL_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return VSL_ERANGE;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'B': shift = 0; end++; break;
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	case 'P': shift = 50; end++; break;
	default: return VSL_EINVAL;
	}
	if (shift) {
		/* accept K, KB, KiB */
		if (end[0] == 'i' && (end[1] == 'B' || end[1] == 'b'))
			end += 2;
		else if (end[0] == 'B' || end[0] == 'b')
			end++;
	}
	if (*end)
		return VSL_EINVAL;
	mult = (uint64_t)1 << shift;
	if (v > UINT64_MAX / mult)
		return VSL_ERANGE;
	*out = (uint64_t)v * mult;
	return 0;
}

char *vsl_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	unsigned i = 0;

	while (v >= 1024.0 && i + 1 < VSL_ARRAY_SIZE(units)) {
		v /= 1024.0;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[i]);
	return buf;
}

void *vsl_calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

void *vsl_reallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return realloc(p, n * size);
}

char *vsl_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}
