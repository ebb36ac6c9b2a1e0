/*
 * window: see window.h.
 */
#include <string.h>

#include "engine/window.h"

void
window_init(struct window *w)
{
	unsigned i;

	memset(w, 0, sizeof(*w));
	for (i = 0; i < WINDOW_S; i++)
		w->sec[i] = -1;
}

void
window_add(struct window *w, unsigned kind, int64_t now)
{
	int64_t s = now / 1000;
	unsigned i = (unsigned)(s % WINDOW_S);

	if (w->sec[i] != s) {
		w->sec[i] = s;
		memset(w->n[i], 0, sizeof(w->n[i]));
	}
	w->n[i][kind]++;
}

uint64_t
window_sum(const struct window *w, unsigned kind, int64_t now)
{
	int64_t s = now / 1000;
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < WINDOW_S; i++)
		if (w->sec[i] >= 0 && w->sec[i] > s - WINDOW_S &&
		    w->sec[i] <= s)
			sum += w->n[i][kind];
	return sum;
}

uint64_t
window_this_second(const struct window *w, unsigned kind, int64_t now)
{
	int64_t s = now / 1000;
	unsigned i = (unsigned)(s % WINDOW_S);

	return w->sec[i] == s ? w->n[i][kind] : 0;
}
