/*
 * "Did you mean ...?" suggestions for misspelt keys and values.
 *
 * Validators of YAML documents (bundle vessel.yaml, recipes) report unknown
 * keys with the closest known one, by Levenshtein edit distance:
 *
 *	static const char *const keys[] = { "name", "memory", "cpus", NULL };
 *	const char *s = vsl_suggest_closest("memroy", keys);   -> "memory"
 *
 * Pure functions: no allocation beyond a bounded stack row, no context.
 */
#ifndef VESSEL_SUGGEST_H
#define VESSEL_SUGGEST_H

#include <stddef.h>

/*
 * Levenshtein distance between a and b (insertions, deletions,
 * substitutions, each costing 1; a swap of two adjacent characters also
 * costs 1, so "mmeory" is one edit from "memory"). Strings longer than
 * VSL_SUGGEST_MAX_LEN characters are compared on their first
 * VSL_SUGGEST_MAX_LEN characters only.
 */
#define VSL_SUGGEST_MAX_LEN 64
size_t vsl_suggest_distance(const char *a, const char *b);

/*
 * The candidate closest to word, or NULL when none is close enough to be a
 * plausible typo: the distance must be at most max(1, strlen(word) / 3)
 * and smaller than both lengths. Ties go to the earliest candidate.
 * candidates is NULL-terminated; the result is one of its (borrowed) entries.
 * Case is ignored ("Memory" suggests "memory").
 */
const char *vsl_suggest_closest(const char *word, const char *const *candidates);

#endif
