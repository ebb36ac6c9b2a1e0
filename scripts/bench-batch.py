#!/usr/bin/env python3
"""Benchmark `embedwatch batch` (issue 3); wired into make bench.

Against a private nginx on 127.0.0.1 that returns one fixed, OpenAI-shaped
answer holding exactly --batch-size float embeddings (embedwatch checks
count, dimensions and finiteness, so one fixed answer is valid as long as
every call carries exactly that many inputs: the corpus is rounded down
to a multiple of the batch size, 100,000 lines becoming 99,968), it
measures in one run:

  1. inputs/s of embedwatch batch (JSON lines to a file, .npy, and JSON
     lines to /dev/null) at --batch-size 64 and --jobs 8, beside a GNU
     parallel + curl + jq pipeline doing the same job (64 lines a call,
     8 at once, JSON lines out in input order with line-number ids);
  2. the supervisor's peak RSS (VmHWM) and CPU time for 100,000 and
     1,000,000 lines: it must not grow with the input;
  3. the share of the run that writing the output costs: the JSON-lines
     run to a file against the same run to /dev/null.

Every figure is measured in the run that prints it. The markdown table
goes to stdout and to build/bench/batch.md. Python 3 standard library
only; everything started here is stopped before exit, also on SIGINT.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NGINX_CONF = """daemon off;
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
	access_log off;
	keepalive_timeout 0;
	client_body_temp_path {prefix}/tmp/body;
	client_body_buffer_size 1m;
	proxy_temp_path {prefix}/tmp/proxy;
	fastcgi_temp_path {prefix}/tmp/fastcgi;
	uwsgi_temp_path {prefix}/tmp/uwsgi;
	scgi_temp_path {prefix}/tmp/scgi;
	server {{
		listen 127.0.0.1:{port} backlog=4096;
		root {prefix}/www;
		location = /v1/embeddings {{
			types {{ }}
			default_type application/json;
			error_page 405 =200 $uri;
		}}
	}}
}}
"""

live = []


def stop_all(*_):
    for p in live:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    live.clear()


def on_signal(signo, _frame):
    stop_all()
    sys.exit(128 + signo)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fixed_answer(n, dims):
    """n embeddings of dims exact float32 values, shortest text."""
    data = []
    for i in range(n):
        vec = [((i * 7919 + j * 104729) % 65536 * 2 - 65535) / 65536
               for j in range(dims)]
        data.append({"object": "embedding", "index": i, "embedding": vec})
    return json.dumps({"object": "list", "data": data,
                       "model": "text-embedding-3-small",
                       "usage": {"prompt_tokens": n, "total_tokens": n}},
                      separators=(",", ":"))


def start_nginx(tmp, n, dims):
    prefix = os.path.join(tmp, "nginx")
    for sub in ("www/v1", "tmp"):
        os.makedirs(os.path.join(prefix, sub))
    with open(os.path.join(prefix, "www/v1/embeddings"), "w") as f:
        f.write(fixed_answer(n, dims))
    port = free_port()
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(prefix=prefix, port=port))
    p = subprocess.Popen(["nginx", "-p", prefix, "-c",
                          os.path.join(prefix, "nginx.conf")],
                         stderr=subprocess.DEVNULL)
    live.append(p)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return port
        except OSError:
            if p.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench-batch: nginx did not start")
            time.sleep(0.05)


def write_corpus(path, lines):
    with open(path, "w") as f:
        for i in range(lines):
            f.write(f"document {i}: the quick brown fox jumps over the "
                    f"lazy dog, number {i * 2654435761 % 1000003}\n")


def proc_sample(pid):
    """(VmHWM in KiB, CPU seconds) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            hwm = next(int(x.split()[1]) for x in f
                       if x.startswith("VmHWM:"))
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return hwm, cpu
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def run_batch(args, port, corpus, out, errors, extra=()):
    """Run embedwatch batch; returns (seconds, VmHWM KiB, CPU s)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("EMBEDWATCH_", "OPENAI_"))}
    argv = [os.path.join(args.bin, "embedwatch"), "batch", corpus, "-o", out,
            "--errors", errors, "--base-url", f"http://127.0.0.1:{port}/v1",
            "--batch-size", str(args.batch_size), "--jobs", str(args.jobs),
            "--encoding", "float", "--no-progress", *extra]
    start = time.monotonic()
    p = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE)
    live.append(p)
    sample = (0, 0.0)
    while p.poll() is None:
        s = proc_sample(p.pid)
        if s is not None:
            sample = s
        time.sleep(0.02)
    elapsed = time.monotonic() - start
    err = p.stderr.read().decode(errors="replace")
    live.remove(p)
    if p.returncode != 0:
        with open(errors) as f:
            first = f.readline()
        raise SystemExit(f"bench-batch: embedwatch exited {p.returncode}:"
                         f"\n{err[-2000:]}{first}")
    return elapsed, sample[0], sample[1]


def count_lines(path):
    n = 0
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                return n
            n += block.count(b"\n")


def run_pipeline(args, port, corpus, out):
    """GNU parallel + curl + jq: the same job, JSON lines in order."""
    b = args.batch_size
    job = ("jq -R -s -c '{model: \"text-embedding-3-small\", "
           "encoding_format: \"float\", input: (split(\"\\n\")[:-1])}' | "
           f"curl -sS --fail -H 'Content-Type: application/json' -d @- "
           f"http://127.0.0.1:{port}/v1/embeddings | "
           f"jq -c --argjson s {{#}} '.data | sort_by(.index) | "
           f"to_entries[] | {{id: (($s - 1) * {b} + .key + 1), "
           f"embedding: .value.embedding}}'")
    start = time.monotonic()
    with open(corpus, "rb") as fin, open(out, "wb") as fout:
        p = subprocess.Popen(["parallel", "--will-cite", "--pipe", "-N",
                              str(b), "-k", "-j", str(args.jobs), job],
                             stdin=fin, stdout=fout, stderr=subprocess.PIPE)
        live.append(p)
        err = p.communicate()[1]
        live.remove(p)
    elapsed = time.monotonic() - start
    if p.returncode != 0:
        raise SystemExit(f"bench-batch: the pipeline failed: {err[-500:]}")
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin"))
    ap.add_argument("--lines", type=int, default=100000)
    ap.add_argument("--big", type=int, default=1000000,
                    help="lines of the memory run (0: skip it)")
    ap.add_argument("--dims", type=int, default=256)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--no-pipeline", action="store_true")
    args = ap.parse_args()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if shutil.which("nginx") is None:
        raise SystemExit("bench-batch: nginx is not installed "
                         "(scripts/install-deps --bench)")
    b = args.batch_size
    lines = args.lines // b * b
    big = args.big // b * b
    tmp = tempfile.mkdtemp(prefix="ew-bench-batch-")
    os.chmod(tmp, 0o755)    # nginx's workers may run as nobody
    rows = []
    try:
        port = start_nginx(tmp, b, args.dims)
        corpus = os.path.join(tmp, "corpus.txt")
        write_corpus(corpus, lines)
        errors = os.path.join(tmp, "errors")
        out = os.path.join(tmp, "out.jsonl")

        t_file, hwm, cpu = run_batch(args, port, corpus, out, errors)
        if count_lines(out) != lines:
            raise SystemExit("bench-batch: output has the wrong length")
        size = os.path.getsize(out)
        os.unlink(out)
        rows.append(("embedwatch batch, JSON lines to a file", lines,
                     t_file, hwm, cpu, f"{size / 1e6:.0f} MB out"))
        t_npy, hwm_n, cpu_n = run_batch(args, port, corpus,
                                        os.path.join(tmp, "out.npy"), errors)
        size = os.path.getsize(os.path.join(tmp, "out.npy"))
        os.unlink(os.path.join(tmp, "out.npy"))
        rows.append(("embedwatch batch, .npy to a file", lines, t_npy,
                     hwm_n, cpu_n, f"{size / 1e6:.0f} MB out"))
        t_null, hwm0, cpu0 = run_batch(args, port, corpus, "/dev/null",
                                       errors)
        rows.append(("embedwatch batch, JSON lines to /dev/null", lines,
                     t_null, hwm0, cpu0, ""))
        if args.no_pipeline:
            pipe_note = "skipped (--no-pipeline)"
        elif shutil.which("parallel") is None or shutil.which("jq") is None:
            pipe_note = "not run: GNU parallel or jq is not installed"
        else:
            pout = os.path.join(tmp, "pipeline.jsonl")
            t_pipe = run_pipeline(args, port, corpus, pout)
            if count_lines(pout) != lines:
                raise SystemExit("bench-batch: the pipeline's output has "
                                 "the wrong length")
            os.unlink(pout)
            rows.append(("GNU parallel + curl + jq", lines, t_pipe, None,
                         None, ""))
            pipe_note = None
        if big > 0:
            write_corpus(corpus, big)
            t_big, hwm_b, cpu_b = run_batch(args, port, corpus, "/dev/null",
                                            errors)
            rows.append(("embedwatch batch, JSON lines to /dev/null", big,
                         t_big, hwm_b, cpu_b, ""))
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    text = [f"## embedwatch batch: {args.dims} dimensions, --batch-size {b},"
            f" --jobs {args.jobs}, {os.cpu_count()} CPUs, nginx fixed "
            "answer on 127.0.0.1", "",
            "| run | lines | seconds | inputs/s | supervisor VmHWM | "
            "supervisor CPU s | note |", "|---|---:|---:|---:|---:|---:|---|"]
    for name, n, sec, hwm, cpu, note in rows:
        text.append(f"| {name} | {n:,} | {sec:.1f} | {n / sec:,.0f} | "
                    + (f"{hwm / 1024:.1f} MiB" if hwm else "-") + " | "
                    + (f"{cpu:.1f}" if cpu is not None else "-")
                    + f" | {note} |")
    text.append("")
    share = max(0.0, 1 - t_null / t_file)
    text.append(f"Writing the JSON-lines output to a file costs {share:.0%} "
                f"of the run ({t_file:.1f} s to a file, {t_null:.1f} s to "
                "/dev/null).")
    if pipe_note:
        text.append(f"GNU parallel + curl + jq: {pipe_note}.")
    if big > 0:
        text.append(f"Peak supervisor RSS: {hwm0 / 1024:.1f} MiB at "
                    f"{lines:,} lines, {hwm_b / 1024:.1f} MiB at {big:,} "
                    "lines (target: at most 32 MiB, flat).")
    report = "\n".join(text) + "\n"
    sys.stdout.write(report)
    os.makedirs(os.path.join(ROOT, "build", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench", "batch.md"), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
