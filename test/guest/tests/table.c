#include "tests.h"

void test_rng(void);
void test_console(void);
void test_blk(void);
void test_torture(void);
void test_exits(void);
void test_blkbench(void);
void test_fault(void);
void test_spin(void);
void test_balloon(void);
void test_fs(void);
void test_vsock(void);
void test_net(void);
void test_netbench(void);
void test_iommu(void);
void test_gpu(void);
void test_input(void);
void test_scsi(void);
void test_crypto(void);
void test_snd(void);

const struct guest_test guest_tests[] = {
	{ "rng", test_rng },
	{ "console", test_console },
	{ "blk", test_blk },
	{ "torture", test_torture },
	{ "exits", test_exits },
	{ "blkbench", test_blkbench },
	{ "fault", test_fault },
	{ "balloon", test_balloon },
	{ "spin", test_spin },
	{ "fs", test_fs },
	{ "vsock", test_vsock },
	{ "net", test_net },
	{ "netbench", test_netbench },
	{ "iommu", test_iommu },
	{ "gpu", test_gpu },
	{ "input", test_input },
	{ "scsi", test_scsi },
	{ "crypto", test_crypto },
	{ "snd", test_snd },
};

const unsigned guest_test_count = ARRAY_LEN(guest_tests);
