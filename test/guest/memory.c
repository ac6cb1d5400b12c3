#include "memory.h"
#include "guest.h"

#define MEMMAP_MAX 128

extern char __image_end[];

struct range {
	u64 start;
	u64 end;
};

static struct range ram[MEMMAP_MAX];
static unsigned ram_count;
static u64 next_free;
static u64 arena_end;

bool memory_init(u64 start_info_paddr, const char **why)
{
	const struct hvm_start_info *si = start_info_at(start_info_paddr);
	if (!si) {
		*why = "no PVH start info";
		return false;
	}
	u64 table = si->memmap_paddr;
	u32 entries = si->memmap_entries;
	if (!table || entries == 0 || entries > MEMMAP_MAX ||
	    table + (u64)entries * sizeof(struct hvm_memmap_entry) > IDENTITY_MAP_END) {
		*why = "the start info has no usable memory map";
		return false;
	}
	const struct hvm_memmap_entry *e = (const struct hvm_memmap_entry *)table;
	u64 image_end = align_up((u64)__image_end, 4096);
	for (u32 i = 0; i < entries; i++) {
		if (e[i].type != MEMMAP_RAM || e[i].addr + e[i].size < e[i].addr)
			continue;
		ram[ram_count++] = (struct range){ e[i].addr, e[i].addr + e[i].size };
		/* The arena: the rest of the range that holds the image, as far as the identity-mapped RAM goes. */
		if (e[i].addr <= image_end && image_end < e[i].addr + e[i].size) {
			next_free = image_end;
			arena_end = e[i].addr + e[i].size < MMIO_START ? e[i].addr + e[i].size : MMIO_START;
		}
	}
	if (arena_end <= next_free) {
		*why = "no RAM after the image in the memory map";
		return false;
	}
	return true;
}

void *alloc(size_t bytes, size_t align)
{
	u64 at = align_up(next_free, align ? align : 1);
	if (at < next_free || at + bytes < at || at + bytes > arena_end)
		fail("out of memory: %lu bytes wanted, %lu free", (u64)bytes, memory_free());
	next_free = at + bytes;
	memset((void *)at, 0, bytes);
	return (void *)at;
}

u64 memory_free(void)
{
	return arena_end - next_free;
}

u64 memory_ram_end(void)
{
	u64 end = 0;
	for (unsigned i = 0; i < ram_count; i++)
		end = ram[i].end > end ? ram[i].end : end;
	return end;
}

u64 memory_ram_total(void)
{
	u64 total = 0;
	for (unsigned i = 0; i < ram_count; i++)
		total += ram[i].end - ram[i].start;
	return total;
}

bool memory_is_ram(u64 addr, u64 len)
{
	for (unsigned i = 0; i < ram_count; i++) {
		if (addr >= ram[i].start && addr + len >= addr && addr + len <= ram[i].end)
			return true;
	}
	return false;
}
