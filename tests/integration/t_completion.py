"""Proves: the bash completion (scripts/embedwatch.bash-completion) completes commands, each command's own options as `embedwatch help CMD` lists them, and the words of --log-level."""
import os
import shutil
import subprocess

import harness as h

SCRIPT = os.path.join(h.ROOT, "scripts", "embedwatch.bash-completion")


def complete(*words):
    """COMPREPLY for the command line words, the last being completed."""
    argv = " ".join(f"'{w}'" for w in (h.EMBEDWATCH, *words))
    code = (f"source '{SCRIPT}'; COMP_WORDS=({argv}); "
            f"COMP_CWORD={len(words)}; _embedwatch; "
            'printf "%s\\n" "${COMPREPLY[@]}"')
    p = subprocess.run(["bash", "-c", code], capture_output=True, text=True,
                       timeout=60)
    h.check(p.returncode == 0, f"bash: exit {p.returncode}", p.stderr)
    return sorted(x for x in p.stdout.splitlines() if x)


def scenario():
    if shutil.which("bash") is None:
        h.log("skipped: no bash")
        return
    h.check(complete("b") == ["batch"], "command", complete("b"))
    h.check(complete("help", "s") == ["serve"], "help's command")
    got = complete("batch", "--res")
    h.check(got == ["--resume"], "batch's own option", got)
    got = complete("pipe", "--res")
    h.check(got == [], "pipe has no --resume", got)
    got = complete("serve", "--socket-")
    h.check(got == ["--socket-mode"], "serve option", got)
    got = complete("pipe", "--time")
    h.check(got == ["--timeout"], "common option", got)
    got = complete("pipe", "--log-level", "")
    h.check(got == ["debug", "error", "info", "warn"], "levels", got)


h.main(scenario)
