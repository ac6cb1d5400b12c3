/*
 * The part of test=iommu that sends requests the device must refuse (virtio 1.2, section 5.13.6), while the blk
 * endpoint is attached and its buffers are mapped. Each answer goes out as a data line; the I/O that follows
 * proves no refused request changed a mapping.
 */
#include "../guest.h"
#include "../memory.h"
#include "iommu.h"

/* A request type no version of the spec defines. */
#define UNKNOWN_TYPE 0x7f
/* An endpoint ID no device of a test machine has. */
#define NO_SUCH_ENDPOINT 1000

void iommu_expect(const char *what, u8 got, u8 want)
{
	data("request=%s status=%s", what, iommu_status_name(got));
	if (got != want)
		fail("%s: status %s, expected %s", what, iommu_status_name(got), iommu_status_name(want));
}

/* Unaligned virt_start, virt_end + 1 or phys_start: RANGE, and no mapping made. */
static void unaligned_maps(struct iommu_test *t)
{
	u64 spare = t->iova + IOVA_SPARE;
	u64 phys = (u64)t->write_buf;
	iommu_expect("map-unaligned-virt-start",
		     iommu_map(&t->m, t->domain, spare + 0x100, spare + IOMMU_PAGE - 1, phys, VIRTIO_IOMMU_MAP_F_READ),
		     VIRTIO_IOMMU_S_RANGE);
	iommu_expect("map-unaligned-virt-end",
		     iommu_map(&t->m, t->domain, spare, spare + IOMMU_PAGE / 2 - 1, phys, VIRTIO_IOMMU_MAP_F_READ),
		     VIRTIO_IOMMU_S_RANGE);
	iommu_expect("map-unaligned-phys-start",
		     iommu_map(&t->m, t->domain, spare, spare + IOMMU_PAGE - 1, phys + 0x200, VIRTIO_IOMMU_MAP_F_READ),
		     VIRTIO_IOMMU_S_RANGE);
}

/* Mappings that collide with one already made, and a mapping that would be split. */
static void overlaps(struct iommu_test *t)
{
	u64 w = t->iova + IOVA_WRITE;
	u64 phys = (u64)t->scatter_buf;
	iommu_expect("map-overlapping-second-page",
		     iommu_map(&t->m, t->domain, w + IOMMU_PAGE, w + 2 * IOMMU_PAGE - 1, phys, VIRTIO_IOMMU_MAP_F_READ),
		     VIRTIO_IOMMU_S_INVAL);
	iommu_expect("map-overlapping-around",
		     iommu_map(&t->m, t->domain, w - IOMMU_PAGE, w + 3 * IOMMU_PAGE - 1, phys, VIRTIO_IOMMU_MAP_F_READ),
		     VIRTIO_IOMMU_S_INVAL);
	iommu_expect("unmap-splitting-a-mapping", iommu_unmap(&t->m, t->domain, w, w + IOMMU_PAGE - 1),
		     VIRTIO_IOMMU_S_RANGE);
	iommu_expect("map-unknown-domain",
		     iommu_map(&t->m, t->domain + 1, t->iova + IOVA_SPARE, t->iova + IOVA_SPARE + IOMMU_PAGE - 1, phys,
			       VIRTIO_IOMMU_MAP_F_READ),
		     VIRTIO_IOMMU_S_NOENT);
	/* Unmapping where nothing is mapped is not an error: nothing is removed. */
	iommu_expect("unmap-nothing", iommu_unmap(&t->m, t->domain, t->iova + IOVA_SPARE,
						  t->iova + IOVA_SPARE + 4 * IOMMU_PAGE - 1),
		     VIRTIO_IOMMU_S_OK);
}

static void bad_attach_detach(struct iommu_test *t)
{
	iommu_expect("attach-unknown-endpoint", iommu_attach(&t->m, t->domain, NO_SUCH_ENDPOINT), VIRTIO_IOMMU_S_NOENT);
	struct virtio_iommu_req_attach a = { .head = { VIRTIO_IOMMU_T_ATTACH, { 0 } }, .domain = t->domain,
					     .endpoint = t->ep, .reserved = { 0, 0, 1, 0 } };
	iommu_expect("attach-reserved-nonzero", iommu_request(&t->m, &a, sizeof(a), sizeof(a.tail)),
		     VIRTIO_IOMMU_S_INVAL);
	iommu_expect("detach-from-another-domain", iommu_detach(&t->m, t->domain + 1, t->ep), VIRTIO_IOMMU_S_INVAL);
	iommu_expect("probe-unknown-endpoint", iommu_probe(&t->m, NO_SUCH_ENDPOINT, &(const u8 *){ NULL }),
		     VIRTIO_IOMMU_S_NOENT);
}

/* A request type the spec does not define, with a body as long as a MAP's. */
static void unknown_type(struct iommu_test *t)
{
	struct virtio_iommu_req_map r = { .head = { UNKNOWN_TYPE, { 0 } } };
	iommu_expect("unknown-type", iommu_request(&t->m, &r, sizeof(r), sizeof(r.tail)), VIRTIO_IOMMU_S_UNSUPP);
}

/* A PROBE whose writable part is smaller than probe_size: INVAL, and no property written. */
static void short_probe(struct iommu_test *t)
{
	u32 fixed = sizeof(struct virtio_iommu_req_probe);
	u32 tail = sizeof(struct virtio_iommu_req_tail);
	u32 props = t->m.probe_size / 2;
	u8 *req = t->m.req;
	memset(req, 0, fixed + props + tail);
	((struct virtio_iommu_req_probe *)req)->head.type = VIRTIO_IOMMU_T_PROBE;
	((struct virtio_iommu_req_probe *)req)->endpoint = t->ep;
	iommu_expect("probe-short-buffer", iommu_request(&t->m, req, fixed + props + tail, props + tail),
		     VIRTIO_IOMMU_S_INVAL);
	for (u32 i = 0; i < props; i++) {
		if (req[fixed + i])
			fail("probe-short-buffer: the device wrote property bytes although it refused the request");
	}
}

void iommu_refusals(struct iommu_test *t)
{
	unaligned_maps(t);
	overlaps(t);
	bad_attach_detach(t);
	unknown_type(t);
	short_probe(t);
	say("iommu: every malformed request refused with the status the spec gives it");
}
