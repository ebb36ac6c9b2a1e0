"""Shared setup for the client tests: import paths, the binaries under
test, the fake API, and small helpers.

The tests import the client from clients/python (no pip install) and the
fake API and process helpers from tests/integration/harness.py. They run
the real bin/embedwatch from $EW_BIN (default: the repository's bin/),
like every integration scenario.
"""
import asyncio
import contextlib
import logging
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(CLIENT_DIR))
for path in (CLIENT_DIR, os.path.join(ROOT, "tests", "integration")):
    if path not in sys.path:
        sys.path.insert(0, path)

import harness  # noqa: E402
import embedwatch  # noqa: E402

fake_api = harness.fake_api
EMBEDWATCH = harness.EMBEDWATCH
SLACK = harness.SLACK
as_float32 = harness.as_float32
# Children doing calls: idle warm workers (connected ahead) left out.
children = harness.working
FakeAPI = harness.FakeAPI


# A module's fake API, for `setUpModule = start_api` and
# `tearDownModule = stop_api`; the module reads it as support.api.
api = None


def start_api():
    global api
    api = FakeAPI().__enter__()


def stop_api():
    api.__exit__(None, None, None)


def expected(texts, dims=8):
    return [fake_api.embedding_for(t, dims) for t in texts]


def client_kwargs(api, **kw):
    """Options every test client gets: the binary under test, the fake
    API, and generous margins for a slow (sanitized) build."""
    kw.setdefault("binary", EMBEDWATCH)
    kw.setdefault("base_url", api.base_url)
    kw.setdefault("answer_margin", 5.0 * SLACK)
    kw.setdefault("close_grace", 5.0 * SLACK)
    # The fake needs no key; keep the runner's environment out of it.
    env = {k: "" for k in os.environ
           if k.startswith(("EMBEDWATCH_", "OPENAI_"))}
    env.update(kw.pop("env", {}))
    kw["env"] = env
    return kw


def alive(pid):
    """Is pid a live (not zombie, not reaped) process?"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting "
                                 f"for {what}")
        time.sleep(0.02)


async def async_wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting "
                                 f"for {what}")
        await asyncio.sleep(0.02)


@contextlib.contextmanager
def quiet(logger="embedwatch", level=logging.CRITICAL):
    """Silence expected warnings (child deaths) in the test output."""
    lg = logging.getLogger(logger)
    old = lg.level
    lg.setLevel(level)
    try:
        yield
    finally:
        lg.setLevel(old)
