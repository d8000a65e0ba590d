# offline_env.sh — sourced by the GPU-host scripts (gpu-check.sh, profile_step.sh,
# train_step_gpu_check.sh, qat_quality.sh). Defines lb_offline_env [ROOT]:
# when ROOT/.offline/unpack.sh exists (shared/offline-deps/README.md; carry
# .offline along), it unpacks cJSON and PCRE2 into /tmp/lowbit-offline, puts
# their lib dir first on LD_LIBRARY_PATH and sets the array
# prefix_args=(-DCMAKE_PREFIX_PATH=<prefix>) for cmake; otherwise
# prefix_args=(). ROOT defaults to the current directory.
lb_offline_env() {
    local root=${1:-.} usr
    prefix_args=()
    [ -x "$root/.offline/unpack.sh" ] || return 0
    usr=$("$root/.offline/unpack.sh" /tmp/lowbit-offline | tail -1)
    prefix_args=(-DCMAKE_PREFIX_PATH="$usr")
    export LD_LIBRARY_PATH="$usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
