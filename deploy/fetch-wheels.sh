#!/usr/bin/env bash
# Fetch the site's Python packages (requirements.txt) as wheels for the site
# image's interpreter, so the image installs them with no package index
# (pip install --no-index --find-links).
#
#   deploy/fetch-wheels.sh BASE_IMAGE OUT_DIR
#
# The wheels must suit the image's Python, not this machine's: the kit's
# python:3.12-slim is Debian's Python 3.11 and the official one is 3.12, and
# this machine may run yet another. So:
#   1. the image says which Python, C library and machine it has;
#   2. pip on this machine (which reaches the package index) downloads binary
#      wheels for exactly that;
#   3. the image's own pip resolves the requirements against the folder,
#      offline. Dependencies that only some Python versions need (async-timeout
#      before Python 3.11.3) show up only there; whatever it reports missing is
#      fetched the same way, until it resolves.
# Quick when nothing changed: a stamp holds requirements.txt's and the
# image's digests. Needs the project's venv (make venv) and an engine.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
base=${1:?usage: $0 BASE_IMAGE OUT_DIR}
out=${2:?usage: $0 BASE_IMAGE OUT_DIR}
python=${DOCKERLAB_PYTHON:-$here/.venv/bin/python}
requirements=$here/requirements.txt

image_id=$(docker image inspect --format '{{.Id}}' "$base" 2>/dev/null) || {
  echo "fetch-wheels: the image $base is not on the engine (run: make kit)" >&2
  exit 1
}
stamp=$(cat "$requirements" "$0" <(echo "$image_id") | sha256sum | cut -c1-16)
if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$stamp" ]]; then
  echo "==> wheels: up to date in ${out#"$here"/}"
  exit 0
fi

echo "==> wheels: fetching for $base into ${out#"$here"/}"
rm -rf "$out"
mkdir -p "$out"
cp "$requirements" "$out/requirements.txt"

# 1. The image's Python ("311"), machine ("x86_64") and C library ("2.36").
read -r pyver machine libc < <(
  docker run --rm --network none --entrypoint python3 "$base" -c \
    'import platform, sys; print("%d%d" % sys.version_info[:2], platform.machine(), platform.libc_ver()[1])'
)
[[ $pyver =~ ^3[0-9]+$ && -n $machine && $libc =~ ^2\.[0-9]+$ ]] || {
  echo "fetch-wheels: could not read $base's Python ($pyver $machine $libc)" >&2
  exit 1
}

# Every manylinux tag that C library accepts: pip takes the platforms it is
# given literally, without the older ones they imply.
platforms=()
for ((minor = ${libc#2.}; minor >= 5; minor--)); do
  platforms+=(--platform "manylinux_2_${minor}_${machine}")
done
platforms+=(--platform "manylinux2014_${machine}")
if [[ $machine == x86_64 || $machine == i686 ]]; then
  platforms+=(--platform "manylinux2010_${machine}" --platform "manylinux1_${machine}")
fi

download() {
  "$python" -m pip download -q --disable-pip-version-check --only-binary=:all: \
    --python-version "$pyver" --implementation cp --abi "cp$pyver" "${platforms[@]}" \
    --dest "$out" "$@" 2> >(grep -v "^WARNING: Location" >&2)
}

# 2. What pip here resolves for that interpreter.
download -r "$out/requirements.txt"

# 3. What the image's own pip still misses.
for ((round = 1; round <= 10; round++)); do
  if report=$(docker run --rm --network none -v "$out:/wheels:ro" --entrypoint sh "$base" -c \
    'python3 -m venv /tmp/venv && /tmp/venv/bin/pip install --disable-pip-version-check -q \
       --dry-run --no-index --find-links /wheels -r /wheels/requirements.txt' 2>&1); then
    echo "$stamp" >"$out/.stamp"
    echo "==> wheels: $(ls "$out"/*.whl | wc -l) wheels for cp$pyver $machine (glibc $libc)"
    exit 0
  fi
  # The requirement without its marker ("; python_full_version < ..."): the
  # marker holds for the image's Python, and pip here would judge it by its own.
  missing=$(sed -n 's/.*No matching distribution found for \([^;]*\).*$/\1/p' <<<"$report" | head -n 1)
  missing=${missing%"${missing##*[![:space:]]}"}
  if [[ -z $missing ]]; then
    echo "fetch-wheels: the image's pip cannot install the wheels:" >&2
    echo "$report" >&2
    exit 1
  fi
  echo "==> wheels: $base's Python also needs $missing"
  download "$missing"
done
echo "fetch-wheels: still missing wheels after 10 rounds:" >&2
echo "$report" >&2
exit 1
