#!/bin/busybox sh
# /sbin/init on the stock-kernel guest's virtio-blk root: report what the guest sees, then power off (through ACPI).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
root=$(awk '$2 == "/" { print $1 " " $3 }' /proc/mounts | tail -1)
virtio=$(ls /sys/bus/virtio/devices | wc -l)
acpi=$(ls /sys/bus/platform/devices | grep -c LNRO0005)
rng=$(head -c 4096 /dev/hwrng | wc -c)
echo "STOCK-USERSPACE root=$root virtio=$virtio acpi=$acpi hwrng=$rng"
echo "written from the stock kernel's user space" > /hello.txt
sync
poweroff -f
