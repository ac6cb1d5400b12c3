# The devices suite's guest side (ut.mode=devices), sourced by ut.sh: virtio-gpu through DRM and fbdev, the
# virtio keyboard and tablet through evdev, a virtio-scsi disk, virtio-crypto through AF_ALG, and virtio-snd
# through ALSA's PCM ioctls. Lines are UT-OK/UT-FAIL as in ut.sh, and UT-WAIT where the host acts (a screenshot,
# injected input) before the guest goes on.

# The evdev node (eventN) of the input device called $1.
evnode() {
  grep -l "^$1\$" /sys/class/input/event*/device/name 2>/dev/null | sed -n 's#.*/\(event[0-9]*\)/device/name#\1#p'
}

# Runs ut-ev on input device $1 for $2 events in the background, its output in $3, and returns once it has the
# device open (evdev keeps nothing for a reader that opens later).
start_reader() {
  node=$(evnode "$1")
  [ -n "$node" ] || { fail "input no evdev node for $1"; return 1; }
  ut-ev "/dev/input/$node" "$2" 600 > "$3" 2>&1 &
  i=0
  until grep -q '^ev-name' "$3" || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
}

dev_gpu() {
  [ -e /dev/fb0 ] || { fail "gpu no /dev/fb0 (drivers: $(ls /sys/bus/virtio/drivers | tr '\n' ' '))"; return; }
  # The kernel's log on the screen: fbcon draws what tty1 gets.
  dmesg | tail -n 28 > /dev/tty1
  echo "UT-GPU fb=$(cat /sys/class/graphics/fb0/name) size=$(cat /sys/class/graphics/fb0/virtual_size) dri=$(ls /dev/dri | tr '\n' ' ')"
  wait_host gpu-fbcon
  # ut-fb puts the console in graphics mode first, so that only the pattern is on the screen.
  ut-fb fb 5 || { fail "gpu fb pattern"; return; }
  wait_host gpu-fb
  # A mode change through KMS: ut-fb holds the mode until the host sends a line, then the kernel restores fbdev's.
  ut-fb kms 320 240 9 || { fail "gpu kms"; return; }
  ok "gpu fb and kms"
}

dev_input() {
  start_reader 'tsvmm virtio keyboard' 4 /tmp/kbd.log || return
  wait_host input-keys
  wait
  sed 's/^/UT-EV-KBD /' /tmp/kbd.log
  start_reader 'tsvmm virtio tablet' 3 /tmp/tab.log || return
  wait_host input-pointer
  wait
  sed 's/^/UT-EV-TAB /' /tmp/tab.log
  wait_host input-sysrq
  ok "input"
}

dev_scsi() {
  d=/sys/block/sda/device
  [ -e "$d" ] || { fail "scsi no sda"; return; }
  # VPD page 0x80: a 4-byte header, then the unit serial number.
  echo "UT-SCSI vendor=$(cat $d/vendor) model=$(cat $d/model) serial=$(tail -c +5 $d/vpd_pg80) by-id=$(ls /sys/block/sda/device/scsi_disk)"
  mount -t ext4 /dev/sda /mnt/disk || { fail "scsi mount"; return; }
  head -c 8388608 /dev/urandom > /mnt/disk/big.bin
  printf 'written over virtio-scsi\n' > /mnt/disk/hello.txt
  sync
  r=$(sha256sum /mnt/disk/big.bin | cut -d' ' -f1)
  wait_host scsi-written
  rm /mnt/disk/big.bin
  sync
  t=$(fstrim -v /mnt/disk) || { fail "scsi fstrim"; return; }
  umount /mnt/disk && ok "scsi big=$r trim=$(echo "$t" | tr ' ' '_')" || fail "scsi umount"
}

dev_crypto() {
  # The driver's algorithm is self-tested by the crypto manager when it registers, on a kernel thread: wait for
  # the verdict.
  i=0
  while [ $i -lt 1200 ]; do
    st=$(grep -A6 '^driver *: virtio_crypto_aes_cbc$' /proc/crypto | sed -n 's/^selftest *: //p')
    [ -n "$st" ] && [ "$st" != unknown ] && break
    sleep 0.5; i=$((i + 1))
  done
  echo "UT-CRYPTO-PROC $(grep -B1 -A7 '^driver *: virtio_crypto_aes_cbc$' /proc/crypto | tr -s ' ' | tr '\n' ';')"
  k128=2b7e151628aed2a6abf7158809cf4f3c
  k256=603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4
  iv=000102030405060708090a0b0c0d0e0f
  pt=6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51
  # Short: every byte goes out on the serial console twice, and a port write is costly under emulation.
  rnd=$(head -c 256 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
  for key in $k128 $k256; do
    for data in $pt $rnd; do
      ct=$(ut-alg virtio_crypto_aes_cbc enc $key $iv $data) || { fail "crypto enc"; return; }
      back=$(ut-alg virtio_crypto_aes_cbc dec $key $iv $ct) || { fail "crypto dec"; return; }
      [ "$back" = "$data" ] || { fail "crypto round trip key=$key"; return; }
      echo "UT-CRYPTO key=$key iv=$iv in=$data out=$ct"
    done
  done
  ok "crypto selftest=$st"
}

dev_snd() {
  p=$(ls /dev/snd/pcmC*p 2>/dev/null | head -1)
  c=$(ls /dev/snd/pcmC*c 2>/dev/null | head -1)
  echo "UT-SND cards=$(cat /proc/asound/cards | tr -s ' ' | tr '\n' ';') playback=$p capture=$c"
  [ -n "$p" ] && [ -n "$c" ] || { fail "snd pcm nodes"; return; }
  play=$(ut-pcm play "$p" 2 440 48000 2) || { fail "snd play"; return; }
  echo "UT-SND-PLAY $play"
  # Into a file, not a pipe: a slow reader would let the capture buffer overrun.
  ut-pcm capture "$c" 24000 48000 2 > /tmp/cap.raw 2>/tmp/cap.err || { fail "snd capture: $(cat /tmp/cap.err)"; return; }
  ok "snd capture=$(sha256sum /tmp/cap.raw | cut -d' ' -f1) $(cat /tmp/cap.err)"
}

# The ones the host only reads about first, then those it acts in.
dev_crypto; dev_snd; dev_scsi; dev_input; dev_gpu
