#!/bin/sh
# The Linux user-space suite's guest side, run by busybox init as its sysinit action (so the shells in inittab
# start only after it). Each check prints `UT-OK <name> ...` or `UT-FAIL <name> ...` on the serial console; where
# the host has to act first (a balloon target, a vsock listener) it prints `UT-WAIT <step>` and reads a line from
# the console. `ut.mode=` on the kernel command line picks what runs: full (every device), quick (nothing: the
# shells and exit paths only), panic (a panic from user space), input (virtio-input keyboard and tablet), iommu
# (devices behind virtio-iommu), devices (gpu, input, scsi, crypto and snd: ut-devices.sh), browser (a shell on
# tty1 for the browser console).
export PATH=/bin:/sbin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /tmp /mnt/disk /mnt/share /dev/pts
mount -t tmpfs -o size=300m tmpfs /tmp
mount -t devpts devpts /dev/pts
ok() { echo "UT-OK $*"; }
fail() { echo "UT-FAIL $*"; }
wait_host() { echo "UT-WAIT $1"; read -r _; }
mode=$(sed -n 's/.*ut\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)
echo "UT-START mode=$mode uname=$(uname -r)"
# How the virtio devices were found: from ACPI they sit on the platform bus as LNRO0005:NN.
echo "UT-DEVICES virtio=$(ls /sys/bus/virtio/devices | wc -l) acpi=$(ls /sys/bus/platform/devices | grep -c LNRO0005)"

memtotal() { sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo; }
# Polls (guest side) until `test "$(memtotal)" $1 $2` holds; up to 10 minutes of emulated time.
await_mem() {
  i=0
  while [ $i -lt 1200 ]; do
    [ "$(memtotal)" "$1" "$2" ] && return 0
    sleep 0.5; i=$((i + 1))
  done
  return 1
}

check_rng() {
  n=$(head -c 65536 /dev/hwrng | wc -c)
  cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
  [ "$n" = 65536 ] && ok "rng bytes=$n current=$cur" || fail "rng bytes=$n current=$cur"
}

check_blk() {
  mount -t ext4 /dev/vda /mnt/disk || { fail "blk mount"; return; }
  head -c 3145728 /dev/urandom > /mnt/disk/random.bin
  printf 'tsvmm user space wrote this\n' > /mnt/disk/hello.txt
  mkdir -p /mnt/disk/dir && seq 1 5000 > /mnt/disk/dir/seq.txt
  sync
  r=$(sha256sum /mnt/disk/random.bin | cut -d' ' -f1)
  s=$(sha256sum /mnt/disk/dir/seq.txt | cut -d' ' -f1)
  umount /mnt/disk && ok "blk random=$r seq=$s" || fail "blk umount"
}

check_net() {
  ip link set lo up
  ip addr add "$1/24" dev eth0 && ip link set eth0 up || { fail "net eth0"; return; }
  head -c "$3" /dev/urandom > /tmp/tx.bin
  tx=$(sha256sum /tmp/tx.bin | cut -d' ' -f1)
  host=$(ut-xfer send "tcp:$2:5001" < /tmp/tx.bin) || { fail "net-tx ut-xfer"; return; }
  rm /tmp/tx.bin
  ok "net-tx guest=$tx host=$host"
  ut-xfer recv "tcp:$2:5002" > /tmp/rx.bin || { fail "net-rx ut-xfer"; return; }
  ok "net-rx guest=$(sha256sum /tmp/rx.bin | cut -d' ' -f1) bytes=$(wc -c < /tmp/rx.bin)"
  rm /tmp/rx.bin
}

check_vsock() {
  reply=$(echo "hello from guest user space" | ut-xfer send vsock:2:5000) || { fail "vsock-g2h"; return; }
  ok "vsock-g2h reply=$reply"
  ut-xfer echo 6000 > /tmp/echo.log 2>&1 &
  until grep -q listening /tmp/echo.log; do sleep 0.1; done
  wait_host vsock-h2g
  wait
  ok "vsock-h2g $(tail -1 /tmp/echo.log)"
}

check_fs() {
  mount -t virtiofs share /mnt/share || { fail "fs mount"; return; }
  cd /mnt/share || return
  echo "written by the guest" > new.txt && mv new.txt renamed.txt
  ln -s renamed.txt link-to-renamed && ln renamed.txt hard.txt
  printf '0123456789abcdef' > trunc.txt && truncate -s 4 trunc.txt
  chmod 0751 renamed.txt
  mkdir sub && echo deep > sub/deep.txt
  ls -l > listing.txt
  # Ways out of the share, from a real shell: each must stay inside the guest's own tree or fail.
  esc=""
  cat ../../secret.txt 2>/dev/null | grep -q SECRET && esc="$esc dotdot"
  cat planted-link/secret.txt 2>/dev/null | grep -q SECRET && esc="$esc planted"
  ln -s ../secret.txt out-link 2>/dev/null; cat out-link 2>/dev/null | grep -q SECRET && esc="$esc symlink"
  cd / && umount /mnt/share
  [ -z "$esc" ] && ok "fs ops done, no escape" || fail "fs escaped:$esc"
}

check_balloon() {
  before=$(memtotal)
  wait_host balloon-inflate
  await_mem -le $((before - 100 * 1024)) && ok "balloon-inflate before=$before after=$(memtotal)" \
    || fail "balloon-inflate before=$before now=$(memtotal)"
  wait_host balloon-deflate
  await_mem -ge $((before - 4096)) && ok "balloon-deflate now=$(memtotal)" || fail "balloon-deflate now=$(memtotal)"
}

case "$mode" in
  full)
    ip=$(sed -n 's/.*ut\.ip=\([0-9.]*\).*/\1/p' /proc/cmdline)
    peer=$(sed -n 's/.*ut\.peer=\([0-9.]*\).*/\1/p' /proc/cmdline)
    check_rng; check_blk; check_net "$ip" "$peer" 67108864; check_vsock; check_fs; check_balloon
    ;;
  iommu)
    # Devices behind virtio-iommu (topology from the ACPI VIOT): the driver bound, one group per endpoint with its
    # default domain type, then the same blk and net checks.
    ip=$(sed -n 's/.*ut\.ip=\([0-9.]*\).*/\1/p' /proc/cmdline)
    peer=$(sed -n 's/.*ut\.peer=\([0-9.]*\).*/\1/p' /proc/cmdline)
    echo "UT-IOMMU driver=$(ls /sys/bus/virtio/drivers/virtio_iommu 2>/dev/null | grep -c virtio) class=$(ls /sys/class/iommu | tr '\n' ' ')"
    for g in /sys/kernel/iommu_groups/*; do
      echo "UT-IOMMU-GROUP $(basename "$g") type=$(cat "$g/type") devices=$(ls "$g/devices" | tr '\n' ' ')"
    done
    check_blk; check_net "$ip" "$peer" 1048576
    ;;
  input)
    # virtio-input: both devices by name, then one key press from the host read through evdev (24-byte
    # input_event: 16 of time, then type, code and value).
    for f in /sys/class/input/input*/name; do echo "UT-INPUT-NAME $(cat "$f")"; done
    kbd=$(grep -l '^tsvmm virtio keyboard$' /sys/class/input/event*/device/name | sed -n 's#.*/\(event[0-9]*\)/device/name#\1#p')
    [ -n "$kbd" ] || fail "input no evdev node for the keyboard"
    dd if=/dev/input/$kbd of=/tmp/ev bs=24 count=1 2>/dev/null &
    reader=$!
    # The reader must hold the device open before the host presses the key: evdev keeps no events for later.
    # Polled for at most a minute of the guest's time.
    i=0
    until ls -l /proc/$reader/fd 2>/dev/null | grep -q "/dev/input/$kbd" || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
    wait_host input
    wait $reader
    echo "UT-OK input event=$(od -An -tx1 /tmp/ev | tr -d '\n')"
    ;;
  devices)
    . /etc/ut-devices.sh
    ;;
  browser)
    # A shell on tty1 for the browser console's suite: the virtio keyboard types into it through the VT, and fbcon
    # draws it on the gpu's scanout. setsid gives it its own session, so tty1 becomes its controlling terminal. The
    # host types once some process holds tty1 open (keys typed before that have no reader); polled for a minute.
    setsid sh -c 'exec sh </dev/tty1 >/dev/tty1 2>&1' &
    i=0
    until ls -l /proc/[0-9]*/fd 2>/dev/null | grep -q '/dev/tty1$' || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
    ls -l /proc/[0-9]*/fd 2>/dev/null | grep -q '/dev/tty1$' && tty1=open || tty1=closed
    fb=$(cat /sys/class/graphics/fb0/name 2>/dev/null)
    echo "UT-BROWSER tty1=$tty1 fb=$fb vt=$(cat /sys/class/tty/tty0/active 2>/dev/null)"
    ;;
  panic)
    echo "UT-PANIC now"
    echo c > /proc/sysrq-trigger
    ;;
esac
# The ACPI power button (acpi: on): busybox acpid reads its KEY_POWER through evdev and runs
# /etc/acpi/PWRF/00000080, which says so on the console and powers off through init.
if grep -qs '^Power Button$' /sys/class/input/*/name; then
  mkdir -p /etc/acpi/PWRF /var/run
  printf '#!/bin/sh\necho UT-POWER-BUTTON > /dev/console\npoweroff\n' > /etc/acpi/PWRF/00000080
  chmod 755 /etc/acpi/PWRF/00000080
  acpid -l /tmp/acpid.log && echo "UT-ACPID started"
fi
echo "UT-READY"
