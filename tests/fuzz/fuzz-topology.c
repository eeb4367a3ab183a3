/* SPDX-License-Identifier: MIT */
/*
 * fuzz-topology: arbitrary bytes as a topology file. The parser must return
 * either a model or one error line, never crash, leak or loop, and every
 * model it returns must be internally consistent. The same bytes also go
 * through the one-line pipeline parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "topology.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char err[512];
	struct topology *t;
	if (topo_parse("fuzz.yaml", (const char *)d, n, &t, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < t->nrings; i++)
			if (t->rings[i].from_kernel >= t->nkernels || t->rings[i].to_kernel >= t->nkernels ||
			    t->rings[i].capacity < 4096)
				abort();
		for (size_t i = 0; i < t->nkernels; i++)
			if (!t->kernels[i].name[0] || !t->kernels[i].exec)
				abort();
		topo_free(t);
	} else if (!err[0] || !memchr(err, ':', strlen(err))) {
		abort(); /* every failure says where */
	}
	/* The same bytes as a one-line pipeline (-e). */
	char *expr = malloc(n + 1);
	if (!expr)
		return 0;
	memcpy(expr, d, n);
	expr[n] = '\0';
	if (topo_parse_pipeline(expr, &t, err, sizeof(err)) == 0) {
		if (t->nkernels == 0 || t->nrings != t->nkernels - 1)
			abort();
		for (size_t i = 0; i < t->nkernels; i++)
			for (size_t j = 0; j < i; j++)
				if (!strcmp(t->kernels[i].name, t->kernels[j].name))
					abort(); /* names are unique */
		topo_free(t);
	} else if (strncmp(err, "-e", 2)) {
		abort();
	}
	free(expr);
	return 0;
}
