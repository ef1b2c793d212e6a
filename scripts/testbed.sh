#!/usr/bin/env bash
# deliver's real multi-host test bed: N OpenSSH target hosts (host1..hostN) and a build host on loopback
# addresses, each sshd in its own mount namespace with its own directory at /srv and its own epmd port.
#
#   scripts/testbed.sh start | stop [--clean] | status | kill-host NAME | start-host NAME
#
# Env: TESTBED_DIR (default <repo>/.testbed), TESTBED_NET (first three octets, default 127.0.1),
#      TESTBED_HOSTS (default 40), TESTBED_EPMD_BASE (default derived from TESTBED_NET, see epmd_base).
# Layout under TESTBED_DIR: hosts/NAME (seen as /srv by NAME's sessions), etc/NAME (host key, sshd_config),
# run/ (pid + mount-namespace files), log/NAME.log (sshd log), home/.ssh (client key, known_hosts, config),
# testbed.json (what tests read; see test/helpers/testbed.ts).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NET=${TESTBED_NET:-127.0.1}
NHOSTS=${TESTBED_HOSTS:-40}
SSHD=/usr/sbin/sshd
BUILD_OCTET=250
PACKAGES=(openssh-server elixir erlang-dev erlang-src rebar3 git)
START_TIMEOUT_S=15

die() { printf 'testbed: %s\n' "$*" >&2; exit 1; }
usage() {
  printf 'usage: %s start | stop [--clean] | status | kill-host NAME | start-host NAME\n' "$0" >&2
  exit 2
}

[[ $NET =~ ^127\.([0-9]{1,3})\.([0-9]{1,3})$ ]] && ((BASH_REMATCH[1] <= 255 && BASH_REMATCH[2] <= 255)) ||
  die "TESTBED_NET='$NET' must be the first three octets of a loopback address, e.g. 127.0.1"
NET_B=${BASH_REMATCH[1]} NET_C=${BASH_REMATCH[2]}
[[ $NHOSTS =~ ^[0-9]+$ ]] && ((NHOSTS >= 1 && NHOSTS < BUILD_OCTET)) ||
  die "TESTBED_HOSTS='$NHOSTS' must be a number from 1 to $((BUILD_OCTET - 1))"

# epmd listens on a machine-wide port, so beds on different TESTBED_NETs need different ranges: 256 ports per net,
# below the kernel's ephemeral range (32768+) so an outgoing connection never holds one.
epmd_base() {
  if [[ -n ${TESTBED_EPMD_BASE:-} ]]; then
    [[ $TESTBED_EPMD_BASE =~ ^[0-9]+$ ]] && ((TESTBED_EPMD_BASE + BUILD_OCTET < 65536)) ||
      die "TESTBED_EPMD_BASE='$TESTBED_EPMD_BASE' must be a port number below $((65536 - BUILD_OCTET))"
    echo "$TESTBED_EPMD_BASE"
  else
    echo $((10000 + ((NET_B * 256 + NET_C) % 80) * 256))
  fi
}
EPMD_BASE=$(epmd_base)

