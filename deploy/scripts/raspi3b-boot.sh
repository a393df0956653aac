#!/usr/bin/env bash
# Boots Debian 12's arm64 kernel on QEMU's Raspberry Pi 3B machine (`qemu-system-aarch64 -M
# raspi3b`, the BCM2837 device tree from the kernel package) with a minimal initramfs that holds
# busybox and the cross-built agent. The agent enrols with the conductor on the host, goes online
# and drives the emulated BCM2835 GPIO block through the kernel's pinctrl-bcm2835 driver and
# libgpiod (/dev/gpiochip0): the real backend, no simulated chip.
#
#   deploy/scripts/raspi3b-boot.sh --url https://10.0.2.2:PORT --code CODE --ca CA.pem [--log FILE] [--timeout S]
#
#   deploy/scripts/raspi3b-boot.sh --guest-test BINARY [--url ... --code ... --ca ...] [--log FILE]
#
# --guest-test runs an arm64 test program (for example the cross-built agent_gpiod_chip_test) in
# the guest first, against the emulated /dev/gpiochip0, and prints "edgewire-init: guest test exit
# N"; without --url the guest then stops (a reset, which ends QEMU: -no-reboot).
#
# With --ca the agent enrols over TLS and checks the conductor's certificate against that CA (the
# certificate must name 10.0.2.2); without it, plain http:// with --insecure. The emulated board
# has no RTC: the host's time is handed over on the kernel command line (ew.time) so that
# certificates are valid inside the guest.
#
# The guest reaches the host through QEMU's user-mode network on the emulated USB Ethernet
# (dwc2 host controller + usb-net, CDC Ethernet): 10.0.2.2 is the host's 127.0.0.1, so a
# conductor bound to 127.0.0.1 is reachable there. The script runs QEMU in the foreground until
# the guest powers off or --timeout seconds pass; the serial console (ttyAMA0) goes to --log (or
# stdout). tests/bench/run_raspi3b.py drives a whole run against a real conductor.
#
# Needs: qemu-system-arm (QEMU 7.2), cpio, the arm64 sysroot (deploy/scripts/arm64-sysroot.sh),
# the arm64 agent (deploy/scripts/cross-build-arm64.sh) and a kernel root made once by
# `deploy/scripts/raspi3b-boot.sh --fetch-kernel` (mmdebstrap's extract variant, arm64
# linux-image-arm64 + busybox-static, into ./build-rpi-kernel; nothing is installed on the host).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KROOT=${EW_RPI_KERNEL_ROOT:-$ROOT/build-rpi-kernel}
SYSROOT=${EW_ARM64_SYSROOT:-$ROOT/build-arm64-sysroot}
AGENT=${EW_ARM64_AGENT:-$ROOT/build-arm64/device-agent/edgewire-agent}
URL="" CODE="" CA="" GUEST_TEST="" LOG="" TIMEOUT=600 FETCH=0
while [ $# -gt 0 ]; do
  case "$1" in
    --url) URL=$2; shift 2 ;;
    --code) CODE=$2; shift 2 ;;
    --ca) CA=$2; shift 2 ;;
    --guest-test) GUEST_TEST=$2; shift 2 ;;
    --log) LOG=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --fetch-kernel) FETCH=1; shift ;;
    *) echo "raspi3b-boot: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

