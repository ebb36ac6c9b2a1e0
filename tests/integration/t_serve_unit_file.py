"""Proves: `make install PREFIX=DIR` puts the binaries, man pages, bash completion and scripts/embedwatch.service there with ExecStart= at the installed binary, the installed unit passes `systemd-analyze verify` without a warning, its ExecStart uses only options `embedwatch --help` lists, the installed embedwatch runs, and `make uninstall` removes every file it installed."""
import os
import re
import shutil
import subprocess
import tempfile

import harness as h

UNIT = os.path.join(h.ROOT, "scripts", "embedwatch.service")
INSTALLED = [
    "bin/embedwatch", "bin/embedwatch-worker",
    "share/man/man1/embedwatch.1", "share/man/man1/embedwatch-worker.1",
    "share/man/man5/embedwatch-protocol.5",
    "lib/systemd/system/embedwatch.service",
    "share/bash-completion/completions/embedwatch",
]


def exec_start_options(text):
    joined = re.sub(r"\\\n\s*", " ", text)
    m = re.search(r"^ExecStart=(.*)$", joined, re.M)
    h.check(m is not None, "an ExecStart line", text[:2000])
    return re.findall(r"(?<!\S)(--[a-z-]+)", m.group(1))


def make(*args):
    # -o all: install what this suite built, never rebuild it here.
    p = subprocess.run(["make", "-s", "-o", "all", *args], cwd=h.ROOT,
                       capture_output=True, text=True, timeout=300)
    h.check(p.returncode == 0, f"make {' '.join(args)}: exit "
            f"{p.returncode}", p.stdout + p.stderr)


def files_under(top):
    found = []
    for d, _, names in os.walk(top):
        found += [os.path.relpath(os.path.join(d, n), top) for n in names]
    return sorted(found)


def verify(unit, prefix):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        h.log("skipped: systemd-analyze not installed")
        return
    # --man=yes needs man(1) to find Documentation='s pages.
    man = "yes" if shutil.which("man") else "no"
    p = subprocess.run([analyze, "verify", f"--man={man}", unit],
                       cwd=os.path.dirname(unit), capture_output=True,
                       text=True, timeout=120,
                       env={**os.environ, "SYSTEMD_LOG_COLOR": "0",
                            "SYSTEMD_PAGER": "",
                            "MANPATH": os.path.join(prefix, "share/man")})
    out = (p.stdout + p.stderr).strip()
    h.log(f"systemd-analyze verify --man={man}: exit {p.returncode}, "
          f"{len(out.splitlines())} lines")
    h.check(p.returncode == 0, f"verify exited {p.returncode}", out)
    h.check(out == "", "verify printed warnings", out)


def scenario():
    with open(UNIT) as f:
        template = f.read()
    h.check("ExecStart=@BINDIR@/embedwatch serve" in template,
            "the template runs @BINDIR@/embedwatch serve", template[:2000])
    usage = subprocess.run([h.EMBEDWATCH, "--help"], capture_output=True,
                           text=True, timeout=60).stdout
    opts = exec_start_options(template)
    h.check("--socket" in opts, "ExecStart names the socket", opts)
    for opt in opts:
        h.check(re.search(rf"(?<![\w-]){opt}(?![\w-])", usage) is not None,
                f"ExecStart option {opt} is not in embedwatch --help", usage)

    tmp = tempfile.mkdtemp(prefix="ew-install-")
    try:
        prefix = os.path.join(tmp, "prefix")
        common = [f"PREFIX={prefix}", f"BIN={os.path.relpath(h.BIN, h.ROOT)}",
                  f"BUILD={os.path.join(tmp, 'build')}"]
        make("install", *common)
        got = files_under(prefix)
        h.check(got == sorted(INSTALLED), "installed files", got)
        unit = os.path.join(prefix, "lib/systemd/system/embedwatch.service")
        with open(unit) as f:
            text = f.read()
        h.check(f"ExecStart={prefix}/bin/embedwatch serve" in text,
                "ExecStart at the installed binary", text[:2000])
        h.check("@" not in text.replace("@.service", ""),
                "nothing left unsubstituted", text)
        for rel in ("bin/embedwatch", "bin/embedwatch-worker"):
            p = subprocess.run([os.path.join(prefix, rel), "--version"],
                               capture_output=True, text=True, timeout=60)
            h.check(p.returncode == 0, f"installed {rel} --version",
                    p.stdout + p.stderr)
        verify(unit, prefix)

        # DESTDIR stages; the unit still names the final place.
        stage = os.path.join(tmp, "stage")
        make("install", f"DESTDIR={stage}", "PREFIX=/opt/ew",
             *common[1:])
        with open(os.path.join(stage, "opt/ew/lib/systemd/system/"
                               "embedwatch.service")) as f:
            h.check("ExecStart=/opt/ew/bin/embedwatch serve" in f.read(),
                    "DESTDIR is not in ExecStart")

        make("uninstall", *common)
        h.check(files_under(prefix) == [], "uninstall left files",
                files_under(prefix))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


h.main(scenario)
