/* Guest RAM for the tests: a bump allocator over the RAM after the image, found in the PVH memory map. */
#ifndef TSVMM_GUEST_MEMORY_H
#define TSVMM_GUEST_MEMORY_H

#include "lib.h"

/* Reads the memory map; false (with *why set) when it holds no usable RAM after the image. */
bool memory_init(u64 start_info_paddr, const char **why);
/* `bytes` of zeroed memory aligned to `align` (a power of two); fails the test when RAM runs out. */
void *alloc(size_t bytes, size_t align);
/* What alloc can still hand out. */
u64 memory_free(void);
/* The end of the highest RAM range the memory map lists (a guest-physical address). */
u64 memory_ram_end(void);
/* The bytes of RAM the memory map lists, in all its ranges. */
u64 memory_ram_total(void);
/* Whether [addr, addr + len) lies inside one RAM range of the memory map. */
bool memory_is_ram(u64 addr, u64 len);

#endif
