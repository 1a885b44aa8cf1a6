#!/usr/bin/env bash
# Usage: scripts/check-disk.sh GIB
# Prints the free space of the file system holding target/ and warns plainly when
# it is below GIB GiB, so that a build that later fails in the linker with "No
# space left on device" is explained at the top of the log. It never fails the
# run itself: the build decides.
set -euo pipefail
need_gib="${1:?usage: check-disk.sh GIB}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target="${CARGO_TARGET_DIR:-target}"
probe="$target"
[ -e "$probe" ] || probe="."
free_kib="$(df -Pk "$probe" | awk 'NR == 2 { print $4 }')"
free_gib=$(( free_kib / 1024 / 1024 ))
echo "disk: ${free_gib} GiB free for ${target} (${need_gib} GiB needed)"
if [ "$free_gib" -lt "$need_gib" ]; then
  echo "warning: only ${free_gib} GiB free on the file system of ${target}; the build needs about ${need_gib} GiB. If it fails with 'No space left on device', free space (e.g. cargo clean in other checkouts) and run again." >&2
fi
