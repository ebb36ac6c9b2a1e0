#!/usr/bin/env python3
"""A small asyncio retrieval app on embedwatch, with a heartbeat.

It embeds a corpus, then answers queries by cosine similarity, while a
heartbeat task ticks every 50 ms and reports any stall of the event loop.
Queries have a service-level budget (asyncio.wait_for): a query that runs
over it is cancelled, which kills its worker in embedwatch at once; one that
fails gets a degraded answer instead of hanging the app.

With --faults (for the repository's fake API) two queries misbehave: one
hangs forever at the API, one is refused with 401. The heartbeat keeps
ticking through both.

    python3 tests/fake/fake_api.py --port-file /tmp/port &
    EMBEDWATCH_BIN=bin/embedwatch \\
        python3 clients/python/examples/rag_heartbeat.py \\
        --base-url http://127.0.0.1:$(cat /tmp/port)/v1 --faults
"""
import argparse
import asyncio
import math
import os
import sys
import time

try:
    import embedwatch
except ImportError:		# run from a checkout, not installed
    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), ".."))
    import embedwatch

CORPUS = [
    "embedwatch runs every embeddings call in its own worker process",
    "a worker that passes its deadline is killed with SIGKILL",
    "the supervisor retries timeouts, resets and 5xx answers with backoff",
    "429 answers are retried after the Retry-After the API asks for",
    "cancelling a request kills its worker at once",
    "answers come back in completion order, matched by id",
    "on SIGTERM embedwatch drains in-flight calls, then exits",
    "the asyncio client never blocks the event loop",
    "a dead embedwatch child is restarted, within an intensity limit",
    "cosine similarity ranks documents by the angle between vectors",
    "retrieval-augmented generation puts the best passages in the prompt",
    "the heartbeat shows whether anything stalls the loop",
]

QUERIES = [
    "what happens when a call hangs?",
    "how are rate limits handled?",
    "does the client block asyncio?",
    "how do I rank passages?",
]


class Heartbeat:
    """Ticks every period seconds; remembers and reports the longest gap."""

    def __init__(self, period=0.05, warn_after=0.25):
        self.period = period
        self.warn_after = warn_after
        self.max_gap = 0.0
        self.ticks = 0

    async def run(self):
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.period)
            now = time.monotonic()
            gap = now - last
            last = now
            self.ticks += 1
            self.max_gap = max(self.max_gap, gap)
            if gap > self.warn_after:
                print(f"  [heartbeat] the loop stalled for {gap:.3f} s",
                      flush=True)


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y
                                                            for y in b))
    return dot / norm if norm else 0.0


class Index:
    def __init__(self, client):
        self.client = client
        self.docs = []
        self.vectors = []

    async def add(self, docs, batch=4):
        batches = [docs[i:i + batch] for i in range(0, len(docs), batch)]
        results = await asyncio.gather(
            *(self.client.embed(b) for b in batches))
        for b, vectors in zip(batches, results):
            self.docs.extend(b)
            self.vectors.extend(vectors)

    async def search(self, query, k=2, budget=3.0):
        """The k best documents for query, or raise. budget is the
        service-level time this query may take, all included."""
        vector = await asyncio.wait_for(self.client.embed_one(query), budget)
        scored = sorted(zip(self.vectors, self.docs),
                        key=lambda vd: cosine(vector, vd[0]), reverse=True)
        return [doc for _, doc in scored[:k]]


async def answer(index, query):
    start = time.monotonic()
    try:
        hits = await index.search(query)
    except asyncio.TimeoutError:
        print(f"? {query}\n  over budget after "
              f"{time.monotonic() - start:.1f} s: cancelled; answering "
              "without retrieval")
        return
    except embedwatch.EmbedwatchError as e:
        print(f"? {query}\n  retrieval failed ({type(e).__name__}: "
              f"{e.message[:80]}); answering without retrieval")
        return
    print(f"? {query}  ({time.monotonic() - start:.2f} s)")
    for doc in hits:
        print(f"  - {doc}")


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", help="the embeddings API (default: "
                    "embedwatch's, from the environment)")
    ap.add_argument("--binary", help="embedwatch (default: $EMBEDWATCH_BIN "
                    "or PATH)")
    ap.add_argument("--faults", action="store_true",
                    help="add queries that hang and fail at the fake API")
    args = ap.parse_args()

    queries = list(QUERIES)
    if args.faults:
        queries.insert(1, "a query the API never answers @fault:hang")
        queries.insert(3, "a query the API refuses @fault:401")

    beat = Heartbeat()
    heartbeat = asyncio.create_task(beat.run())
    async with embedwatch.AsyncEmbedwatch(
            binary=args.binary, base_url=args.base_url, timeout=2,
            deadline=10) as client:
        index = Index(client)
        await index.add(CORPUS)
        print(f"indexed {len(index.docs)} documents\n")
        # Queries run concurrently, as a server's requests would.
        await asyncio.gather(*(answer(index, q) for q in queries))
    heartbeat.cancel()
    print(f"\nheartbeat: {beat.ticks} ticks, longest gap "
          f"{beat.max_gap * 1000:.0f} ms")
    return 0 if beat.max_gap < 0.5 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
