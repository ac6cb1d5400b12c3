#!/bin/busybox sh
# /init of the test host's L1 initramfs (test/host-vm/prepare.ts packs it; a change here makes a new initramfs).
#
# The L1 kernel is Debian's, its modules come over 9p (tag kmods), the root is the outer machine's own / over 9p
# (tag hostroot, read-only) under an overlay whose upper layer is a throwaway ext4 disk, and the checkout is
# mounted read-write at its own path (tag share). /ctl (tag ctl) carries the command in and its status out.
# Kernel and init messages go to ttyS0 (kept in a file); the command's output goes to ttyS1 (the runner's stdout).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "l1-init[$(cut -d' ' -f1 /proc/uptime)]: $*"; }
# Status 125 means "L1 could not run the command" (the runner tells it from the command's own failures).
give_up() { say "$*"; [ -d /ctl ] && { echo 125 > /ctl/rc; sync; }; poweroff -f; }

for m in virtio_pci 9pnet_virtio 9p overlay virtio_blk crc32c_generic ext4; do modprobe "$m" || say "modprobe $m failed"; done
P9=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /ctl /lower /upper /newroot
mount -t 9p -o "$P9" ctl /ctl || give_up "the ctl share is missing"
mount -t 9p -o "$P9,ro" kmods /lib/modules || give_up "the kmods share is missing"
# cache=loose: the outer root does not change under a run, and uncached 9p lookups cost a round trip each.
mount -t 9p -o "$P9,ro,cache=loose" hostroot /lower || give_up "the hostroot share is missing"
# ext4, not tmpfs: tmpfs lacks FALLOC_FL_ZERO_RANGE, which virtio-blk's write-zeroes uses on test images.
mount -t ext4 -o noatime /dev/vda /upper || give_up "the scratch disk /dev/vda did not mount"
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || give_up "overlay failed"

R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm $R/lib/modules $R/tmp
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mount -t tmpfs tmpfs $R/run
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
mount --bind /lib/modules $R/lib/modules
chmod 1777 $R/tmp
ip link set lo up
hostname tsvmm-l1

modprobe kvm_amd || give_up "modprobe kvm_amd failed: $(dmesg | grep -i -E 'kvm|svm' | tail -3)"
# Taps (virtio-net tests) and FUSE mounts (the virtio-fs host-client test).
for m in tun fuse; do modprobe "$m" || say "modprobe $m failed"; done
[ -c $R/dev/kvm ] || give_up "no /dev/kvm after loading kvm_amd"
{ grep -m1 '^model name' /proc/cpuinfo; grep -o -w -m1 -E 'svm' /proc/cpuinfo; grep -o -w -m1 npt /proc/cpuinfo
  dmesg | grep -i -E 'kvm|svm'; } > /ctl/l1-info 2>&1

share=$(cat /ctl/share)
mkdir -p "$R$share"
mount -t 9p -o "$P9,cache=mmap" share "$R$share" || give_up "the checkout share did not mount at $share"
cp /ctl/cmd $R/run/l1-cmd
stty -F /dev/ttyS1 raw -echo 2>/dev/null
# A look inside for whoever waits outside: what runs in L1, thread by thread, and the busiest by CPU (a stalled guest's vCPU
# thread shows whether it spins or sleeps), every 15 s (the runner prints it when a run times out).
( while sleep 15; do { ps -T -o pid,ppid,stat,args; top -b -n 1 | head -20; } > /ctl/ps.tmp 2>&1 && mv /ctl/ps.tmp /ctl/ps; done ) &
say "command starts"
{ chroot $R /bin/sh /run/l1-cmd </dev/null 2>&1; echo $? > /tmp/rc; } | cat > /dev/ttyS1
say "command ended with status $(cat /tmp/rc)"
dmesg > /ctl/dmesg
cp /tmp/rc /ctl/rc
sync
umount "$R$share" 2>/dev/null
umount /ctl 2>/dev/null
poweroff -f