if [ "$FETCH" = 1 ]; then
  if [ -f "$KROOT/.edgewire-kernel-complete" ]; then echo "raspi3b-boot: $KROOT is complete"; exit 0; fi
  command -v mmdebstrap >/dev/null || { echo "raspi3b-boot: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
  rm -rf "$KROOT"
  mmdebstrap --mode=root --variant=extract --architectures=arm64 --include=linux-image-arm64,busybox-static \
    --setup-hook='mkdir -p "$1/usr/lib" "$1/usr/bin" "$1/usr/sbin"; for d in lib bin sbin; do ln -sfn usr/$d "$1/$d"; done' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' bookworm "$KROOT"
  date -u +%FT%TZ > "$KROOT/.edgewire-kernel-complete"
  exit 0
fi

[ -n "$URL" ] && [ -n "$CODE" ] || [ -n "$GUEST_TEST" ] || { echo "raspi3b-boot: --url and --code (or --guest-test) are required" >&2; exit 2; }
case "$URL$CODE" in *[[:space:]\"\']*) echo "raspi3b-boot: --url/--code must not contain spaces or quotes" >&2; exit 2 ;; esac
command -v qemu-system-aarch64 >/dev/null || { echo "raspi3b-boot: qemu-system-aarch64 is missing (apt-get install qemu-system-arm)" >&2; exit 1; }
[ -f "$KROOT/.edgewire-kernel-complete" ] || { echo "raspi3b-boot: no kernel root at $KROOT (run with --fetch-kernel first)" >&2; exit 1; }
[ -f "$SYSROOT/.edgewire-sysroot-complete" ] || { echo "raspi3b-boot: no arm64 sysroot at $SYSROOT (deploy/scripts/arm64-sysroot.sh)" >&2; exit 1; }
[ -x "$AGENT" ] || { echo "raspi3b-boot: no arm64 agent at $AGENT (deploy/scripts/cross-build-arm64.sh)" >&2; exit 1; }

KVER=$(basename "$(ls -d "$KROOT"/usr/lib/modules/*)")
KERNEL="$KROOT/boot/vmlinuz-$KVER"
DTB="$KROOT/usr/lib/linux-image-$KVER/broadcom/bcm2837-rpi-3-b.dtb"
MODDIR="$KROOT/usr/lib/modules/$KVER/kernel"

WORK=$(mktemp -d /tmp/ew-raspi3b.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
INITRD="$WORK/initrd"
mkdir -p "$INITRD"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib,modules,var/lib/edgewire,usr/bin}
cp "$KROOT/usr/bin/busybox" "$INITRD/bin/busybox"
for applet in date sh mount mkdir insmod ip cat sleep reboot ls echo grep sed dmesg ifconfig route; do
  ln -s busybox "$INITRD/bin/$applet"
done
# The agent links libc, libm and the dynamic loader only (cmake/agent_static.cmake).
cp "$AGENT" "$INITRD/usr/bin/edgewire-agent"
aarch64-linux-gnu-strip "$INITRD/usr/bin/edgewire-agent" 2>/dev/null || strip -s "$INITRD/usr/bin/edgewire-agent" 2>/dev/null || true
mkdir -p "$INITRD/lib/aarch64-linux-gnu"
for lib in ld-linux-aarch64.so.1 libc.so.6 libm.so.6; do
  cp -L "$SYSROOT/usr/lib/aarch64-linux-gnu/$lib" "$INITRD/lib/aarch64-linux-gnu/$lib"
done
ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 "$INITRD/lib/ld-linux-aarch64.so.1"
# A test program and the shared libraries it needs, found in the sysroot (NEEDED, transitively).
copy_needed() {
  local lib path
  for lib in $(aarch64-linux-gnu-readelf -d "$1" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    [ -e "$INITRD/lib/aarch64-linux-gnu/$lib" ] && continue
    path="$SYSROOT/usr/lib/aarch64-linux-gnu/$lib"
    [ -e "$path" ] || { echo "raspi3b-boot: $lib (needed by $1) is not in the sysroot" >&2; exit 1; }
    cp -L "$path" "$INITRD/lib/aarch64-linux-gnu/$lib"
    copy_needed "$path"
  done
}
if [ -n "$GUEST_TEST" ]; then
  [ -x "$GUEST_TEST" ] || { echo "raspi3b-boot: no test program at $GUEST_TEST" >&2; exit 1; }
  cp "$GUEST_TEST" "$INITRD/usr/bin/guest-test"
  aarch64-linux-gnu-strip "$INITRD/usr/bin/guest-test" 2>/dev/null || true
  copy_needed "$GUEST_TEST"
fi
ENROL_TRUST="--insecure"
if [ -n "$CA" ]; then
  mkdir -p "$INITRD/etc/edgewire"
  cp "$CA" "$INITRD/etc/edgewire/ca.pem"
  ENROL_TRUST="--ca-file /etc/edgewire/ca.pem"
fi
echo "$ENROL_TRUST" > "$INITRD/etc/enrol-trust"
# USB host (dwc2 and its PHY), then CDC Ethernet for QEMU's usb-net, in dependency order; the
# BCM2835 watchdog is the board's restart handler (`reboot -f` ends QEMU, which runs -no-reboot).
MODULES="usb/common/usb-common usb/core/usbcore usb/roles/roles usb/gadget/udc/udc-core usb/phy/phy-generic
usb/dwc2/dwc2 net/mii net/usb/usbnet net/usb/cdc_ether watchdog/bcm2835_wdt"
for m in $MODULES; do cp "$MODDIR/drivers/$m.ko" "$INITRD/modules/"; done

cat > "$INITRD/etc/agent.toml" <<'EOF'
[agent]
credential_path = "/var/lib/edgewire/credential.json"
reconnect_initial_ms = 500
reconnect_max_ms = 5000
[functions]
runtime = "none"
state_dir = "/var/lib/edgewire/functions"
work_dir = "/run/edgewire/containers"
[flows]
state_dir = "/var/lib/edgewire/flows"
[spool]
dir = "/var/lib/edgewire/spool"
[log]
level = "info"
[[gpio.chip]]
name = "gpiochip0"
backend = "libgpiod"
device = "/dev/gpiochip0"
EOF

cat > "$INITRD/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
echo "edgewire-init: kernel $(cat /proc/sys/kernel/osrelease) on $(cat /proc/device-tree/model 2>/dev/null)"
for m in usb-common usbcore roles udc-core phy-generic dwc2 mii usbnet cdc_ether bcm2835_wdt; do
  insmod /modules/$m.ko || echo "edgewire-init: insmod $m failed"
done
t=$(sed -n 's/.*ew\.time=\([0-9]*\).*/\1/p' /proc/cmdline)
[ -n "$t" ] && date -s "@$t" > /dev/null
if [ -x /usr/bin/guest-test ]; then
  echo "edgewire-init: guest test starts"
  EW_GPIO_TEST_CHIP=/dev/gpiochip0 /usr/bin/guest-test --gtest_color=no
  echo "edgewire-init: guest test exit $?"
fi
url=$(sed -n 's/.*ew\.url=\([^ ]*\).*/\1/p' /proc/cmdline)
code=$(sed -n 's/.*ew\.code=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -z "$url" ]; then reboot -f; fi
ip link set lo up
i=0
while [ ! -e /sys/class/net/usb0 ] && [ ! -e /sys/class/net/eth0 ] && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done
nic=$(ls /sys/class/net | grep -v '^lo$' | head -n1)
echo "edgewire-init: network interface '$nic' after ${i}s"
ip link set "$nic" up
ip addr add 10.0.2.15/24 dev "$nic"
ip route add default via 10.0.2.2
ls -l /dev/gpiochip* 2>&1 | sed 's/^/edgewire-init: /'
echo "edgewire-init: enrolling with $url ($(cat /etc/enrol-trust)) at $(date -u +%FT%TZ)"
/usr/bin/edgewire-agent enrol --conductor "$url" --code "$code" $(cat /etc/enrol-trust) --credential /var/lib/edgewire/credential.json
echo "edgewire-init: enrol exit $?"
/usr/bin/edgewire-agent run --config /etc/agent.toml
echo "edgewire-init: agent exit $?"
reboot -f
EOF
chmod +x "$INITRD/init"
(cd "$INITRD" && find . | cpio -o -H newc --quiet | gzip -1) > "$WORK/initrd.cpio.gz"

args=(-M raspi3b -m 1G -nographic -no-reboot
      -kernel "$KERNEL" -dtb "$DTB" -initrd "$WORK/initrd.cpio.gz"
      -append "console=ttyAMA0,115200 rdinit=/init panic=-1 loglevel=6 dwc_otg.lpm_enable=0 ${URL:+ew.url=$URL ew.code=$CODE }ew.time=$(date +%s)"
      -netdev user,id=net0 -device usb-net,netdev=net0
      -serial mon:stdio)
echo "raspi3b-boot: qemu-system-aarch64 ${args[*]}" >&2
if [ -n "$LOG" ]; then
  timeout --foreground "$TIMEOUT" qemu-system-aarch64 "${args[@]}" < /dev/null > "$LOG" 2>&1 || rc=$?
else
  timeout --foreground "$TIMEOUT" qemu-system-aarch64 "${args[@]}" < /dev/null || rc=$?
fi
exit "${rc:-0}"
