/*
 * test=iommu: virtio-iommu in front of the first virtio-blk device, which must offer ACCESS_PLATFORM.
 *   iommu_ep=<id>      the blk device's endpoint ID (required)
 *   iommu_iova=<addr>  where the test's IOVAs begin (default 1 GiB; above RAM, inside the input range)
 * The iommu's config; a PROBE of the endpoint (the MSI window must be reserved); a read before the endpoint is
 * attached (a fault, and the blk device stops with DEVICE_NEEDS_RESET); ATTACH; the blk device's rings and
 * requests mapped at their own addresses, its data buffers elsewhere; the requests the device must refuse;
 * stamped data written and read back through the IOVAs, once from a buffer spread over two mappings whose
 * physical pages are in the other order; a read into a read-only mapping and one into an unmapped IOVA (faults
 * naming the IOVA); DETACH, and a read that faults again. Every fault and request answer is a data line.
 */
#include "../guest.h"
#include "../memory.h"
#include "iommu.h"

#define QUEUE_SIZE 16
#define DATA_BYTES (2 * IOMMU_PAGE)
#define WRITTEN_SECTOR 2048
#define SCATTERED_SECTOR 4096
#define WRITTEN_SEED 17
#define SCATTERED_SEED 99
#define MSI_START ((u64)0xfee00000)
#define MSI_END ((u64)0xfeefffff)
#define DEFAULT_IOVA ((u64)0x40000000)
/* blk_io's answer when the device stopped with DEVICE_NEEDS_RESET instead of completing the request. */
#define IO_NEEDS_RESET (-2)
#define RW (VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE)
#define REASON_BIT(r) (1u << (r))

/* What a fault must look like. */
struct fault_want {
	const char *what;
	/* REASON_BIT()s, and how the failure message names them. */
	unsigned reasons;
	const char *reasons_text;
	/* Access flags that must be among the record's. */
	u32 flags;
	/* Whether the record must carry an address; where it must lie when it does. */
	bool address;
	u64 lo;
	u64 hi;
};

/* Byte k of a pattern the host computes too, to check the disk image. */
static u8 pattern(u32 seed, u64 k)
{
	return (u8)(k * 131 + (k >> 8) * 7 + seed);
}

static void fill(u8 *buf, u32 seed, u64 from, u64 len)
{
	for (u64 k = 0; k < len; k++)
		buf[k] = pattern(seed, from + k);
}

static void check_pattern(const u8 *buf, u32 seed, const char *what)
{
	for (u64 k = 0; k < DATA_BYTES; k++) {
		if (buf[k] != pattern(seed, k))
			fail("%s: byte %lu reads back 0x%x, expected 0x%x", what, k, buf[k], pattern(seed, k));
	}
}

static const char *fault_text(const struct virtio_iommu_fault *f)
{
	static char text[96];
	format(text, sizeof(text), "reason=%s flags=0x%x endpoint=%u address=0x%lx", iommu_reason_name(f->reason),
	       f->flags, f->endpoint, f->address);
	return text;
}

static void check_config(struct iommu_test *t)
{
	struct iommu *m = &t->m;
	if (!(m->page_size_mask & IOMMU_PAGE) || (m->page_size_mask & (IOMMU_PAGE - 1)))
		fail("page_size_mask 0x%lx: expected 4 KiB as the smallest page size", m->page_size_mask);
	t->domain = m->domain_start > 1 ? m->domain_start : 1;
	if ((u64)m->domain_end < (u64)t->domain + 1)
		fail("domain_range %u-%u: the test needs domains %u and %u", m->domain_start, m->domain_end, t->domain,
		     t->domain + 1);
	t->iova = cmdline_number("iommu_iova", DEFAULT_IOVA);
	if ((t->iova & (IOMMU_PAGE - 1)) || t->iova > ~0ull - IOVA_SPAN)
		fail("iommu_iova=0x%lx is not a page-aligned base for 0x%lx bytes", t->iova, IOVA_SPAN);
	if (t->iova < m->input_start || t->iova + IOVA_SPAN - 1 > m->input_end)
		fail("input_range 0x%lx-0x%lx does not hold the test's IOVAs 0x%lx-0x%lx (iommu_iova= moves them)",
		     m->input_start, m->input_end, t->iova, t->iova + IOVA_SPAN - 1);
	if (t->iova < memory_ram_end())
		fail("iommu_iova=0x%lx lies below the end of RAM (0x%lx): a device that did not translate would pass",
		     t->iova, memory_ram_end());
	data("features=0x%lx page_size_mask=0x%lx input_start=0x%lx input_end=0x%lx domain_start=%u domain_end=%u "
	     "probe_size=%u",
	     m->dev.offered, m->page_size_mask, m->input_start, m->input_end, m->domain_start, m->domain_end,
	     m->probe_size);
}

