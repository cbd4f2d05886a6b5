#!/bin/sh
# The 1..16-process curves of the sum and of the CPU bench, in one command, for a machine with
# (at least) 16 cores: sh bench/scaling16.sh [OUT]  (default: bench/out/scaling16).
#
# 1. bench/sum.py on a 4 GiB file in the page cache: cat, poolpipe's sum_file and the whole
#    `poolpipe sum` command at 1, 2, 4, 8 and 16 processes, each as a fraction of cat's throughput
#    in the same run (goal: 4 GB/s at 16 processes).
# 2. The bench_cpu rule (the article's CPU-bound loop at 1..bench.cpu.threads processes; 16 by
#    default): results/bench/cpu.tsv, speedup and efficiency per process count (goal: a speedup
#    of 7.2 at 8 processes).
# Both tables are printed and kept in OUT, with the machine's description and load averages.
set -eu
OUT=${1:-bench/out/scaling16}
BIN=${BIN:-.venv/bin}
mkdir -p "$OUT"
cat /proc/loadavg > "$OUT/loadavg_before.txt"
"$BIN/python" bench/sum.py --methods cat,poolpipe,cli --processes 1,2,4,8,16 --size-mb 4096 \
    --repeats 5 --out "$OUT" | tee "$OUT/sum.txt"
SLURM_CONF=/dev/null "$BIN/snakemake" results/bench/cpu.tsv --cores 16 --forcerun bench_cpu \
    > "$OUT/bench_cpu.log" 2>&1
cp results/bench/cpu.tsv "$OUT/cpu.tsv"
cat /proc/loadavg > "$OUT/loadavg_after.txt"
echo
echo "CPU bench (results/bench/cpu.tsv):"
cat "$OUT/cpu.tsv"
