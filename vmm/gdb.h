/* gdb.h - the vmm as a GDB remote target: struct stub_ops over KVM. */
#ifndef VMM_GDB_H
#define VMM_GDB_H

#include <stdbool.h>

#include "vmm/vm.h"

struct gdb_config {
	const char *spec;  /* "[HOST:]PORT" or "unix:PATH" */
	bool wait;         /* hold the guest at its first instruction until gdb resumes it */
	const char *arch;  /* auto, i8086, i386, x86-64 */
	uint64_t record_limit; /* bytes the reverse-debugging log may take (0: default) */
	const char *image; /* the image's absolute name, or NULL; gdb may read it if an ELF */
};

/* Serve gdb on the VM until the guest ends or gdb kills it; returns the
 * vmm's exit status. */
int gdb_serve(struct vm *vm, const struct gdb_config *cfg);

#endif
