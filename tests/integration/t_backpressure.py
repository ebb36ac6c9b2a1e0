"""Proves: when every worker is busy and the queue is full, embedwatch stops reading stdin, so its memory stays bounded however fast lines arrive."""
import os
import threading
import time

import harness as h


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def scenario():
    with h.FakeAPI() as api:
        p = h.Pipe(api, "--jobs", "2", "--queue", "50", "--timeout", "30")
        line = (b'{"id": 1, "input": "hang ' + b"x" * 900 +
                b' @fault:hang"}\n')
        sent = [0]

        def writer():
            try:
                for _ in range(200000):        # ~180 MB if all accepted
                    p.proc.stdin.write(line)
                    sent[0] += 1
            except (BrokenPipeError, ValueError, OSError):
                pass

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(3 * h.SLACK)
        first = sent[0]
        rss1 = rss_kib(p.pid)
        time.sleep(2 * h.SLACK)
        h.check(sent[0] < 2000, f"writer got {sent[0]} lines in: stdin "
                "should have stopped being read")
        h.check(sent[0] == first, "the writer is blocked, not trickling",
                first, sent[0])
        rss2 = rss_kib(p.pid)
        h.check(rss2 < 64 * 1024 * (2 if h.SANITIZED else 1),
                f"RSS {rss2} KiB")
        h.check(rss2 <= rss1 + 1024, "RSS not growing", rss1, rss2)
        p.kill()


h.main(scenario)
