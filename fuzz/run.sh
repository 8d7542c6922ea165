#!/usr/bin/env bash
# Seeds each fuzz target's corpus (the sip-proto test vectors; for `websocket`, the upgrades and
# frames in seeds/websocket/), then fuzzes each target for SECONDS_PER_TARGET seconds (default
# 60). Runnable from any directory.
#   SECONDS_PER_TARGET=300 fuzz/run.sh            # every target
#   fuzz/run.sh framing                           # just one
set -euo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vectors="$fuzz_dir/../crates/sip-proto/tests/vectors"
seconds="${SECONDS_PER_TARGET:-60}"

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(parse_message framing body_pidf body_xpidf body_dialog_info body_mwi body_feature_event websocket)
fi

export RUSTC_BOOTSTRAP=1
cd "$fuzz_dir"

for target in "${targets[@]}"; do
    corpus="$fuzz_dir/corpus/$target"
    mkdir -p "$corpus"
    if [ "$target" = websocket ]; then
        cp "$fuzz_dir"/seeds/websocket/* "$corpus/"
        echo "== fuzzing $target for ${seconds}s =="
        cargo fuzz run "$target" -- -max_total_time="$seconds"
        continue
    fi
    # Flatten paths into file names: vendors/pjsip/register.sip -> vendors-pjsip-register.sip
    while IFS= read -r -d '' vector; do
        rel="${vector#"$vectors"/}"
        cp "$vector" "$corpus/${rel//\//-}"
    done < <(find "$vectors" -type f -name '*.sip' -print0)

    echo "== fuzzing $target for ${seconds}s =="
    cargo fuzz run "$target" -- -max_total_time="$seconds"
done
