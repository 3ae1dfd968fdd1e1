#!/usr/bin/env bash
# Run `ansible-test sanity` on a real copy of the collection at .build/sanity/ansible_collections/secops/rotation
# (ansible-test refuses symlinked collection roots), with the offline get-pip stand-in in its cache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${VENV_BIN:-$root/.venv/bin}" && pwd)
python_version=${SANITY_PYTHON:-3.11}

pip_version=$("$bin/python" - <<'PY'
import os, re, ansible_test
path = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
print(re.search(r"pip='([0-9.]+)'", open(path).read()).group(1))
PY
)
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
if ! cmp -s "$root/scripts/get_pip_standin.py" "$cache"; then
    cp "$root/scripts/get_pip_standin.py" "$cache"
fi

# SANITY_DIR lets several checks run side by side (each gets its own copy).
base=$(realpath -m "${SANITY_DIR:-$root/.build/sanity}")
dest="$base/ansible_collections/secops/rotation"
rm -rf "$base"
mkdir -p "$dest"
cd "$root"
# What a clone would have: tracked files plus new, not ignored ones (the working tree as it is).
git ls-files -z --cached --others --exclude-standard \
    | tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$dest"
cd "$dest"
git init -q && git add -A  # ansible-test lists files through git when it can; keeps it to the copy
exec "$bin/ansible-test" sanity --venv --python "$python_version" --color no "$@"