resolve_dir() {
  local d=${TESTBED_DIR:-$REPO/.testbed}
  [[ -n $d && $d != / ]] || die "TESTBED_DIR='$d' is not a usable directory"
  mkdir -p "$d"
  DIR=$(cd "$d" && pwd -P)
  # The path goes unquoted into sshd_config and ssh_config lines.
  [[ $DIR != *[[:space:]\"\']* ]] || die "TESTBED_DIR='$DIR' must not contain spaces or quotes"
}

octet_of() { # NAME -> last octet, or fails for an unknown name
  case $1 in
    build) echo "$BUILD_OCTET" ;;
    host[1-9]*) local i=${1#host}; [[ $i =~ ^[0-9]+$ ]] && ((i >= 1 && i <= NHOSTS)) && echo "$i" ;;
    *) return 1 ;;
  esac
}
all_names() { local i; for ((i = 1; i <= NHOSTS; i++)); do echo "host$i"; done; echo build; }
host_addr() { echo "$NET.$(octet_of "$1")"; }
host_epmd() { echo $((EPMD_BASE + $(octet_of "$1"))); }
# Every host's sessions get HOME=/srv/home (inside the host's own /srv), never this machine's /root: real servers
# do not share a home with the machine deliver runs on, and /root's shell start-up files (e.g. a `pyenv init` in
# .bashrc, whose rehash takes a lock under /root/.pyenv) would otherwise run on every remote command, and a host
# killed mid-command could leave that lock held for every other host and bed.
SESSION_HOME=/srv/home
host_root() { echo "$DIR/hosts/$1"; }
pid_file() { echo "$DIR/run/$1.pid"; }
ns_file() { echo "$DIR/run/$1.ns"; }

# ---------- prerequisites ----------

missing_packages() {
  local installed
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null | awk '$2 == "installed" { print $1 }' || true)
  local p
  for p in "${PACKAGES[@]}"; do grep -qx "$p" <<<"$installed" || echo "$p"; done
}

