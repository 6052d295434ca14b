# shellcheck shell=bash
# Sourced (not executed) by scripts/test, scripts/demo, ...:
#
#     source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
#
# Makes sure <repo>/.venv exists and matches requirements.lock + pyproject.toml,
# then puts it first on PATH. Afterwards LEDGER_ROOT and LEDGER_VENV are set.
#
# The venv is (re)created with `python3 -m venv --clear` when it is missing, broken,
# or when requirements.lock / pyproject.toml changed since the last successful install
# (a stamp file inside .venv records their sha256). When nothing changed this is a
# couple of stat/hash calls and no Python startup beyond a health check.
#
# Override the interpreter used to create the venv with LEDGER_PYTHON=/path/to/python3.

_ledger_sha256() {
    # Prints "<sha256>  <name>" lines for the given files (run from LEDGER_ROOT).
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum -- "$@"
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 -- "$@"
    else
        "${LEDGER_PYTHON:-python3}" - "$@" <<'PY'
import hashlib
import sys

for name in sys.argv[1:]:
    with open(name, "rb") as f:
        print(f"{hashlib.sha256(f.read()).hexdigest()}  {name}")
PY
    fi
}

_ledger_venv_current() {
    # _ledger_venv_current VENV WANT: the venv works and was installed from WANT.
    local have=""
    [[ -f "$1/.ledger-bootstrap.sha256" ]] && have="$(<"$1/.ledger-bootstrap.sha256")"
    [[ "$have" == "$2" ]] && "$1/bin/python" -c '' >/dev/null 2>&1
}

_ledger_install() {
    # _ledger_install ROOT VENV WANT: (re)create VENV and install the locked requirements.
    local root="$1" venv="$2" want="$3" python="${LEDGER_PYTHON:-python3}"
    if ! command -v "$python" >/dev/null 2>&1; then
        echo "bootstrap: '$python' not found; install Python 3.11-3.13 or set LEDGER_PYTHON" >&2
        return 1
    fi
    if ! "$python" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 14)))'
    then
        echo "bootstrap: $("$python" -V 2>&1) ($python) is not supported;" \
            "need Python >=3.11,<3.14 (set LEDGER_PYTHON)" >&2
        return 1
    fi
    echo "bootstrap: creating $venv and installing requirements.lock ..." >&2
    # The stamp is written last, so an interrupted install is redone next time.
    rm -f -- "$venv/.ledger-bootstrap.sha256"
    if ! "$python" -m venv --clear "$venv"; then
        echo "bootstrap: '$python -m venv' failed (Debian/Ubuntu: apt-get install python3-venv)" >&2
        return 1
    fi
    # Keep the pip that ships with the interpreter: upgrading it would pull an unhashed
    # package. Any pip >= 21.3 handles --require-hashes and PEP 660 editable installs.
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q \
        --require-hashes -r "$root/requirements.lock"; then
        echo "bootstrap: 'pip install --require-hashes -r requirements.lock' failed" >&2
        return 1
    fi
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q \
        --no-deps -e "$root"; then
        echo "bootstrap: 'pip install --no-deps -e .' failed" >&2
        return 1
    fi
    printf '%s\n' "$want" >"$venv/.ledger-bootstrap.sha256"
    echo "bootstrap: done" >&2
}

_ledger_bootstrap() {
    local root venv want lock lock_fd rc=0
    root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)" || return 1
    venv="$root/.venv"

    want="$(cd -- "$root" && _ledger_sha256 requirements.lock pyproject.toml)" || {
        echo "bootstrap: cannot hash requirements.lock / pyproject.toml in $root" >&2
        return 1
    }

    if ! _ledger_venv_current "$venv" "$want"; then
        # Serialise concurrent bootstraps of this checkout (e.g. scripts/test and
        # scripts/demo started together); whoever waited re-checks before installing.
        if command -v flock >/dev/null 2>&1; then
            lock="${TMPDIR:-/tmp}/ledger-bootstrap-$(printf '%s' "$root" | cksum | cut -d' ' -f1).lock"
            exec {lock_fd}>>"$lock" && flock "$lock_fd"
        fi
        if ! _ledger_venv_current "$venv" "$want"; then
            _ledger_install "$root" "$venv" "$want" || rc=$?
        fi
        [[ -n "${lock_fd:-}" ]] && exec {lock_fd}>&-
        [[ $rc -eq 0 ]] || return "$rc"
    fi

    export LEDGER_ROOT="$root"
    export LEDGER_VENV="$venv"
    export VIRTUAL_ENV="$venv"
    case "$PATH" in
        "$venv/bin:"*) ;;
        *) export PATH="$venv/bin:$PATH" ;;
    esac
    unset PYTHONHOME
    hash -r
}

_ledger_bootstrap
