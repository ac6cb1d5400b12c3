/* virtio-iommu requests and fault events on top of the driver in virtio.h (virtio 1.2, section 5.13). */
#ifndef TSVMM_GUEST_VIRTIO_IOMMU_H
#define TSVMM_GUEST_VIRTIO_IOMMU_H

#include "virtio.h"

#define VIRTIO_IOMMU_F_INPUT_RANGE (1ull << 0)
#define VIRTIO_IOMMU_F_DOMAIN_RANGE (1ull << 1)
#define VIRTIO_IOMMU_F_MAP_UNMAP (1ull << 2)
#define VIRTIO_IOMMU_F_BYPASS (1ull << 3)
#define VIRTIO_IOMMU_F_PROBE (1ull << 4)

/* struct virtio_iommu_config */
#define VIRTIO_IOMMU_CFG_PAGE_SIZE_MASK 0
#define VIRTIO_IOMMU_CFG_INPUT_START 8
#define VIRTIO_IOMMU_CFG_INPUT_END 16
#define VIRTIO_IOMMU_CFG_DOMAIN_START 24
#define VIRTIO_IOMMU_CFG_DOMAIN_END 28
#define VIRTIO_IOMMU_CFG_PROBE_SIZE 32

#define VIRTIO_IOMMU_T_ATTACH 1
#define VIRTIO_IOMMU_T_DETACH 2
#define VIRTIO_IOMMU_T_MAP 3
#define VIRTIO_IOMMU_T_UNMAP 4
#define VIRTIO_IOMMU_T_PROBE 5

#define VIRTIO_IOMMU_S_OK 0
#define VIRTIO_IOMMU_S_IOERR 1
#define VIRTIO_IOMMU_S_UNSUPP 2
#define VIRTIO_IOMMU_S_DEVERR 3
#define VIRTIO_IOMMU_S_INVAL 4
#define VIRTIO_IOMMU_S_RANGE 5
#define VIRTIO_IOMMU_S_NOENT 6
#define VIRTIO_IOMMU_S_FAULT 7
#define VIRTIO_IOMMU_S_NOMEM 8
/* What a tail's status holds until the device writes it. */
#define IOMMU_STATUS_UNWRITTEN 0xff

#define VIRTIO_IOMMU_MAP_F_READ 1
#define VIRTIO_IOMMU_MAP_F_WRITE 2

#define VIRTIO_IOMMU_PROBE_T_NONE 0
#define VIRTIO_IOMMU_PROBE_T_RESV_MEM 1
#define VIRTIO_IOMMU_PROBE_T_MASK 0xfff
#define VIRTIO_IOMMU_RESV_MEM_T_RESERVED 0
#define VIRTIO_IOMMU_RESV_MEM_T_MSI 1

#define VIRTIO_IOMMU_FAULT_R_UNKNOWN 0
#define VIRTIO_IOMMU_FAULT_R_DOMAIN 1
#define VIRTIO_IOMMU_FAULT_R_MAPPING 2
#define VIRTIO_IOMMU_FAULT_F_READ 1
#define VIRTIO_IOMMU_FAULT_F_WRITE 2
#define VIRTIO_IOMMU_FAULT_F_ADDRESS 0x100

#define IOMMU_REQUESTQ 0
#define IOMMU_EVENTQ 1

struct virtio_iommu_req_head {
	u8 type;
	u8 reserved[3];
};

struct virtio_iommu_req_tail {
	u8 status;
	u8 reserved[3];
};

struct virtio_iommu_req_attach {
	struct virtio_iommu_req_head head;
	u32 domain;
	u32 endpoint;
	u32 flags;
	u8 reserved[4];
	struct virtio_iommu_req_tail tail;
};

struct virtio_iommu_req_detach {
	struct virtio_iommu_req_head head;
	u32 domain;
	u32 endpoint;
	u8 reserved[8];
	struct virtio_iommu_req_tail tail;
};

struct virtio_iommu_req_map {
	struct virtio_iommu_req_head head;
	u32 domain;
	u64 virt_start;
	u64 virt_end;
	u64 phys_start;
	u32 flags;
	struct virtio_iommu_req_tail tail;
};

