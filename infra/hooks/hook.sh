#!/bin/sh
# azd hook launcher (POSIX): `hook.sh postprovision|postdeploy` runs infra/hooks/deploy_hooks.py,
# the one implementation both shells share (see that file and docs/deploy.md).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for python in python3 python; do
    if command -v "$python" >/dev/null 2>&1 &&
        "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        exec "$python" "$here/deploy_hooks.py" "$@"
    fi
done
echo "${1:-hook}: Python 3.10 or later is required to run infra/hooks/deploy_hooks.py (python3 on PATH)." >&2
exit 1
