#include "virtio-iommu.h"
#include "guest.h"
#include "memory.h"

#define REQUEST_QUEUE_SIZE 16
#define EVENT_QUEUE_SIZE 16
/* The request buffer: the largest fixed request, or PROBE's readable part with its properties and tail. */
#define REQUEST_BYTES 4096

static void post_event(struct iommu *m, struct virtio_iommu_fault *buf)
{
	memset(buf, 0, sizeof(*buf));
	if (virtq_post_buf(m->eventq, buf, sizeof(*buf), true, (u64)buf) < 0)
		fail("iommu: the eventq has no room for a fault record buffer");
}

static void read_config(struct iommu *m)
{
	m->page_size_mask = virtio_config64(&m->dev, VIRTIO_IOMMU_CFG_PAGE_SIZE_MASK);
	m->input_start = virtio_config64(&m->dev, VIRTIO_IOMMU_CFG_INPUT_START);
	m->input_end = virtio_config64(&m->dev, VIRTIO_IOMMU_CFG_INPUT_END);
	m->domain_start = virtio_config32_stable(&m->dev, VIRTIO_IOMMU_CFG_DOMAIN_START);
	m->domain_end = virtio_config32_stable(&m->dev, VIRTIO_IOMMU_CFG_DOMAIN_END);
	m->probe_size = virtio_config32_stable(&m->dev, VIRTIO_IOMMU_CFG_PROBE_SIZE);
}

void iommu_open(struct iommu *m, u64 required)
{
	memset(m, 0, sizeof(*m));
	struct virtio_setup setup = {
		.required = required,
		.queue_sizes = { REQUEST_QUEUE_SIZE, EVENT_QUEUE_SIZE },
		.defer_driver_ok = true,
	};
	virtio_open(&m->dev, VIRTIO_ID_IOMMU, 0, &setup);
	m->requestq = &m->dev.queues[IOMMU_REQUESTQ];
	m->eventq = &m->dev.queues[IOMMU_EVENTQ];
	m->req = alloc(REQUEST_BYTES, 64);
	m->events = alloc(sizeof(*m->events) * IOMMU_EVENT_BUFS, 64);
	/* The device has somewhere to put a fault from the moment it runs. */
	for (unsigned i = 0; i < IOMMU_EVENT_BUFS; i++)
		post_event(m, &m->events[i]);
	virtio_driver_ok(&m->dev);
	virtq_kick(m->eventq);
	read_config(m);
}

u8 iommu_request(struct iommu *m, const void *req, u32 len, u32 writable)
{
	if (len > REQUEST_BYTES || writable < sizeof(struct virtio_iommu_req_tail) || writable >= len)
		fail("iommu: a request of %u bytes with %u writable cannot be sent", len, writable);
	if (req != m->req)
		memcpy(m->req, req, len);
	u8 *status = m->req + len - sizeof(struct virtio_iommu_req_tail);
	*status = IOMMU_STATUS_UNWRITTEN;
	struct vbuf chain[2] = {
		{ m->req, len - writable, false },
		{ m->req + len - writable, writable, true },
	};
	if (virtq_post(m->requestq, chain, 2, (u64)m->req, 0) < 0)
		fail("iommu: the requestq is full with no request in flight");
	virtq_kick(m->requestq);
	struct virtq_done done;
	enum virtq_outcome got = virtq_wait_or_reset_default(m->requestq, &done);
	if (got != VIRTQ_USED)
		fail("iommu: request type %u %s", ((const struct virtio_iommu_req_head *)req)->type,
		     got == VIRTQ_NEEDS_RESET ? "set DEVICE_NEEDS_RESET on the iommu" : "was not answered in time");
	if (done.len > writable)
		fail("iommu: request type %u: used length %u is more than the %u writable bytes",
		     ((const struct virtio_iommu_req_head *)req)->type, done.len, writable);
	m->requests++;
	return *status;
}

