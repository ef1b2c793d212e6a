#!/usr/bin/env bash
# A throwaway S3 server for deliver's integration tests: a single-node Ceph cluster (one mon, one memstore OSD)
# with radosgw on 127.0.0.1:$S3_PORT, a test user with fixed keys and a bucket.
#
#   scripts/s3-server.sh start|stop|status|env
#
# Environment: S3_PORT (default 7480), S3_DIR (state, default /tmp/deliver-s3-$S3_PORT),
# S3_MON_PORT (default S3_PORT+100), S3_BUCKET (default deliver-test).
# Data lives in RAM (memstore) and is gone after `stop`. Several instances can run side by side with distinct
# S3_PORT/S3_DIR. Needs ceph-mon, ceph-osd and radosgw (installed with apt-get when missing and running as root).
set -euo pipefail

S3_PORT="${S3_PORT:-7480}"
S3_DIR="${S3_DIR:-/tmp/deliver-s3-$S3_PORT}"
S3_MON_PORT="${S3_MON_PORT:-$((S3_PORT + 100))}"
S3_BUCKET="${S3_BUCKET:-deliver-test}"
# Fixed test credentials. The secret contains / + = on purpose: deliver must parse them in s3://KEY@SECRET:bucket.
S3_ACCESS_KEY="DELIVERTESTACCESSKEY"
S3_SECRET_KEY="deliver/Test+Secret=Key/0123456789abcdef"
REGION="us-east-1"

CONF="$S3_DIR/ceph.conf"
export CEPH_CONF="$CONF"

die() { echo "s3-server: $*" >&2; exit 1; }

ensure_packages() {
  local missing=()
  command -v ceph-mon >/dev/null || missing+=(ceph-mon)
  command -v ceph-osd >/dev/null || missing+=(ceph-osd)
  command -v radosgw >/dev/null || missing+=(radosgw)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: install them with: sudo apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw curl"
  echo "s3-server: installing ${missing[*]} ..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw curl >/dev/null \
    || die "apt-get install failed (run apt-get update first?)"
}

