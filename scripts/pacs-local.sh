#!/usr/bin/env bash
# A real PACS on this machine for the tests and the docs: Orthanc (Debian package) with
# DCMTK's command-line tools beside it.
#
#   scripts/pacs-local.sh start  [DIR]   install orthanc+dcmtk (apt, idempotent) and start
#                                        an Orthanc whose config, storage, index, log and
#                                        PID live in DIR (default: a new temp folder)
#   scripts/pacs-local.sh stop   DIR     stop exactly the Orthanc whose PID is in DIR/orthanc.pid
#   scripts/pacs-local.sh status DIR     say whether that Orthanc answers (exit 0) or not (1)
#
# Ports (unprivileged; override with SRRD_PACS_DICOM_PORT / SRRD_PACS_HTTP_PORT /
# SRRD_PACS_SRRD_PORT / SRRD_PACS_SERVE_PORT / SRRD_PACS_TOOLS_PORT): DICOM 14242, REST
# 18042 (localhost only: RemoteAccessAllowed false). Orthanc's AE title is ORTHANC; its
# modalities are the workstation (AE SRRD, 127.0.0.1:11112), the service (AE SRRDSERVE,
# 127.0.0.1:11113) and DCMTK's tools under their default AE titles (STORESCU, FINDSCU,
# GETSCU, MOVESCU at 127.0.0.1:11119, where `movescu --port` receives).
# `start` prints the folder, the ports and the AE titles as KEY=VALUE lines on stdout
# (the last line is PACS_DIR=...), so a test can `eval` them.
#
# Without apt-get (or without Orthanc after trying) `start` says so on stderr and exits 3,
# which callers treat as "skip". Nothing is ever stopped by process name.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
dicom_port="${SRRD_PACS_DICOM_PORT:-14242}"
http_port="${SRRD_PACS_HTTP_PORT:-18042}"
srrd_port="${SRRD_PACS_SRRD_PORT:-11112}"
serve_port="${SRRD_PACS_SERVE_PORT:-11113}"
tools_port="${SRRD_PACS_TOOLS_PORT:-11119}"

usage() {
  echo "usage: $0 start [DIR] | stop DIR | status DIR" >&2
  exit 2
}

install_tools() {
  if command -v Orthanc >/dev/null 2>&1 && command -v storescu >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "pacs-local: no apt-get; cannot install orthanc and dcmtk (skipping)" >&2
    return 3
  fi
  echo "pacs-local: installing orthanc and dcmtk (apt)" >&2
  local sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "pacs-local: not root and no sudo; cannot install orthanc (skipping)" >&2
      return 3
    fi
    sudo_cmd="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq || true
  if ! $sudo_cmd apt-get install -y -qq --no-install-recommends orthanc dcmtk >/dev/null; then
    echo "pacs-local: apt-get install orthanc dcmtk failed (skipping)" >&2
    return 3
  fi
  if ! command -v Orthanc >/dev/null 2>&1; then
    echo "pacs-local: Orthanc not found after installing (skipping)" >&2
    return 3
  fi
}

# Does the Orthanc of this folder answer on REST?
answers() {
  local port
  port="$(cat "$1/http_port" 2>/dev/null || echo "$http_port")"
  curl -fsS --max-time 2 "http://127.0.0.1:$port/system" >/dev/null 2>&1
}

# The PID recorded in DIR if that process is alive and is an Orthanc.
live_pid() {
  local pid
  pid="$(cat "$1/orthanc.pid" 2>/dev/null || true)"
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  grep -q Orthanc "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

start() {
  install_tools || exit $?
  if [ -z "$dir" ]; then
    dir="$(mktemp -d "${TMPDIR:-/tmp}/srrd-pacs.XXXXXX")"
  fi
  mkdir -p "$dir/storage" "$dir/index"
  dir="$(cd "$dir" && pwd)"
  if pid="$(live_pid "$dir")"; then
    echo "pacs-local: Orthanc already running in $dir (PID $pid)" >&2
  else
    cat >"$dir/orthanc.json" <<EOF
{
  "Name": "SRRD test PACS",
  "StorageDirectory": "$dir/storage",
  "IndexDirectory": "$dir/index",
  "HttpPort": $http_port,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomServerEnabled": true,
  "DicomAet": "ORTHANC",
  "DicomPort": $dicom_port,
  "DicomCheckCalledAet": false,
  "DicomAlwaysAllowEcho": true,
  "DicomAlwaysAllowStore": true,
  "DicomModalities": {
    "SRRD": ["SRRD", "127.0.0.1", $srrd_port],
    "SRRDSERVE": ["SRRDSERVE", "127.0.0.1", $serve_port],
    "STORESCU": ["STORESCU", "127.0.0.1", $tools_port],
    "FINDSCU": ["FINDSCU", "127.0.0.1", $tools_port],
    "GETSCU": ["GETSCU", "127.0.0.1", $tools_port],
    "MOVESCU": ["MOVESCU", "127.0.0.1", $tools_port]
  },
  "Plugins": [],
  "StableAge": 2
}
EOF
    echo "$http_port" >"$dir/http_port"
    echo "$dicom_port" >"$dir/dicom_port"
    Orthanc --logdir="$dir" "$dir/orthanc.json" >"$dir/orthanc.out" 2>&1 &
    echo $! >"$dir/orthanc.pid"
    local i
    for i in $(seq 1 100); do
      if answers "$dir"; then break; fi
      if ! live_pid "$dir" >/dev/null; then
        echo "pacs-local: Orthanc exited at start; see $dir/orthanc.out" >&2
        tail -5 "$dir/orthanc.out" >&2 || true
        exit 1
      fi
      sleep 0.1
    done
    if ! answers "$dir"; then
      echo "pacs-local: Orthanc did not answer on port $http_port in 10 s" >&2
      exit 1
    fi
  fi
  echo "PACS_AET=ORTHANC"
  echo "PACS_HOST=127.0.0.1"
  echo "PACS_DICOM_PORT=$dicom_port"
  echo "PACS_HTTP=http://127.0.0.1:$http_port"
  echo "PACS_SRRD_AET=SRRD"
  echo "PACS_SRRD_PORT=$srrd_port"
  echo "PACS_SERVE_AET=SRRDSERVE"
  echo "PACS_SERVE_PORT=$serve_port"
  echo "PACS_TOOLS_PORT=$tools_port"
  echo "PACS_PID=$(cat "$dir/orthanc.pid")"
  echo "PACS_DIR=$dir"
}

stop() {
  [ -n "$dir" ] || usage
  local pid
  if ! pid="$(live_pid "$dir")"; then
    echo "pacs-local: no Orthanc running from $dir" >&2
    rm -f "$dir/orthanc.pid"
    return 0
  fi
  kill "$pid"
  local i
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/orthanc.pid"
  echo "pacs-local: stopped Orthanc (PID $pid) of $dir" >&2
}

status() {
  [ -n "$dir" ] || usage
  local pid
  if pid="$(live_pid "$dir")" && answers "$dir"; then
    echo "pacs-local: Orthanc PID $pid answers at http://127.0.0.1:$(cat "$dir/http_port")" \
      "(DICOM AE ORTHANC port $(cat "$dir/dicom_port"))"
    return 0
  fi
  echo "pacs-local: no answering Orthanc in $dir" >&2
  return 1
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
