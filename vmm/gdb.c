/* gdb.c - placeholder until the target lands. */
#include <stdio.h>

#include "vmm/gdb.h"

int gdb_serve(struct vm *vm, const struct gdb_config *cfg)
{
	(void)vm;
	fprintf(stderr, "vmm: --gdb %s: the gdb stub is not built yet\n", cfg->spec);
	return STATUS_USAGE;
}
