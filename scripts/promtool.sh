# Sourced by ./test.sh. Puts promtool on PATH: the metrics tests check GET /metrics with Prometheus's own parser and
# linter (`promtool check metrics`). Debian ships promtool in the prometheus package, but installing that package
# pulls in about 230 MB of web assets and a server that starts as a service; so only the promtool binary (a static
# Go program, 48 MB) is unpacked from the package's .deb (a 19 MB download) into .tools/, once.

if ! command -v promtool >/dev/null; then
  tools_dir="$PWD/.tools"
  if [[ ! -x "$tools_dir/promtool" ]]; then
    log "Fetching promtool from Debian's prometheus package (unpacked, not installed)"
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
    deb_dir=$(mktemp -d)
    chmod 755 "$deb_dir"   # apt's _apt user downloads into it
    if ! (cd "$deb_dir" && apt-get download -qq prometheus 2>/dev/null); then
      $SUDO apt-get update -qq
      (cd "$deb_dir" && apt-get download -qq prometheus)
    fi
    mkdir -p "$tools_dir"
    dpkg-deb --fsys-tarfile "$deb_dir"/prometheus_*.deb | tar -x -O ./usr/bin/promtool > "$tools_dir/promtool.part"
    chmod +x "$tools_dir/promtool.part"
    mv "$tools_dir/promtool.part" "$tools_dir/promtool"
    rm -rf "$deb_dir"
  fi
  export PATH="$tools_dir:$PATH"
fi
