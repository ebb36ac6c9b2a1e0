#!/usr/bin/env python3
"""Check the man pages: `mandoc -T lint -W warning` on man/* prints nothing.

Run by tests/run.py as the static check `man`; needs mandoc (the Debian
package mandoc, installed by scripts/install-deps)."""
import glob
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    pages = sorted(glob.glob(os.path.join(ROOT, "man", "*.[0-9]")))
    if not pages:
        print("no man pages in man/")
        return 1
    if shutil.which("mandoc") is None:
        print("mandoc is not installed: apt-get install mandoc "
              "(or scripts/install-deps)")
        return 1
    p = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", *pages],
                       capture_output=True, text=True)
    out = (p.stdout + p.stderr).strip()
    print(f"mandoc -T lint -W warning: {len(pages)} pages, exit "
          f"{p.returncode}")
    if out:
        print(out)
    return 0 if p.returncode == 0 and not out else 1


if __name__ == "__main__":
    sys.exit(main())