pid_of() { [ -f "$S3_DIR/run/$1.pid" ] && cat "$S3_DIR/run/$1.pid" 2>/dev/null || true; }
alive() { local p; p="$(pid_of "$1")"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

http_up() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$S3_PORT/"; }

running() { alive mon.a && alive osd.0 && alive client.rgw && http_up; }

write_conf() {
  cat >"$CONF" <<EOF
[global]
fsid = $1
mon host = [v2:127.0.0.1:$S3_MON_PORT]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms client mode = crc
ms cluster mode = crc
ms service mode = crc
ms bind msgr1 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
# Commit cluster map changes at once instead of batching them for a second (pool creation is 10x faster).
paxos propose interval = 0.01
paxos min wait = 0.001
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd objectstore = memstore
memstore device bytes = 4294967296
osd max object size = 1073741824
run dir = $S3_DIR/run
admin socket = $S3_DIR/run/\$name.asok
pid file = $S3_DIR/run/\$name.pid
log file = $S3_DIR/log/\$name.log
mon data = $S3_DIR/mon/\$cluster-\$id
osd data = $S3_DIR/osd/\$cluster-\$id
keyring = $S3_DIR/keyring
mon cluster log file = $S3_DIR/log/cluster.log
debug ms = 0
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$S3_PORT
rgw data = $S3_DIR/rgw
rgw dns name = localhost
rgw enable usage log = false
rgw thread pool size = 64
EOF
}

start() {
  # Test files may call this at the same time: one starts the server, the others then find it running.
  exec 9>"$S3_DIR.lock"
  flock 9
  if running; then echo "s3-server: already running on 127.0.0.1:$S3_PORT" >&2; return 0; fi
  ensure_packages
  stop_daemons
  rm -rf "$S3_DIR"
  mkdir -p "$S3_DIR"/{run,log,mon,osd,rgw}
  local fsid osd_uuid
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
  write_conf "$fsid"
  : >"$S3_DIR/keyring"

  monmaptool --create --addv a "[v2:127.0.0.1:$S3_MON_PORT]" --fsid "$fsid" "$S3_DIR/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$S3_DIR/monmap" >"$S3_DIR/log/mkfs.log" 2>&1 || { cat "$S3_DIR/log/mkfs.log" >&2; die "ceph-mon --mkfs failed"; }
  ceph-mon -i a 9>&- </dev/null >>"$S3_DIR/log/daemons.log" 2>&1 || die "ceph-mon did not start (see $S3_DIR/log/mon.a.log)"

  # One `ceph` process runs every cluster command (the CLI's Python start-up costs ~0.3 s per call).
  local id
  id="$(ceph --connect-timeout 15 osd new "$osd_uuid")" || die "ceph osd new failed (see $S3_DIR/log/mon.a.log)"
  mkdir -p "$S3_DIR/osd/ceph-$id"
  ceph-osd -i "$id" --mkfs --osd-uuid "$osd_uuid" >>"$S3_DIR/log/mkfs.log" 2>&1 || { tail -5 "$S3_DIR/log/mkfs.log" >&2; die "ceph-osd --mkfs failed"; }
  ceph-osd -i "$id" 9>&- </dev/null >>"$S3_DIR/log/daemons.log" 2>&1 || die "ceph-osd did not start (see $S3_DIR/log/daemons.log)"
  local pools=(.rgw.root default.rgw.control default.rgw.meta default.rgw.log default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec)
  {
    for p in "${pools[@]}"; do echo "osd pool create $p 8 8"; done
  } | ceph --connect-timeout 15 >"$S3_DIR/log/pools.log" 2>&1 || { cat "$S3_DIR/log/pools.log" >&2; die "creating pools failed"; }

  radosgw -n client.rgw 9>&- </dev/null >>"$S3_DIR/log/daemons.log" 2>&1 || die "radosgw did not start (see $S3_DIR/log/client.rgw.log)"
  radosgw-admin user create --uid=deliver --display-name="deliver tests" \
    --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" >"$S3_DIR/log/user.log" 2>&1 \
    || { cat "$S3_DIR/log/user.log" >&2; die "radosgw-admin user create failed"; }

  local i
  for i in $(seq 1 150); do http_up && break; sleep 0.1; done
  http_up || die "radosgw is not answering on 127.0.0.1:$S3_PORT (see $S3_DIR/log/client.rgw.log)"
  # curl signs the bucket creation itself (SigV4; S3 also wants the payload digest header), so no SDK is needed.
  local EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
  local code
  for i in $(seq 1 50); do
    code="$(curl -s -o "$S3_DIR/log/bucket.out" -w '%{http_code}' -X PUT --aws-sigv4 "aws:amz:$REGION:s3" \
      -H "x-amz-content-sha256: $EMPTY_SHA256" \
      --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "http://127.0.0.1:$S3_PORT/$S3_BUCKET")" || true
    [ "$code" = 200 ] || [ "$code" = 409 ] && break
    sleep 0.2
  done
  [ "$code" = 200 ] || [ "$code" = 409 ] || die "creating bucket $S3_BUCKET failed (HTTP $code: $(cat "$S3_DIR/log/bucket.out"))"
  echo "s3-server: radosgw on http://127.0.0.1:$S3_PORT, bucket $S3_BUCKET" >&2
}

stop_daemons() {
  local name p pids=()
  for name in client.rgw osd.0 mon.a; do
    p="$(pid_of "$name")"
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill "$p" 2>/dev/null || true; pids+=("$p"); fi
  done
  local i
  for i in $(seq 1 50); do
    local left=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    [ $left -eq 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true; done
}

stop() {
  exec 9>"$S3_DIR.lock"
  flock 9
  [ -d "$S3_DIR" ] || return 0
  stop_daemons
  rm -rf "$S3_DIR"
}

status() {
  if running; then echo "running on http://127.0.0.1:$S3_PORT (state in $S3_DIR)"; else echo "not running"; return 1; fi
}

print_env() {
  cat <<EOF
export S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export S3_BUCKET=$S3_BUCKET
export S3_REGION=$REGION
export S3_FORCE_PATH_STYLE=true
export S3_CHECKSUM_MODE=when_required
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY='$S3_SECRET_KEY'
EOF
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
