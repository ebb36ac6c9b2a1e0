"""Proves: the Python client installs offline with Debian's Python tools (/usr/bin/python3 -m pip --no-build-isolation --no-index: python3-setuptools, python3-wheel, python3-pip) with its MIT licence in the metadata, and after `make install` the README's "After" example works as written, the binary found on PATH without EMBEDWATCH_BIN (plain suite only)."""
import glob
import os
import shutil
import subprocess
import tempfile

import harness as h

DEBIAN_PYTHON = "/usr/bin/python3"

EXAMPLE = '''
import embedwatch

client = embedwatch.Embedwatch()

resp = client.embeddings.create(model="text-embedding-3-small",
                                input=["first text", "second text"])
vectors = [d.embedding for d in resp.data]
print(resp.model, resp.usage.total_tokens)
'''


def scenario():
    if h.SANITIZED:
        h.log("skipped: installs the plain build, once")
        return
    tmp = tempfile.mkdtemp(prefix="ew-pyinst-")
    try:
        site = os.path.join(tmp, "site")
        src = os.path.join(tmp, "src")
        # A copy: building writes build/ and *.egg-info beside the source.
        shutil.copytree(os.path.join(h.ROOT, "clients", "python"), src,
                        ignore=shutil.ignore_patterns("__pycache__"))
        if not os.access(DEBIAN_PYTHON, os.X_OK) or subprocess.run(
                [DEBIAN_PYTHON, "-c", "import setuptools, wheel, pip"],
                capture_output=True).returncode != 0:
            h.log("skipped: Debian's python3-pip, python3-setuptools and "
                  "python3-wheel are not installed (scripts/install-deps)")
            return
        p = subprocess.run(
            [DEBIAN_PYTHON, "-m", "pip", "install", "--no-build-isolation",
             "--no-index", "--no-deps", "--target", site, src],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        h.check(p.returncode == 0, f"pip install: exit {p.returncode}",
                p.stdout + p.stderr)
        meta = glob.glob(os.path.join(site, "embedwatch-*.dist-info",
                                      "METADATA"))
        h.check(len(meta) == 1, "dist-info", os.listdir(site))
        text = open(meta[0]).read()
        h.check("License: MIT" in text and "MIT License" in text,
                "the licence in the metadata", text[:1500])

        prefix = os.path.join(tmp, "prefix")
        p = subprocess.run(["make", "-s", "-o", "all", "install",
                            f"PREFIX={prefix}",
                            f"BUILD={os.path.join(tmp, 'build')}"],
                           cwd=h.ROOT, capture_output=True, text=True,
                           timeout=300)
        h.check(p.returncode == 0, "make install", p.stdout + p.stderr)
        with h.FakeAPI() as api:
            env = h.clean_env()
            env.update({"PYTHONPATH": site, "OPENAI_BASE_URL": api.base_url,
                        "PATH": f"{prefix}/bin:/usr/bin:/bin"})
            p = subprocess.run([DEBIAN_PYTHON, "-c", EXAMPLE], cwd=tmp,
                               env=env, capture_output=True, text=True,
                               timeout=120)
            h.check(p.returncode == 0, f"the example: exit {p.returncode}",
                    p.stdout + p.stderr)
            h.check(p.stdout == "text-embedding-3-small 4\n",
                    "the example's output", p.stdout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


h.main(scenario)
