/*
 * Did-you-mean suggestions: Levenshtein distance with adjacent
 * transpositions (optimal string alignment), over two rolling rows plus the
 * row before them, each bounded by VSL_SUGGEST_MAX_LEN, so the cost is
 * O(len(a) * len(b)) time and no heap.
 *
 * The acceptance threshold (max(1, len/3)) keeps suggestions for short
 * words to single typos: "cpu" -> "cpus", but "foo" suggests nothing.
 */
#include <ctype.h>
#include <string.h>

#include "vessel/suggest.h"

static size_t suggest_min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

size_t vsl_suggest_distance(const char *a, const char *b)
{
	size_t prev2[VSL_SUGGEST_MAX_LEN + 1], prev[VSL_SUGGEST_MAX_LEN + 1],
		cur[VSL_SUGGEST_MAX_LEN + 1];
	size_t la = strnlen(a, VSL_SUGGEST_MAX_LEN), lb = strnlen(b, VSL_SUGGEST_MAX_LEN);

	for (size_t j = 0; j <= lb; j++) {
		prev[j] = j;
		prev2[j] = j;
	}
	for (size_t i = 1; i <= la; i++) {
		int ca = tolower((unsigned char)a[i - 1]);

		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			int cb = tolower((unsigned char)b[j - 1]);
			size_t cost = ca != cb;

			cur[j] = suggest_min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < cur[j])
				cur[j] = prev2[j - 2] + 1;
		}
		memcpy(prev2, prev, (lb + 1) * sizeof(prev[0]));
		memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
	}
	return prev[lb];
}

const char *vsl_suggest_closest(const char *word, const char *const *candidates)
{
	size_t lw = strnlen(word, VSL_SUGGEST_MAX_LEN);
	size_t limit = lw / 3 > 1 ? lw / 3 : 1;
	const char *best = NULL;
	size_t best_d = (size_t)-1;

	for (size_t i = 0; candidates && candidates[i]; i++) {
		size_t lc = strnlen(candidates[i], VSL_SUGGEST_MAX_LEN);
		size_t d = vsl_suggest_distance(word, candidates[i]);

		if (d > limit || d >= lw || d >= lc)
			continue;
		if (d < best_d) {
			best = candidates[i];
			best_d = d;
		}
	}
	return best;
}