/* One RESV_MEM property: whether it reserves the MSI window. */
static bool resv_mem_is_msi(const u8 *prop, u16 length)
{
	struct virtio_iommu_probe_resv_mem resv;
	u32 want = sizeof(resv) - sizeof(struct virtio_iommu_probe_property);
	if (length < want)
		fail("PROBE: a RESV_MEM property of %u bytes, expected %u", length, want);
	memcpy(&resv, prop, sizeof(resv));
	data("probe_property=resv_mem subtype=%u start=0x%lx end=0x%lx", resv.subtype, resv.start, resv.end);
	return resv.subtype == VIRTIO_IOMMU_RESV_MEM_T_MSI && resv.start == MSI_START && resv.end == MSI_END;
}

/* PROBE of the blk endpoint: the properties must fit probe_size, and one must reserve the MSI window. */
static void probe_msi(struct iommu_test *t)
{
	const u8 *props;
	iommu_expect("probe", iommu_probe(&t->m, t->ep, &props), VIRTIO_IOMMU_S_OK);
	u32 size = t->m.probe_size, at = 0;
	unsigned count = 0;
	bool msi = false;
	while (at + sizeof(struct virtio_iommu_probe_property) <= size) {
		struct virtio_iommu_probe_property head;
		memcpy(&head, props + at, sizeof(head));
		u16 type = head.type & VIRTIO_IOMMU_PROBE_T_MASK;
		if (type == VIRTIO_IOMMU_PROBE_T_NONE)
			break;
		u32 end = at + (u32)sizeof(head) + head.length;
		if (end > size)
			fail("PROBE: property %u (type %u) at byte %u ends at %u, past probe_size %u", count, type, at, end,
			     size);
		if (type == VIRTIO_IOMMU_PROBE_T_RESV_MEM)
			msi |= resv_mem_is_msi(props + at, head.length);
		else
			data("probe_property=%u length=%u", type, head.length);
		count++;
		at = end;
	}
	if (!msi)
		fail("PROBE of endpoint %u: no RESV_MEM property of subtype MSI for 0x%lx-0x%lx among %u properties",
		     t->ep, MSI_START, MSI_END, count);
}

static void open_blk(struct iommu_test *t)
{
	/* All the blk driver allocates lies between the two marks, so one identity mapping covers it. */
	t->ring_start = (u64)alloc(0, IOMMU_PAGE);
	blk_open(&t->b, 0, VIRTIO_F_ACCESS_PLATFORM, QUEUE_SIZE);
	t->ring_end = (u64)alloc(0, IOMMU_PAGE);
	if (!(t->b.dev.features & VIRTIO_F_ACCESS_PLATFORM))
		fail("the blk device does not offer ACCESS_PLATFORM (offered 0x%lx): its DMA would bypass the iommu",
		     t->b.dev.offered);
	if (t->ring_start < t->m.input_start || t->ring_end - 1 > t->m.input_end)
		fail("input_range 0x%lx-0x%lx does not hold the blk rings at 0x%lx-0x%lx", t->m.input_start,
		     t->m.input_end, t->ring_start, t->ring_end - 1);
	if (t->b.capacity < SCATTERED_SECTOR + DATA_BYTES / SECTOR_SIZE)
		fail("capacity %lu sectors: the test writes up to sector %lu", t->b.capacity,
		     SCATTERED_SECTOR + DATA_BYTES / SECTOR_SIZE);
	t->write_buf = alloc(DATA_BYTES, IOMMU_PAGE);
	t->read_buf = alloc(DATA_BYTES, IOMMU_PAGE);
	t->scatter_buf = alloc(DATA_BYTES, IOMMU_PAGE);
}

