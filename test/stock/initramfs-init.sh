#!/bin/busybox sh
# /init of the stock-kernel guest's initramfs: load the distribution kernel's virtio modules (the devices are found
# through ACPI: Debian builds virtio_mmio without command-line devices), then switch to the root on virtio-blk.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "STOCK-INITRAMFS release=$(uname -r)"
# crc32c_generic first: ext4 asks the crypto API for crc32c, which would need a modprobe from the kernel.
for m in virtio_mmio virtio_blk virtio_rng crc32c_generic ext4; do modprobe "$m" || echo "STOCK-FAIL modprobe $m"; done
fail() {
  echo "STOCK-FAIL $*; platform devices: $(ls /sys/bus/platform/devices | tr '\n' ' ')"
  poweroff -f
}
# Up to a minute of emulated time for the disk to appear.
i=0
while [ ! -b /dev/vda ] && [ "$i" -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/vda ] || fail "no /dev/vda"
mount -t ext4 /dev/vda /newroot || fail "mount /dev/vda"
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
