#!/usr/bin/env bash
# Fetches ONNX Runtime's shared library once, from the PyPI wheel `onnxruntime` (version and
# checksum pinned below; the same version as models/build/requirements.txt), into
# ~/.cache/vision/onnxruntime/<version>/, and prints the library's path. `vision serve` finds it
# there by itself (or through ORT_DYLIB_PATH); without it, it serves with tract, several times
# slower. Needs curl and python3 (to unpack the wheel, a zip file); no pip, no virtualenv.
set -euo pipefail

VERSION=1.32.0
case "$(uname -m)" in
    x86_64)
        WHEEL=onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl
        URL=https://files.pythonhosted.org/packages/1d/46/e6f356c9539d2eed44126de3421a81e217da2ad91b22dc11b379cb1e384f/$WHEEL
        SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
        ;;
    aarch64)
        WHEEL=onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl
        URL=https://files.pythonhosted.org/packages/b7/30/103820b32e9dc1d1fcfc5b519fd2de5bd699d25a25895caf5d726350d1b5/$WHEEL
        SHA256=2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c
        ;;
    *)
        echo "onnxruntime.sh: no pinned ONNX Runtime wheel for $(uname -m); vision will use tract" >&2
        exit 1
        ;;
esac

DIR=${VISION_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vision}/onnxruntime/$VERSION
LIB=$DIR/libonnxruntime.so.$VERSION
if [ -f "$LIB" ]; then
    echo "$LIB"
    exit 0
fi

mkdir -p "$DIR"
TMP=$(mktemp -d "$DIR/.fetch.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
echo "onnxruntime.sh: fetching $WHEEL from PyPI (once, ~28 MB)" >&2
curl -sSfL --retry 3 -o "$TMP/$WHEEL" "$URL"
echo "$SHA256  $TMP/$WHEEL" | sha256sum --check --status || {
    echo "onnxruntime.sh: checksum mismatch for $WHEEL (expected $SHA256); nothing installed" >&2
    exit 1
}
python3 - "$TMP/$WHEEL" "$TMP" "$VERSION" <<'EOF'
import sys, zipfile
wheel, out, version = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in ("onnxruntime/capi/libonnxruntime.so." + version,
                 "onnxruntime/capi/libonnxruntime_providers_shared.so"):
        with z.open(name) as src, open(out + "/" + name.rsplit("/", 1)[1], "wb") as dst:
            dst.write(src.read())
EOF
mv "$TMP/libonnxruntime_providers_shared.so" "$DIR/"
# The library last: its presence means the fetch completed.
mv "$TMP/libonnxruntime.so.$VERSION" "$LIB"
echo "$LIB"