static void restart_blk(struct iommu_test *t, const char *what)
{
	const char *why;
	if (!blk_restart(&t->b, VIRTIO_F_ACCESS_PLATFORM, QUEUE_SIZE, &why))
		fail("%s: the blk device does not come back after a reset: %s", what, why);
}

/* Resets the blk device after a fault; any further fault records it caused are counted. */
static void recover_blk(struct iommu_test *t, const char *what)
{
	if (!virtio_reset(&t->b.dev))
		fail("%s: the blk device did not reset (Status never read 0)", what);
	struct virtio_iommu_fault f;
	while (iommu_event(&t->m, &f)) {
		data("extra_fault=%s %s", what, fault_text(&f));
		if (f.endpoint != t->ep)
			fail("%s: a fault for endpoint %u, which no device of this test is", what, f.endpoint);
		t->extra_faults++;
	}
}

/* One blk request with its data at `iova`: the status byte, IO_NEEDS_RESET, or -1 when nothing happened. */
static int blk_io(struct iommu_test *t, u32 type, u64 sector, u64 iova)
{
	struct blk_req *r = &t->b.reqs[0];
	struct vbuf bufs[BLK_MAX_BUFS];
	unsigned n = blk_chain(r, type, sector, (void *)(uintptr_t)iova, DATA_BYTES, BLK_SHAPE_PLAIN, bufs);
	if (!blk_submit(&t->b, r, bufs, n, 0))
		fail("blk: the queue is full with no request in flight");
	virtq_kick(t->b.q);
	struct virtq_done done;
	switch (virtq_wait_or_reset_default(t->b.q, &done)) {
	case VIRTQ_USED:
		return r->status;
	case VIRTQ_NEEDS_RESET:
		return IO_NEEDS_RESET;
	default:
		return -1;
	}
}

static void expect_io_ok(struct iommu_test *t, const char *what, u32 type, u64 sector, u64 iova)
{
	struct virtio_iommu_fault f;
	int st = blk_io(t, type, sector, iova);
	if (st == IO_NEEDS_RESET)
		fail("%s: the blk device stopped with DEVICE_NEEDS_RESET; %s", what,
		     iommu_event_wait(&t->m, &f) ? fault_text(&f) : "the iommu reported no fault");
	if (st != VIRTIO_BLK_S_OK)
		fail("%s: status %s, expected OK", what, blk_status_name(st));
	if (iommu_event(&t->m, &f))
		fail("%s: the request completed, but the iommu reported a fault (%s)", what, fault_text(&f));
}

