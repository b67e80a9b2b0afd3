#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# /init of the test bed's initramfs (busybox).  Kernel command line options:
#   wqi.hostroot=TAG   mount the host's root (virtiofs TAG) read-only on /host,
#                      with /proc, /sys and /dev bound into it (the host's /tmp stays
#                      visible: a checkout may live there)
#   wqi.run=BASE64     a shell script to run before the guest reports ready
#   wqi.agent=1        serve commands on the virtio port "wqi.agent"
# The host waits for WQI-GUEST-READY on the console.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
echo 1 > /proc/sys/kernel/printk_devkmsg 2>/dev/null

arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^wqi\.$1=//p"; }

while read -r m; do
	[ -n "$m" ] && { insmod "/modules/$m" || echo "WQI-GUEST: insmod $m failed"; }
done < /modules/load

tag=$(arg hostroot)
if [ -n "$tag" ]; then
	if mount -t virtiofs -o ro "$tag" /host; then
		for d in proc sys dev; do mount --bind /$d /host/$d; done
	else
		echo "WQI-GUEST: cannot mount the host root"
	fi
fi

run=$(arg run)
[ -n "$run" ] && echo "$run" | base64 -d > /tmp/run.sh && sh /tmp/run.sh

# The agent: each request is one line "ID BASE64-SCRIPT"; the reply is a line
# "WQI-RESULT ID EXIT-CODE LENGTH" followed by LENGTH bytes of output.
agent() {
	while :; do
		# A virtio port can be open only once: read and write on one descriptor.
		if exec 3<>"$1"; then
			while read -r id script <&3; do
				echo "$script" | base64 -d > /tmp/agent.sh
				sh /tmp/agent.sh > /tmp/agent.out 2>&1 < /dev/null
				rc=$?
				{ echo "WQI-RESULT $id $rc $(wc -c < /tmp/agent.out)"; cat /tmp/agent.out; } >&3
			done
			exec 3>&-
		fi
		sleep 0.2	# the host is not connected
	done
}
if [ "$(arg agent)" = 1 ]; then
	port=
	for p in /sys/class/virtio-ports/*; do
		[ "$(cat "$p/name" 2>/dev/null)" = wqi.agent ] && port=/dev/${p##*/}
	done
	if [ -n "$port" ]; then
		agent "$port" &
	else
		echo "WQI-GUEST: no virtio port wqi.agent"
	fi
fi

echo "WQI-GUEST-READY uptime $(cut -d' ' -f1 /proc/uptime)"
while :; do sleep 3600; done
