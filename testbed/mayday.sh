# Guest script of the "mayday" scenario (wqi.ko loaded with scenarios=mayday).
# Kernel threads, kworkers included, cannot be created while nr_threads reaches
# kernel.threads-max: lower it to the current count, queue the blockers, wait
# while the pool sends maydays to the rescuer, and restore the limit.  Between
# lowering and restoring, nothing here may fork: builtins only.
n=$(cut -d' ' -f4 /proc/loadavg); n=${n#*/}
old=$(cat /proc/sys/kernel/threads-max)
rm -f /tmp/wqi.fifo; mkfifo /tmp/wqi.fifo
echo "threads-max $old -> $n"
echo $n > /proc/sys/kernel/threads-max
echo 1 > /sys/module/wqi/parameters/mayday_go
read -t ${WQI_MAYDAY_HOLD:-4} x <> /tmp/wqi.fifo
echo $old > /proc/sys/kernel/threads-max
echo "threads-max restored"