/* A request that must fault: the blk device stops without completing it, and the iommu reports it. */
static void expect_fault(struct iommu_test *t, const struct fault_want *w, u64 iova)
{
	int st = blk_io(t, VIRTIO_BLK_T_IN, WRITTEN_SECTOR, iova);
	if (st != IO_NEEDS_RESET)
		fail("%s: the request ended %s, expected the blk device to stop with DEVICE_NEEDS_RESET", w->what,
		     blk_status_name(st));
	if (t->b.reqs[0].status != BLK_STATUS_UNWRITTEN || virtq_used_pending(t->b.q))
		fail("%s: the device completed the request that faulted", w->what);
	struct virtio_iommu_fault f;
	if (!iommu_event_wait(&t->m, &f))
		fail("%s: the blk device needs a reset, but the iommu reported no fault", w->what);
	data("fault=%s %s", w->what, fault_text(&f));
	if (f.endpoint != t->ep)
		fail("%s: the fault names endpoint %u, expected %u", w->what, f.endpoint, t->ep);
	if (f.reason >= 32 || !(REASON_BIT(f.reason) & w->reasons))
		fail("%s: fault reason %s (%u), expected %s", w->what, iommu_reason_name(f.reason), f.reason,
		     w->reasons_text);
	if ((f.flags & w->flags) != w->flags)
		fail("%s: fault flags 0x%x, expected 0x%x among them", w->what, f.flags, w->flags);
	bool has_address = (f.flags & VIRTIO_IOMMU_FAULT_F_ADDRESS) != 0;
	if (w->address && !has_address)
		fail("%s: the fault does not report its address (flags 0x%x)", w->what, f.flags);
	if (has_address && (f.address < w->lo || f.address > w->hi))
		fail("%s: the fault's address 0x%lx is outside 0x%lx-0x%lx", w->what, f.address, w->lo, w->hi);
	recover_blk(t, w->what);
}

/* An endpoint attached to no domain has all DMA denied: its first ring access faults. */
static void unattached(struct iommu_test *t, const char *what)
{
	unsigned reasons = REASON_BIT(VIRTIO_IOMMU_FAULT_R_DOMAIN) | REASON_BIT(VIRTIO_IOMMU_FAULT_R_MAPPING);
	struct fault_want w = { what, reasons, "DOMAIN or MAPPING", 0, false, t->ring_start, t->ring_end - 1 };
	expect_fault(t, &w, t->iova + IOVA_READ);
}

static void map(struct iommu_test *t, const char *what, u64 iova, u64 len, u64 phys, u32 flags)
{
	iommu_expect(what, iommu_map(&t->m, t->domain, iova, iova + len - 1, phys, flags), VIRTIO_IOMMU_S_OK);
}

static void attach_and_map(struct iommu_test *t)
{
	iommu_expect("attach", iommu_attach(&t->m, t->domain, t->ep), VIRTIO_IOMMU_S_OK);
	map(t, "map-rings", t->ring_start, t->ring_end - t->ring_start, t->ring_start, RW);
	map(t, "map-write-buffer", t->iova + IOVA_WRITE, DATA_BYTES, (u64)t->write_buf, VIRTIO_IOMMU_MAP_F_READ);
	map(t, "map-read-buffer", t->iova + IOVA_READ, DATA_BYTES, (u64)t->read_buf, RW);
	map(t, "map-scatter-page-0", t->iova + IOVA_SCATTER, IOMMU_PAGE, (u64)t->scatter_buf + IOMMU_PAGE,
	    VIRTIO_IOMMU_MAP_F_READ);
	map(t, "map-scatter-page-1", t->iova + IOVA_SCATTER + IOMMU_PAGE, IOMMU_PAGE, (u64)t->scatter_buf,
	    VIRTIO_IOMMU_MAP_F_READ);
	map(t, "map-read-only", t->iova + IOVA_READ_ONLY, DATA_BYTES, (u64)t->read_buf, VIRTIO_IOMMU_MAP_F_READ);
}

static void translated_io(struct iommu_test *t)
{
	fill(t->write_buf, WRITTEN_SEED, 0, DATA_BYTES);
	expect_io_ok(t, "write-through-iova", VIRTIO_BLK_T_OUT, WRITTEN_SECTOR, t->iova + IOVA_WRITE);
	memset(t->read_buf, 0, DATA_BYTES);
	expect_io_ok(t, "read-through-iova", VIRTIO_BLK_T_IN, WRITTEN_SECTOR, t->iova + IOVA_READ);
	check_pattern(t->read_buf, WRITTEN_SEED, "read-through-iova");
	/* The first IOVA page is the buffer's second physical page: the disk must get that one first. */
	fill(t->scatter_buf + IOMMU_PAGE, SCATTERED_SEED, 0, IOMMU_PAGE);
	fill(t->scatter_buf, SCATTERED_SEED, IOMMU_PAGE, IOMMU_PAGE);
	expect_io_ok(t, "write-across-two-mappings", VIRTIO_BLK_T_OUT, SCATTERED_SECTOR, t->iova + IOVA_SCATTER);
	memset(t->read_buf, 0, DATA_BYTES);
	expect_io_ok(t, "read-back-across-two-mappings", VIRTIO_BLK_T_IN, SCATTERED_SECTOR, t->iova + IOVA_READ);
	check_pattern(t->read_buf, SCATTERED_SEED, "write-across-two-mappings");
	data("written_sector=%u written_seed=%u scattered_sector=%u scattered_seed=%u bytes=%lu", WRITTEN_SECTOR,
	     WRITTEN_SEED, SCATTERED_SECTOR, SCATTERED_SEED, DATA_BYTES);
	say("iommu: blk data written and read back through translated IOVAs");
}

