#!/bin/sh
# Boots the project's guest kernel under QEMU microvm (the reference monitor) and reports how long it took to
# reach `Run /init`. Usage:
#   scripts/guest-qemu-boot.sh [KERNEL [INITRD [LOG [TIMEOUT_S]]]]
# KERNEL and INITRD default to the cached @guest/vmlinux and @guest/initramfs.cpio (`tsvmm guest build` first).
# Extra QEMU arguments can be given in $QEMU_EXTRA (e.g. "-smp 2"), extra kernel arguments in $GUEST_APPEND.
# Exit status: 0 when `Run /init` was seen, 1 otherwise.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
guest_path() { node "$here/bin/tsvmm.js" guest path "$1"; }
kernel=${1:-$(guest_path vmlinux)}
initrd=${2:-$(guest_path initramfs.cpio)}
log=${3:-${TMPDIR:-/tmp}/tsvmm-qemu-boot.log}
limit=${4:-180}
# The cmdline ENVIRONMENT.md found necessary on kvm_pvm hosts (features the instruction emulator cannot run).
append="console=ttyS0 noxsave clearcpuid=308,295,151,154 nopti mitigations=off tsc=reliable no_timer_check lpj=5000000"
append="$append ${GUEST_APPEND:-}"

start=$(date +%s.%N)
# shellcheck disable=SC2086 # QEMU_EXTRA is a list of arguments
timeout "$limit" qemu-system-x86_64 -M microvm,acpi=off -enable-kvm -cpu qemu64,vendor=GenuineIntel -m 256 \
  -nodefaults -no-user-config -display none -serial stdio -no-reboot ${QEMU_EXTRA:-} \
  -kernel "$kernel" -initrd "$initrd" -append "$append" >"$log" 2>&1 &
qemu=$!
seen=""
while kill -0 "$qemu" 2>/dev/null; do
  if grep -q "Run /init" "$log"; then seen=$(date +%s.%N); break; fi
  sleep 0.5
done
if [ -z "$seen" ] && grep -q "Run /init" "$log"; then seen=$(date +%s.%N); fi
if [ -n "$seen" ]; then
  # Leave the kernel a few seconds to print what follows /init (on kvm_pvm hosts: init's death).
  sleep "${GUEST_LINGER_S:-5}"
  kill "$qemu" 2>/dev/null || true
fi
wait "$qemu" 2>/dev/null || true
if [ -n "$seen" ]; then
  echo "Run /init after $(echo "$seen - $start" | bc) s (log: $log)"
  exit 0
fi
echo "no 'Run /init' within ${limit}s (log: $log); last lines:"
tail -n 20 "$log"
exit 1