struct virtio_iommu_req_unmap {
	struct virtio_iommu_req_head head;
	u32 domain;
	u64 virt_start;
	u64 virt_end;
	u8 reserved[4];
	struct virtio_iommu_req_tail tail;
};

/* The device-readable part of a PROBE; probe_size bytes of properties and the tail follow, device-writable. */
struct virtio_iommu_req_probe {
	struct virtio_iommu_req_head head;
	u32 endpoint;
	u8 reserved[64];
};

struct virtio_iommu_probe_property {
	u16 type;
	u16 length;
};

struct virtio_iommu_probe_resv_mem {
	struct virtio_iommu_probe_property head;
	u8 subtype;
	u8 reserved[3];
	u64 start;
	u64 end;
};

struct virtio_iommu_fault {
	u8 reason;
	u8 reserved[3];
	u32 flags;
	u32 endpoint;
	u8 reserved2[4];
	u64 address;
};

/* The layouts are the spec's byte for byte: every field is naturally aligned, so the compiler adds no padding. */
_Static_assert(sizeof(struct virtio_iommu_req_attach) == 24, "ATTACH is 24 bytes");
_Static_assert(sizeof(struct virtio_iommu_req_detach) == 24, "DETACH is 24 bytes");
_Static_assert(sizeof(struct virtio_iommu_req_map) == 40, "MAP is 40 bytes");
_Static_assert(sizeof(struct virtio_iommu_req_unmap) == 32, "UNMAP is 32 bytes");
_Static_assert(sizeof(struct virtio_iommu_req_probe) == 72, "PROBE's readable part is 72 bytes");
_Static_assert(sizeof(struct virtio_iommu_probe_resv_mem) == 24, "RESV_MEM is 24 bytes");
_Static_assert(sizeof(struct virtio_iommu_fault) == 24, "a fault record is 24 bytes");

/* Fault records kept posted on the eventq. */
#define IOMMU_EVENT_BUFS 8

struct iommu {
	struct virtio_dev dev;
	struct virtq *requestq;
	struct virtq *eventq;
	u64 page_size_mask;
	u64 input_start;
	u64 input_end;
	u32 domain_start;
	u32 domain_end;
	u32 probe_size;
	/* One request at a time: its readable part, then its writable part. */
	u8 *req;
	struct virtio_iommu_fault *events;
	/* Requests answered and fault records taken off the eventq. */
	u32 requests;
	u32 faults;
};

/* Finds the first virtio-iommu, negotiates `required` (besides VERSION_1), posts the event buffers, reads config. */
void iommu_open(struct iommu *m, u64 required);
/*
 * Sends one request of `len` bytes whose last `writable` bytes the device writes (the tail, for PROBE the
 * properties too) and waits for it. Returns the tail's status; the test fails when the device does not answer.
 */
u8 iommu_request(struct iommu *m, const void *req, u32 len, u32 writable);
u8 iommu_attach(struct iommu *m, u32 domain, u32 endpoint);
u8 iommu_detach(struct iommu *m, u32 domain, u32 endpoint);
/* Maps [virt_start, virt_end] (inclusive, as the spec has it) to phys_start on. */
u8 iommu_map(struct iommu *m, u32 domain, u64 virt_start, u64 virt_end, u64 phys_start, u32 flags);
u8 iommu_unmap(struct iommu *m, u32 domain, u64 virt_start, u64 virt_end);
/* PROBE: the status; the properties are left in *props (probe_size bytes). */
u8 iommu_probe(struct iommu *m, u32 endpoint, const u8 **props);
/* Takes the next fault record if the device has written one, posting its buffer again. */
bool iommu_event(struct iommu *m, struct virtio_iommu_fault *out);
/* iommu_event, polling for up to the request timeout. */
bool iommu_event_wait(struct iommu *m, struct virtio_iommu_fault *out);
const char *iommu_status_name(u8 status);
const char *iommu_reason_name(u8 reason);

#endif