/* A blk read writes its data: into a READ-only mapping, and into an unmapped IOVA, it must fault. */
static void mapping_faults(struct iommu_test *t)
{
	u64 ro = t->iova + IOVA_READ_ONLY;
	struct fault_want read_only = { "read-into-read-only-mapping", REASON_BIT(VIRTIO_IOMMU_FAULT_R_MAPPING),
					"MAPPING", VIRTIO_IOMMU_FAULT_F_WRITE, true, ro, ro + DATA_BYTES - 1 };
	expect_fault(t, &read_only, ro);
	restart_blk(t, read_only.what);
	memset(t->read_buf, 0, DATA_BYTES);
	expect_io_ok(t, "read-after-the-fault", VIRTIO_BLK_T_IN, WRITTEN_SECTOR, t->iova + IOVA_READ);
	check_pattern(t->read_buf, WRITTEN_SEED, "read-after-the-fault");
	u64 r = t->iova + IOVA_READ;
	iommu_expect("unmap-read-buffer", iommu_unmap(&t->m, t->domain, r, r + DATA_BYTES - 1), VIRTIO_IOMMU_S_OK);
	struct fault_want unmapped = { "read-into-unmapped-iova", REASON_BIT(VIRTIO_IOMMU_FAULT_R_MAPPING), "MAPPING",
				       VIRTIO_IOMMU_FAULT_F_WRITE, true, r, r + DATA_BYTES - 1 };
	expect_fault(t, &unmapped, r);
}

static void detach(struct iommu_test *t)
{
	iommu_expect("unmap-the-rest", iommu_unmap(&t->m, t->domain, t->iova, t->iova + IOVA_SPAN - 1),
		     VIRTIO_IOMMU_S_OK);
	iommu_expect("unmap-rings", iommu_unmap(&t->m, t->domain, t->ring_start, t->ring_end - 1), VIRTIO_IOMMU_S_OK);
	iommu_expect("detach", iommu_detach(&t->m, t->domain, t->ep), VIRTIO_IOMMU_S_OK);
	restart_blk(t, "detach");
	unattached(t, "read-after-detach");
}

void test_iommu(void)
{
	static struct iommu_test t;
	u64 ep = cmdline_number("iommu_ep", ~0ull);
	if (ep > 0xffffffffull)
		fail("no iommu_ep=<the blk device's endpoint ID> on the command line");
	t.ep = (u32)ep;
	iommu_open(&t.m, VIRTIO_IOMMU_F_INPUT_RANGE | VIRTIO_IOMMU_F_DOMAIN_RANGE | VIRTIO_IOMMU_F_MAP_UNMAP |
				 VIRTIO_IOMMU_F_PROBE);
	check_config(&t);
	probe_msi(&t);
	open_blk(&t);
	unattached(&t, "read-before-attach");
	attach_and_map(&t);
	iommu_refusals(&t);
	restart_blk(&t, "attach");
	translated_io(&t);
	mapping_faults(&t);
	detach(&t);
	data("faults=%u extra_faults=%u requests=%u", t.m.faults, t.extra_faults, t.m.requests);
}
