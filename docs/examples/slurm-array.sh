#!/bin/sh
# Embed a corpus in 32 shards with a SLURM job array:
#
#   sbatch docs/examples/slurm-array.sh
#
# Each task takes SLURM_ARRAY_TASK_ID (less SLURM_ARRAY_TASK_MIN) and
# SLURM_ARRAY_TASK_COUNT through `--shard auto` and writes
# out/corpus.KK-of-32.jsonl (and .errors). A task that is requeued or
# resubmitted goes on where it stopped (--resume). When all are done:
#
#   embedwatch batch --merge --shards 32 -o out/corpus.jsonl
#   # or, for JSON lines, the same bytes: cat out/corpus.*-of-32.jsonl
#
# Failed inputs can be retried per shard afterwards:
#   embedwatch batch corpus.txt -o out/corpus.jsonl --shard K/32 --retry-failed
#SBATCH --job-name=embed-corpus
#SBATCH --array=0-31
#SBATCH --cpus-per-task=2
#SBATCH --mem=512M
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=logs/embed-%A_%a.log

set -eu
mkdir -p out
exec embedwatch batch corpus.txt -o out/corpus.jsonl --shard auto --resume \
    --jobs 16 --api-key-file "$HOME/.config/embedwatch/api-key" \
    --no-progress
