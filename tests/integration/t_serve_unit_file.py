"""Proves: scripts/embedwatch.service passes `systemd-analyze verify` without a warning (no unknown keys or bad values), with ExecStart pointed at the built binary, and its ExecStart uses only options `embedwatch --help` lists."""
import os
import re
import shutil
import subprocess
import tempfile

import harness as h

UNIT = os.path.join(h.ROOT, "scripts", "embedwatch.service")
INSTALLED = "/usr/local/bin/embedwatch"


def exec_start_options(text):
    joined = re.sub(r"\\\n\s*", " ", text)
    m = re.search(r"^ExecStart=(.*)$", joined, re.M)
    h.check(m is not None, "an ExecStart line", text[:2000])
    return re.findall(r"(?<!\S)(--[a-z-]+)", m.group(1))


def scenario():
    with open(UNIT) as f:
        text = f.read()
    h.check(f"ExecStart={INSTALLED} serve" in text,
            "ExecStart runs the installed binary's serve", text[:2000])
    usage = subprocess.run([h.EMBEDWATCH, "--help"], capture_output=True,
                           text=True, timeout=60).stdout
    opts = exec_start_options(text)
    h.check("--socket" in opts, "ExecStart names the socket", opts)
    for opt in opts:
        h.check(re.search(rf"(?<![\w-]){opt}(?![\w-])", usage) is not None,
                f"ExecStart option {opt} is not in embedwatch --help", usage)

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        h.log("skipped: systemd-analyze not installed")
        return
    tmp = tempfile.mkdtemp(prefix="ew-unit-")
    try:
        unit = os.path.join(tmp, "embedwatch.service")
        with open(unit, "w") as f:
            f.write(text.replace(INSTALLED, os.path.abspath(h.EMBEDWATCH)))
        # --man=no: Documentation= need not exist on this machine.
        p = subprocess.run([analyze, "verify", "--man=no", unit], cwd=tmp,
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "SYSTEMD_LOG_COLOR": "0",
                                "SYSTEMD_PAGER": ""})
        out = (p.stdout + p.stderr).strip()
        h.log(f"systemd-analyze verify: exit {p.returncode}, "
              f"{len(out.splitlines())} lines")
        h.check(p.returncode == 0, f"verify exited {p.returncode}", out)
        h.check(out == "", "verify printed warnings", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


h.main(scenario)
