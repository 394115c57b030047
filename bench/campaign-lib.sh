# campaign-lib.sh: shell pieces shared by the campaign scripts (bench/issue7-campaign.sh,
# bench/ab-campaign.sh). Source it from the repository root after setting OUT (the output
# directory, created here). It builds nothing; each script builds what it runs.
#
#   BENCH_BIN   tickrouter-bench to run (default ./target/release/tickrouter-bench)
#   TB_FLAGS    noise handling on every tickrouter-bench run (default: wait up to 120 s for a
#               quiet machine, repeat a disturbed run up to twice, "disturbed" = other processes
#               above 0.25 cores, or steal, see tickrouter-bench --help)
#   TB_TIMEOUT  seconds after which one tickrouter-bench run is killed (default: no limit)
mkdir -p "$OUT"
B=("${BENCH_BIN:-./target/release/tickrouter-bench}")
read -ra T <<<"${TB_FLAGS:---quiet-wait 120 --retries 2 --max-other-cores 0.25}"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
tb() {  # tb FILE ARGS...: one tickrouter-bench run, its JSON line appended to OUT/FILE;
        # the tickrouter binary is $BIN (default: the release build of this checkout)
  local f="$1"; shift
  local limit=()
  [ -n "${TB_TIMEOUT:-}" ] && limit=(timeout --kill-after 10 "$TB_TIMEOUT")
  log "tickrouter-bench $* ${BIN:+(server $BIN)}"
  "${limit[@]}" "${B[@]}" "$@" "${T[@]}" --server-bin "${BIN:-./target/release/tickrouter}" \
    2>>"$OUT/stderr.log" | tee -a "$OUT/$f" >/dev/null
  local rc="${PIPESTATUS[0]}"
  [ "$rc" = 0 ] || log "tickrouter-bench exited $rc (see $OUT/stderr.log)"
}
steal_ticks() { awk '/^cpu /{print $9}' /proc/stat; }
