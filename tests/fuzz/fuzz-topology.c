/* SPDX-License-Identifier: MIT */
/*
 * fuzz-topology: arbitrary bytes as a topology file. The parser must return
 * either a model or one error line, never crash, leak or loop, and every
 * model it returns must be internally consistent and within the limits the
 * supervisor relies on. The same bytes also go through the one-line pipeline
 * parser.
 *
 * Small seeds are in seeds/; large ones (the biggest topology accepted, many
 * ports, aliases, files past the limits) come from gen-large-topology.py:
 *   python3 tests/fuzz/gen-large-topology.py CORPUS_DIR
 *   fuzz-topology -max_len=1048576 CORPUS_DIR tests/fuzz/seeds
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "topology.h"

static void check_model(const struct topology *t)
{
	if (t->nkernels == 0 || t->nkernels > TOPO_MAX_KERNELS || t->nrings > TOPO_MAX_RINGS ||
	    t->period_ms == 0 || t->grace_ms == 0 || t->ready_ms > 86400000u ||
	    t->intensity > TOPO_INTENSITY_MAX)
		abort();
	size_t outputs = 0;
	for (size_t i = 0; i < t->nrings; i++) {
		const struct topo_ring *r = &t->rings[i];
		if (r->from_kernel >= t->nkernels || r->to_kernel >= t->nkernels ||
		    r->from_kernel == r->to_kernel) /* never a kernel to itself */
			abort();
		if (r->capacity < TOPO_RING_MIN || r->capacity > TOPO_RING_MAX ||
		    (r->capacity & (r->capacity - 1)) || r->capacity < r->capacity_asked ||
		    r->capacity != topo_ring_capacity(r->capacity_asked))
			abort();
		/* The ends are ports their kernels declare. */
		const struct topo_kernel *from = &t->kernels[r->from_kernel], *to = &t->kernels[r->to_kernel];
		size_t j;
		for (j = 0; j < from->noutputs && strcmp(from->outputs[j], r->from_port); j++)
			;
		if (j == from->noutputs)
			abort();
		for (j = 0; j < to->ninputs && strcmp(to->inputs[j], r->to_port); j++)
			;
		if (j == to->ninputs)
			abort();
		/* A broadcast ring: 1..16 consecutive entries, numbered from 0,
		 * one producer port; a kernel once among its consumers. */
		if (r->bcast_n > SHMRING_BCAST_MAX || (r->bcast_n && r->bcast_index >= r->bcast_n) ||
		    (!r->bcast_n && r->bcast_index) || r->bcast_index > i)
			abort();
		if (r->bcast_index) {
			const struct topo_ring *p = r - 1;
			if (p->bcast_n != r->bcast_n || p->bcast_index + 1 != r->bcast_index ||
			    p->from_kernel != r->from_kernel || strcmp(p->from_port, r->from_port) ||
			    p->capacity != r->capacity)
				abort();
			for (const struct topo_ring *q = r - r->bcast_index; q < r; q++)
				if (q->to_kernel == r->to_kernel)
					abort();
		}
		outputs += r->bcast_index == 0;
	}
	size_t ports = 0;
	for (size_t i = 0; i < t->nkernels; i++) {
		const struct topo_kernel *k = &t->kernels[i];
		if (!k->name[0] || !k->exec)
			abort();
		ports += k->ninputs + k->noutputs;
	}
	/* Every port wired, each to one ring end: an input per entry, an
	 * output per ring (a broadcast ring's entries share theirs). */
	if (ports != t->nrings + outputs)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char err[512];
	struct topology *t;
	if (topo_parse("fuzz.yaml", (const char *)d, n, &t, err, sizeof(err)) == 0) {
		check_model(t);
		topo_free(t);
	} else if (!err[0] || strncmp(err, "fuzz.yaml:", 10)) {
		abort(); /* every failure says where */
	}
	/* The same bytes as a one-line pipeline (-e). */
	char *expr = malloc(n + 1);
	if (!expr)
		return 0;
	memcpy(expr, d, n);
	expr[n] = '\0';
	if (topo_parse_pipeline(expr, &t, err, sizeof(err)) == 0) {
		if (t->nkernels == 0 || t->nkernels > TOPO_MAX_KERNELS || t->nrings != t->nkernels - 1)
			abort();
		for (size_t i = 0; i < t->nkernels; i++)
			for (size_t j = 0; j < i; j++)
				if (!strcmp(t->kernels[i].name, t->kernels[j].name))
					abort(); /* names are unique */
		check_model(t);
		topo_free(t);
	} else if (strncmp(err, "-e", 2)) {
		abort();
	}
	free(expr);
	return 0;
}
