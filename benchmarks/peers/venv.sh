# Sourced by the peers' setup scripts: `peer_venv DIR` creates the venv DIR with $PYTHON
# (default python3.11) unless it exists, and sets $py to its interpreter.
peer_venv() {
    if [ ! -x "$1/bin/python" ]; then
        echo "creating $1 with ${PYTHON:-python3.11}"
        "${PYTHON:-python3.11}" -m venv "$1"
    fi
    py="$1/bin/python"
}