u8 iommu_attach(struct iommu *m, u32 domain, u32 endpoint)
{
	struct virtio_iommu_req_attach r = { .head = { VIRTIO_IOMMU_T_ATTACH, { 0 } }, .domain = domain,
					     .endpoint = endpoint };
	return iommu_request(m, &r, sizeof(r), sizeof(r.tail));
}

u8 iommu_detach(struct iommu *m, u32 domain, u32 endpoint)
{
	struct virtio_iommu_req_detach r = { .head = { VIRTIO_IOMMU_T_DETACH, { 0 } }, .domain = domain,
					     .endpoint = endpoint };
	return iommu_request(m, &r, sizeof(r), sizeof(r.tail));
}

u8 iommu_map(struct iommu *m, u32 domain, u64 virt_start, u64 virt_end, u64 phys_start, u32 flags)
{
	struct virtio_iommu_req_map r = { .head = { VIRTIO_IOMMU_T_MAP, { 0 } }, .domain = domain,
					  .virt_start = virt_start, .virt_end = virt_end, .phys_start = phys_start,
					  .flags = flags };
	return iommu_request(m, &r, sizeof(r), sizeof(r.tail));
}

u8 iommu_unmap(struct iommu *m, u32 domain, u64 virt_start, u64 virt_end)
{
	struct virtio_iommu_req_unmap r = { .head = { VIRTIO_IOMMU_T_UNMAP, { 0 } }, .domain = domain,
					    .virt_start = virt_start, .virt_end = virt_end };
	return iommu_request(m, &r, sizeof(r), sizeof(r.tail));
}

u8 iommu_probe(struct iommu *m, u32 endpoint, const u8 **props)
{
	u32 fixed = sizeof(struct virtio_iommu_req_probe);
	u32 tail = sizeof(struct virtio_iommu_req_tail);
	if (m->probe_size == 0 || m->probe_size > REQUEST_BYTES - fixed - tail)
		fail("iommu: probe_size %u is not something this driver can offer a buffer for (1..%u)", m->probe_size,
		     REQUEST_BYTES - fixed - tail);
	memset(m->req, 0, fixed + m->probe_size + tail);
	struct virtio_iommu_req_probe *r = (struct virtio_iommu_req_probe *)m->req;
	r->head.type = VIRTIO_IOMMU_T_PROBE;
	r->endpoint = endpoint;
	*props = m->req + fixed;
	return iommu_request(m, m->req, fixed + m->probe_size + tail, m->probe_size + tail);
}

bool iommu_event(struct iommu *m, struct virtio_iommu_fault *out)
{
	struct virtq_done done;
	if (!virtq_get(m->eventq, &done))
		return false;
	struct virtio_iommu_fault *buf = (struct virtio_iommu_fault *)done.token;
	if (done.len < sizeof(*buf))
		fail("iommu: a fault record of %u bytes, expected %u", done.len, (u32)sizeof(*buf));
	*out = *buf;
	m->faults++;
	post_event(m, buf);
	virtq_kick(m->eventq);
	return true;
}

bool iommu_event_wait(struct iommu *m, struct virtio_iommu_fault *out)
{
	u64 deadline = deadline_ms(virtio_timeout_ms());
	while (!iommu_event(m, out)) {
		if (deadline_passed(deadline))
			return iommu_event(m, out);
		cpu_relax();
	}
	return true;
}

const char *iommu_status_name(u8 status)
{
	static const char *names[] = { "OK", "IOERR", "UNSUPP", "DEVERR", "INVAL", "RANGE", "NOENT", "FAULT", "NOMEM" };
	if (status < ARRAY_LEN(names))
		return names[status];
	return status == IOMMU_STATUS_UNWRITTEN ? "unwritten" : "unknown";
}

const char *iommu_reason_name(u8 reason)
{
	static const char *names[] = { "UNKNOWN", "DOMAIN", "MAPPING" };
	return reason < ARRAY_LEN(names) ? names[reason] : "other";
}
