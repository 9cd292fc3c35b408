# Shell helpers the whole-process benchmarks share (crawl, soak, load). Sourced, not run:
#   . benches/lib.sh
# Each script sets WORK (its output folder) and PORT before calling them.

# Install a Debian package's command when it is missing: need COMMAND [PACKAGE].
need() {
  command -v "$1" >/dev/null && return
  echo "installing ${2:-$1} (Debian package)" >&2
  apt-get install -y "${2:-$1}" >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y "${2:-$1}" >/dev/null; }
}

# Serve DOCROOT with nginx on 127.0.0.1:$PORT (pid and logs in $WORK).
start_nginx() {
  local docroot=$1
  cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  include /etc/nginx/mime.types;
  charset off;
  keepalive_requests 100000;
  server { listen 127.0.0.1:$PORT; root $docroot; index index.html; }
}
CONF
  nginx -c "$WORK/nginx.conf"
}
stop_nginx() { [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; sleep 0.5; }

# The address the daemon logging to LOGFILE listens on (`http server listening addr=...`),
# waiting up to 30 s; fails with the log when it never says.
daemon_addr() {
  local log=$1 addr=""
  for _ in $(seq 1 300); do
    addr=$(sed -n 's/.*http server listening addr=\([0-9.:]*\).*/\1/p' "$log" | head -1)
    [ -n "$addr" ] && { echo "$addr"; return; }
    sleep 0.1
  done
  cat "$log" >&2
  return 1
}

# The value of the sample NAME (with its labels, as /metrics writes it) of the daemon at ADDR.
metric() {
  curl -s "http://$1/metrics" | awk -v n="$2" '$1 == n {print $2}' | head -1
}
