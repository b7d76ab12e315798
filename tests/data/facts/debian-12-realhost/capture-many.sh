set -e
# private mount + network namespaces: nothing here is visible to or changes the machine
base=$(mktemp -d /tmp/pdcap-mnt.XXXX)
for i in $(seq 1 40); do mkdir -p "$base/data$i"; mount --bind /var/tmp "$base/data$i"; done
mkdir -p "$base/my disk" "$base/ram share" "$base/ro"
for i in 1 2 3 4 5 6; do
  truncate -s 8M "$base/img$i"; mkfs.ext4 -q -F "$base/img$i"
  d="$base/vol $i"; [ $i = 3 ] && d="$base/backups (old)"; mkdir -p "$d"
  mount -o loop "$base/img$i" "$d"
done
mount --bind /var/tmp "$base/my disk"
mount -t ramfs "my ram" "$base/ram share"
mount -t ramfs none "$base/ro"
for i in $(seq 1 48); do ip link add "dummy$i" type veth peer name "peer$i"; ip link set "dummy$i" up; ip link set "peer$i" up; ip addr add "10.200.$i.1/24" dev "dummy$i"; done
ip link add br-lan type bridge; ip link set br-lan up; ip addr add 192.168.77.1/24 dev br-lan; ip addr add fd00:77::1/64 dev br-lan
ip link add link dummy1 name dummy1.100 type vlan id 100 2>/dev/null && ip link set dummy1.100 up || true
ip link add veth-a type veth peer name veth-b; ip link set veth-a master br-lan; ip link set veth-a up; ip link set veth-b up
{ ip tuntap add mode tun name tun0 && ip link set tun0 up && ip addr add 10.8.0.1/24 dev tun0; } 2>/dev/null || true
ip link set lo up
ip link set dummy2 down
ip link add macvlan0 link dummy3 type macvlan 2>/dev/null || true
ip -6 addr add 2001:db8::5/64 dev dummy4
LANG=C LC_ALL=C sh /work/wt/aptparse/app/drivers/scripts/linux_facts.sh
rm -f /dev/null.pd 2>/dev/null; :
