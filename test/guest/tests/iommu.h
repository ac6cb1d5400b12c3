/* Shared by the parts of test=iommu: the iommu, the blk device behind it, and where things are mapped. */
#ifndef TSVMM_GUEST_TESTS_IOMMU_H
#define TSVMM_GUEST_TESTS_IOMMU_H

#include "../virtio-blk.h"
#include "../virtio-iommu.h"

#define IOMMU_PAGE ((u64)4096)

/*
 * Offsets from the IOVA base, `iommu_iova=` (1 GiB by default: above the RAM of a test machine, so a device that
 * used an IOVA as a guest-physical address would miss RAM). The first 64 KiB are left free, so a request can aim
 * just below a mapping.
 */
/* The write buffer, two pages, READ only (a blk write only reads it). */
#define IOVA_WRITE ((u64)0x10000)
/* The read buffer, two pages, READ | WRITE. */
#define IOVA_READ ((u64)0x20000)
/* The scattered buffer: two one-page mappings whose physical pages are in the other order, READ. */
#define IOVA_SCATTER ((u64)0x30000)
/* The read buffer's pages again, READ only: a blk read into them must fault. */
#define IOVA_READ_ONLY ((u64)0x40000)
/* Free IOVA space the refused requests aim at. */
#define IOVA_SPARE ((u64)0x50000)
#define IOVA_SPAN ((u64)0x60000)

struct iommu_test {
	struct iommu m;
	struct blk b;
	/* The blk device's endpoint ID, from `iommu_ep=`. */
	u32 ep;
	u32 domain;
	u64 iova;
	/* The blk device's rings and requests, mapped at their guest-physical addresses. */
	u64 ring_start;
	u64 ring_end;
	/* Two pages each, none of them identity-mapped. */
	u8 *write_buf;
	u8 *read_buf;
	u8 *scatter_buf;
	/* Fault records beyond the one each bad request was expected to cause. */
	u32 extra_faults;
};

/* The requests the device must refuse, each with the status the spec gives it; the mappings must survive them. */
void iommu_refusals(struct iommu_test *t);
/* Fails unless the status is the one expected. */
void iommu_expect(const char *what, u8 got, u8 want);

#endif
