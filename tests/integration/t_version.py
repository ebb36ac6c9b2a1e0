"""Proves: one version everywhere: shared/version.h, `embedwatch --version`, `embedwatch-worker --version`, debian/changelog, and the Python client's __version__ and pyproject.toml."""
import os
import re
import subprocess

import harness as h


def read(*parts):
    with open(os.path.join(h.ROOT, *parts)) as f:
        return f.read()


def scenario():
    m = re.search(r'^#define EMBEDWATCH_VERSION\s+"([^"]+)"$',
                  read("shared", "version.h"), re.M)
    h.check(m is not None, "shared/version.h defines EMBEDWATCH_VERSION")
    version = m.group(1)
    for binary, name in ((h.EMBEDWATCH, "embedwatch"),
                         (h.WORKER, "embedwatch-worker")):
        out = subprocess.run([binary, "--version"], capture_output=True,
                             text=True, timeout=60).stdout
        h.check(out == f"{name} {version}\n", f"{name} --version", out)
    first = read("debian", "changelog").splitlines()[0]
    h.check(first.startswith(f"embedwatch ({version}) "),
            "debian/changelog's version", first)
    init = read("clients", "python", "embedwatch", "__init__.py")
    h.check(f'__version__ = "{version}"' in init, "the client's __version__")
    h.check(f'version = "{version}"' in read("clients", "python",
                                              "pyproject.toml"),
            "pyproject.toml's version")


h.main(scenario)
