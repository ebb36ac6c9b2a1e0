"""Proves: the Debian package builds (dpkg-buildpackage -us -uc -b), lintian reports no errors, and extracted into a scratch root it holds the binaries, man pages, unit (not enabled), completion and a postinst that creates the user, and its embedwatch --version runs (scripts/check-deb; plain suite only: it builds from source)."""
import os
import shutil
import subprocess

import harness as h


def scenario():
    if h.SANITIZED:
        h.log("skipped: the package is built from source, once, in the "
              "plain suite")
        return
    missing = [t for t in ("dpkg-buildpackage", "dh", "lintian", "dpkg-deb")
               if shutil.which(t) is None]
    if missing:
        h.log(f"skipped: {', '.join(missing)} not installed "
              "(scripts/install-deps --package)")
        return
    p = subprocess.run([os.path.join(h.ROOT, "scripts", "check-deb")],
                       capture_output=True, text=True, timeout=900)
    h.log(p.stdout + p.stderr)
    h.check(p.returncode == 0, f"check-deb: exit {p.returncode}",
            p.stdout + p.stderr)


h.main(scenario)