ensure_prerequisites() {
  local missing=()
  if command -v dpkg-query >/dev/null; then
    mapfile -t missing < <(missing_packages)
  else
    local c
    for c in "$SSHD" ssh ssh-keygen elixir mix erl rebar3 git; do command -v "$c" >/dev/null || missing+=("$c"); done
    ((${#missing[@]} == 0)) ||
      die "missing: ${missing[*]}; install OpenSSH server, Elixir, Erlang/OTP (with sources), rebar3 and git"
  fi
  if ((${#missing[@]} > 0)); then
    if ((EUID != 0)); then
      printf 'testbed: missing Debian packages: %s\n' "${missing[*]}" >&2
      printf 'testbed: install them with: sudo apt-get update && sudo apt-get install -y %s\n' "${missing[*]}" >&2
      exit 1
    fi
    echo "testbed: installing ${missing[*]} with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" </dev/null >&2
  fi
  ((EUID == 0)) || die "the test bed must run as root (it binds port 22 on loopback addresses and uses mount namespaces)"
  local c
  for c in unshare mount flock find ssh ssh-keygen; do command -v "$c" >/dev/null || die "'$c' not found on PATH"; done
  [[ -x $SSHD ]] || die "$SSHD not found (package openssh-server)"
  mkdir -p /run/sshd /srv
}

# ---------- processes, found by mount namespace ----------

# Prints "PID INODE" for every process (one find instead of a readlink per process).
scan_namespaces() {
  find /proc/[0-9]*/ns/mnt -maxdepth 0 -printf '%h %l\n' 2>/dev/null | sed -nE 's#^/proc/([0-9]+)/ns mnt:\[([0-9]+)\]$#\1 \2#p'
}
# The mount-namespace inode of PID (digits only: they make safe associative-array keys).
ns_of() { local l; l=$(readlink "/proc/$1/ns/mnt" 2>/dev/null) || return 1; echo "${l//[^0-9]/}"; }
# The namespace recorded for NAME when its sshd started. run/NAME.ns holds readlink's "mnt:[INODE]", the same text
# tests compare with readlink(/proc/PID/ns/mnt) to find a host's processes.
recorded_ns() { local f s; f=$(ns_file "$1"); [[ -s $f ]] || return 1; s=$(<"$f"); echo "${s//[^0-9]/}"; }

# True when PID lives in a namespace where NAME's directory is mounted at /srv: guards against a stale .ns file
# whose inode number the kernel has since given to somebody else's namespace.
pid_in_host_ns() {
  local pid=$1 name=$2 root want
  want=$(host_root "$name")
  while read -r _ _ _ root mnt _; do
    if [[ $mnt == /srv ]]; then
      root=${root//\\040/ }
      [[ $root != / && $want == *"$root" ]] && return 0
    fi
  done 2>/dev/null <"/proc/$pid/mountinfo"
  return 1
}

# Prints the PIDs of every process in the recorded namespaces of the given hosts (never our own namespace).
host_pids() {
  local -A nsname=()
  local name ns own pid pns
  own=$(ns_of self)
  for name in "$@"; do
    ns=$(recorded_ns "$name") || continue
    [[ $ns =~ ^[0-9]+$ && $ns != "$own" && $ns != "$(ns_of 1)" ]] || continue
    nsname[$ns]=$name
  done
  ((${#nsname[@]} > 0)) || return 0
  local -A verified=()  # namespace -> yes once one of its processes shows NAME's directory at /srv
  while read -r pid pns; do
    name=${nsname[$pns]:-}
    [[ -n $name ]] || continue
    # A process that just exited has no mountinfo, so only a positive answer is remembered.
    [[ -n ${verified[$pns]:-} ]] || { pid_in_host_ns "$pid" "$name" && verified[$pns]=yes; } || continue
    echo "$pid"
  done < <(scan_namespaces)
  return 0
}

# Signals every process of the given hosts until none is left (new sessions may fork while we kill).
kill_hosts() {
  local sig=$1; shift
  local pids out tries=0
  while :; do
    out=$(host_pids "$@") || die "could not list the processes of $*"
    mapfile -t pids <<<"$out"
    [[ -n ${pids[0]} ]] || pids=()
    ((${#pids[@]} > 0)) || break
    kill "-$sig" "${pids[@]}" 2>/dev/null || true
    ((++tries < 100)) || die "processes of $* survive SIG$sig: ${pids[*]}"
    sleep 0.1
    # After a polite TERM, escalate: BEAM daemons and stuck sessions must not outlive the bed.
    ((tries == 30)) && sig=KILL
  done
  local name
  for name in "$@"; do rm -f "$(pid_file "$name")" "$(ns_file "$name")"; done
}

# The running sshd listener of NAME, if any.
sshd_pid() {
  local pf pid
  pf=$(pid_file "$1")
  [[ -s $pf ]] || return 1
  pid=$(<"$pf")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/comm && $(<"/proc/$pid/comm") == sshd ]] || return 1
  [[ $(ns_of "$pid") == "$(recorded_ns "$1")" ]] || return 1
  echo "$pid"
}

# ---------- configuration ----------

json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

write_host_config() {
  local name=$1 etc="$DIR/etc/$1"
  mkdir -p "$etc" "$(host_root "$name")"
  mkdir -p "$(host_root "$name")${SESSION_HOME#/srv}"
  cat >"$etc/sshd_config.tmp" <<EOF
# Generated by scripts/testbed.sh for test host $name.
ListenAddress $(host_addr "$name"):22
HostKey $etc/ssh_host_ed25519_key
PidFile $(pid_file "$name")
AuthorizedKeysFile $DIR/etc/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
# sshd still starts sessions in the passwd home (this machine's /root): it must not run a ~/.ssh/rc found there.
PermitUserRC no
# Every host registers its BEAM nodes with its own epmd, so nodes named alike on different hosts do not collide.
SetEnv ERL_EPMD_PORT=$(host_epmd "$name") LANG=C.UTF-8 TESTBED_HOST=$name HOME=$SESSION_HOME
Subsystem sftp internal-sftp
EOF
  CONFIG_CHANGED=0
  cmp -s "$etc/sshd_config.tmp" "$etc/sshd_config" || CONFIG_CHANGED=1
  mv "$etc/sshd_config.tmp" "$etc/sshd_config"
}

ensure_keys() {
  local ssh_dir="$DIR/home/.ssh" name
  mkdir -p "$ssh_dir" "$DIR/etc" "$DIR/run" "$DIR/log"
  chmod 700 "$DIR/home/.ssh"
  [[ -s $ssh_dir/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C deliver-testbed-client -f "$ssh_dir/id_ed25519"
  cp "$ssh_dir/id_ed25519.pub" "$DIR/etc/authorized_keys"
  for name in $(all_names); do
    mkdir -p "$DIR/etc/$name"
    [[ -s $DIR/etc/$name/ssh_host_ed25519_key ]] ||
      ssh-keygen -q -t ed25519 -N '' -C "testbed-$name" -f "$DIR/etc/$name/ssh_host_ed25519_key" &
  done
  wait
  for name in $(all_names); do
    [[ -s $DIR/etc/$name/ssh_host_ed25519_key.pub ]] || die "could not create a host key for $name in $DIR/etc/$name"
  done
}

write_client_files() {
  local ssh_dir="$DIR/home/.ssh" name addr first=1 entry
  : >"$ssh_dir/known_hosts.tmp"
  : >"$ssh_dir/config.tmp"
  for name in $(all_names); do
    addr=$(host_addr "$name")
    printf '%s,%s %s\n' "$name" "$addr" "$(cut -d' ' -f1,2 "$DIR/etc/$name/ssh_host_ed25519_key.pub")" >>"$ssh_dir/known_hosts.tmp"
    # Every option is spelled out per host (no "Host *") so simple config parsers get the whole picture.
    cat >>"$ssh_dir/config.tmp" <<EOF
Host $name
  HostName $addr
  Port 22
  User root
  IdentityFile $ssh_dir/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $ssh_dir/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes

EOF
  done
  mv "$ssh_dir/known_hosts.tmp" "$ssh_dir/known_hosts"
  mv "$ssh_dir/config.tmp" "$ssh_dir/config"
  chmod 600 "$ssh_dir/config" "$ssh_dir/id_ed25519"

  {
    printf '{\n  "net": %s,\n  "dir": %s,\n  "home": %s,\n  "user": "root",\n' \
      "$(json_str "$NET")" "$(json_str "$DIR")" "$(json_str "$DIR/home")"
    printf '  "identity": %s,\n  "knownHosts": %s,\n  "sshConfig": %s,\n  "hosts": [\n' \
      "$(json_str "$ssh_dir/id_ed25519")" "$(json_str "$ssh_dir/known_hosts")" "$(json_str "$ssh_dir/config")"
    for name in $(all_names); do
      entry=$(printf '{ "name": %s, "address": %s, "port": 22, "root": %s, "epmdPort": %d }' \
        "$(json_str "$name")" "$(json_str "$(host_addr "$name")")" "$(json_str "$(host_root "$name")")" "$(host_epmd "$name")")
      if [[ $name == build ]]; then
        printf '\n  ],\n  "build": %s\n}\n' "$entry"
      else
        ((first)) || printf ',\n'
        printf '    %s' "$entry"
        first=0
      fi
    done
  } >"$DIR/testbed.json.tmp"
  mv "$DIR/testbed.json.tmp" "$DIR/testbed.json"
}

# ---------- starting ----------

# /proc/net/tcp spells 127.0.1.2:22 as 0201007F:0016.
tcp_hex() { local IFS=.; set -- $1; printf '%02X%02X%02X%02X:%04X' "$4" "$3" "$2" "$1" "$5"; }

listening_sockets() { awk '$4 == "0A" { print $2 }' /proc/net/tcp; }

check_ports_free() {
  local listening name
  listening=$(listening_sockets)
  if grep -qx "$(tcp_hex 0.0.0.0.22)" <<<"$listening"; then
    die "something listens on 0.0.0.0:22 (the system's sshd?), so no test host can bind ${NET}.N:22; stop it (e.g. 'service ssh stop') and retry"
  fi
  for name in "$@"; do
    if grep -qx "$(tcp_hex "$(host_addr "$name").22")" <<<"$listening"; then
      die "$(host_addr "$name"):22 is already in use by a process this bed ($DIR) did not start — another test bed with TESTBED_NET=$NET? (see 'ss -ltnp')"
    fi
  done
}

launch_sshd() {
  local name=$1 log="$DIR/log/$1.log"
  rm -f "$(pid_file "$name")" "$(ns_file "$name")"
  [[ -f $log ]] && mv -f "$log" "$log.old"
  # sshd daemonizes (stdio to /dev/null) and writes its PidFile once it listens; its sessions inherit the namespace.
  unshare --mount --propagation private bash -c 'mount --bind "$1" /srv && exec "$2" -f "$3" -E "$4"' \
    testbed-"$name" "$(host_root "$name")" "$SSHD" "$DIR/etc/$name/sshd_config" "$log" </dev/null >>"$log" 2>&1 9>&-
}

start_hosts() {
  local names=("$@") name pending=() pid deadline
  ((${#names[@]} > 0)) || return 0
  check_ports_free "${names[@]}"
  for name in "${names[@]}"; do launch_sshd "$name" & done
  wait
  deadline=$((SECONDS + START_TIMEOUT_S))
  pending=("${names[@]}")
  while ((${#pending[@]} > 0)); do
    local still=()
    for name in "${pending[@]}"; do
      pid=$(cat "$(pid_file "$name")" 2>/dev/null || true)
      if [[ -n $pid && -e /proc/$pid/ns/mnt ]]; then
        readlink "/proc/$pid/ns/mnt" >"$(ns_file "$name")"
      elif grep -q 'fatal\|Cannot bind\|mount:' "$DIR/log/$name.log" 2>/dev/null || ((SECONDS >= deadline)); then
        die "sshd for $name ($(host_addr "$name"):22) did not start; $DIR/log/$name.log says: $(tail -n 3 "$DIR/log/$name.log" 2>/dev/null | tr '\n' ' ')"
      else
        still+=("$name")
      fi
    done
    pending=("${still[@]+"${still[@]}"}")
    ((${#pending[@]} == 0)) || sleep 0.05
  done
}

cmd_start() {
  ensure_prerequisites
  resolve_dir
  exec 9>"$DIR/.lock"
  flock 9
  if [[ -s $DIR/run/net && $(<"$DIR/run/net") != "$NET" ]] && compgen -G "$DIR/run/*.pid" >/dev/null; then
    die "the bed in $DIR runs on TESTBED_NET=$(<"$DIR/run/net"), not $NET; run 'scripts/testbed.sh stop' with that net first"
  fi
  ensure_keys
  echo "$NET" >"$DIR/run/net"
  local name down=() changed=()
  for name in $(all_names); do
    write_host_config "$name"
    if ! sshd_pid "$name" >/dev/null; then
      down+=("$name")
    elif ((CONFIG_CHANGED)); then
      changed+=("$name")
    fi
  done
  write_client_files
  # A fresh bed belongs to whoever started it now; test/helpers/global-setup.ts re-marks it when that is vitest.
  ((${#down[@]} == NHOSTS + 1)) && rm -f "$DIR/run/started-by-vitest"
  if ((${#changed[@]} > 0)); then
    # A running sshd keeps the configuration it started with (say, from before sessions got their own HOME).
    echo "testbed: restarting ${#changed[@]} running hosts whose sshd_config changed" >&2
    kill_hosts TERM "${changed[@]}"
    down+=("${changed[@]}")
  fi
  start_hosts "${down[@]+"${down[@]}"}"
  if ((${#down[@]} > 0)); then
    # One real login proves keys, known_hosts, config and the /srv mount fit together.
    ssh -F "$DIR/home/.ssh/config" "${down[0]}" 'test -d /srv' </dev/null ||
      die "started, but 'ssh -F $DIR/home/.ssh/config ${down[0]}' fails; see $DIR/log/${down[0]}.log"
    echo "testbed: started ${#down[@]} of $((NHOSTS + 1)) hosts on $NET.x:22 ($DIR)"
  else
    echo "testbed: already running: $((NHOSTS + 1)) hosts on $NET.x:22 ($DIR)"
  fi
}

cmd_stop() {
  local clean=0
  [[ ${1:-} == --clean ]] && clean=1
  [[ -z ${1:-} || $clean == 1 ]] || usage
  resolve_dir
  exec 9>"$DIR/.lock"
  flock 9
  local names=() f
  for f in "$DIR"/run/*.ns "$DIR"/run/*.pid; do
    [[ -e $f ]] || continue
    f=${f##*/}
    names+=("${f%.*}")
  done
  if ((${#names[@]} > 0)); then
    mapfile -t names < <(printf '%s\n' "${names[@]}" | sort -u)
    # Listeners still running without an .ns file (a start interrupted mid-way) are found by their pid file.
    for f in "${names[@]}"; do
      local pf pid
      pf=$(pid_file "$f")
      [[ ! -s $(ns_file "$f") && -s $pf ]] || continue
      pid=$(<"$pf")
      [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$DIR/etc/$f/sshd_config" &&
        readlink "/proc/$pid/ns/mnt" >"$(ns_file "$f")"
    done
    kill_hosts TERM "${names[@]}"
    echo "testbed: stopped ${#names[@]} hosts ($DIR)"
  else
    echo "testbed: not running ($DIR)"
  fi
  rm -f "$DIR/run/net" "$DIR/run/started-by-vitest"
  if ((clean)); then
    # Only delete what is recognisably a test bed, whatever TESTBED_DIR says.
    [[ -d $DIR/etc && -d $DIR/hosts && -d $DIR/home ]] || die "$DIR does not look like a test bed; not removing it"
    rm -rf "$DIR"
    echo "testbed: removed $DIR"
  fi
}

cmd_status() {
  resolve_dir
  if [[ ! -s $DIR/testbed.json ]]; then
    echo "testbed: not started ($DIR)"
    exit 3
  fi
  local name pid down=0
  for name in $(all_names); do
    if pid=$(sshd_pid "$name"); then
      printf '%-8s %s:22 up (pid %s, epmd %s)\n' "$name" "$(host_addr "$name")" "$pid" "$(host_epmd "$name")"
    else
      printf '%-8s %s:22 down\n' "$name" "$(host_addr "$name")"
      down=$((down + 1))
    fi
  done
  ((down == 0)) || exit 3
}

known_name() { octet_of "$1" >/dev/null || die "unknown host '$1' (hosts: host1..host$NHOSTS, build)"; }

cmd_kill_host() {
  [[ $# == 1 ]] || usage
  known_name "$1"
  resolve_dir
  exec 9>"$DIR/.lock"
  flock 9
  [[ -s $(ns_file "$1") ]] || die "$1 is not running ($DIR)"
  # SIGKILL at once: a dead machine does not shut down politely.
  kill_hosts KILL "$1"
  echo "testbed: killed $1"
}

cmd_start_host() {
  [[ $# == 1 ]] || usage
  known_name "$1"
  ensure_prerequisites
  resolve_dir
  exec 9>"$DIR/.lock"
  flock 9
  [[ -s $DIR/etc/$1/ssh_host_ed25519_key && -s $DIR/testbed.json ]] || die "the bed in $DIR was never started; run 'scripts/testbed.sh start'"
  if sshd_pid "$1" >/dev/null; then
    echo "testbed: $1 already running"
    return 0
  fi
  # Leftovers of a host that died uncleanly would keep its old /srv namespace alive.
  kill_hosts KILL "$1"
  write_host_config "$1"
  start_hosts "$1"
  echo "testbed: started $1"
}

case ${1:-} in
  start) shift; (($# == 0)) || usage; cmd_start ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; (($# == 0)) || usage; cmd_status ;;
  kill-host) shift; cmd_kill_host "$@" ;;
  start-host) shift; cmd_start_host "$@" ;;
  *) usage ;;
esac
