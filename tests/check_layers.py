#!/usr/bin/env python3
"""Check that every C file under supervisor/, worker/ and shared/ includes
only what its place in the tree may see; tests/run.py runs it in `make check`.

The supervisor is in layers; a file includes from its own layer or a lower
one, and the include names the layer ("engine/slot.h"):

    core/, config/ < engine/ < protocol/ < pipe/, serve/, batch/ < main.c

core/ does not include config/; the modes do not include each other. Every
file may include the shared headers ("buf.h"); the supervisor may include
the worker's public "worker.h" and nothing else from worker/; worker/
includes only worker/ and shared/; shared/ only shared/. libcurl and OpenSSL
headers belong to worker/ alone. tests/ is not checked: unit tests reach
into any layer on purpose.

A quoted include is resolved as the compiler resolves it: the including
file's own directory first, then the -I list the Makefile gives that tree
(INC_shared, INC_worker, INC_supervisor). So a bare "slot.h" inside engine/
is caught as not naming its layer, and a "log.h" shadowed by a neighbour is
reported with the file it really reaches. #include lines inside /* */
comments are ignored; those under #if are checked like any other.

Usage: check_layers.py [ROOT]      check the tree at ROOT (default: here)
       check_layers.py --self-test check the checker on small made-up trees
Prints "file:line: message" per violation and one summary line; exits 1 if
anything is wrong.
"""
import os
import re
import sys
import tempfile

# Bottom to top; layers on one rank may include each other unless
# FORBIDDEN says otherwise.
RANKS = [("core", "config"), ("engine",), ("protocol",),
         ("pipe", "serve", "batch"), ("main.c",)]
RANK = {layer: i for i, names in enumerate(RANKS) for layer in names}
MODES = ("pipe", "serve", "batch")
FORBIDDEN = {("core", "config"): "core/ must not include config/"}
for a in MODES:
    for b in MODES:
        if a != b:
            FORBIDDEN[(a, b)] = "the modes do not include each other"


def shown(layer):
    """A layer as the tree shows it: "engine/", "main.c"."""
    return layer if layer == "main.c" else layer + "/"


ORDER = " < ".join(", ".join(shown(n) for n in names) for names in RANKS)

# The compiler's search path per tree, after the including file's directory;
# keep in step with INC_* in the Makefile.
SEARCH = {"shared": ["shared"],
          "worker": ["shared", "worker"],
          "supervisor": ["shared", "supervisor", "worker"]}
ROOTS = ("shared", "supervisor", "worker")
WORKER_PUBLIC = "worker/worker.h"
# System headers only the worker may include.
WORKER_ONLY = re.compile(r"(curl|openssl)/")
# Known exceptions to WORKER_ONLY, each with the reason it still stands.
# An entry that no longer matches anything is reported, not failed.
EXCEPTIONS = {
}

INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.M)
COMMENT = re.compile(r"/\*.*?\*/", re.S)


def layer_of(rel):
    """The layer of a path under supervisor/, or None if it is in none."""
    parts = rel.split("/")
    if len(parts) == 2:
        return "main.c" if parts[1] in ("main.c", "main.h") else None
    return parts[1] if parts[1] in RANK else None


def resolve(root, rel, name, dirs):
    """The tree-relative path that `#include "name"` in rel reaches through
    dirs (its own directory first), or None."""
    for d in [os.path.dirname(rel)] + dirs:
        path = os.path.normpath(os.path.join(d, name))
        if not path.startswith("..") and os.path.isfile(
                os.path.join(root, path)):
            return path
    return None


def canonical(path):
    """How a file is named from its include root: "buf.h", "engine/slot.h"."""
    return path.split("/", 1)[1]


def check_quoted(root, rel, name):
    """The message for one quoted include in rel, or None if it is allowed."""
    tree = rel.split("/", 1)[0]
    target = resolve(root, rel, name, SEARCH[tree])
    if target is None:
        # Not reachable from here; say which rule it breaks if it is
        # elsewhere in the tree.
        target = resolve(root, rel, name, list(ROOTS))
        if target is None:
            return f'includes "{name}", which is not in shared/, ' \
                   f'supervisor/ or worker/'
    where = target.split("/", 1)[0]
    if tree == "shared" and where != "shared":
        return f'includes "{name}" ({target}): shared/ includes only ' \
               f'shared/ headers'
    if tree == "worker" and where not in ("shared", "worker"):
        return f'includes "{name}" ({target}): worker/ includes only ' \
               f'worker/ and shared/ headers'
    if tree == "supervisor" and where == "worker" and \
            target != WORKER_PUBLIC:
        return f'includes "{name}" ({target}): the supervisor includes ' \
               f'only "worker.h" from worker/'
    if name != canonical(target):
        return f'includes "{name}", which reaches {target}: write ' \
               f'"{canonical(target)}"'
    if tree != "supervisor" or where != "supervisor":
        return None
    mine, theirs = layer_of(rel), layer_of(target)
    if theirs is None:
        return f'includes "{name}" from {os.path.dirname(target)}/, ' \
               f'which is not a layer ({ORDER})'
    if RANK[theirs] > RANK[mine]:
        return f'includes "{name}": {shown(mine)} may not include from ' \
               f'{shown(theirs)}, a higher layer ({ORDER})'
    if (mine, theirs) in FORBIDDEN:
        return f'includes "{name}": {FORBIDDEN[(mine, theirs)]}'
    return None


def c_files(root):
    for tree in ROOTS:
        for d, subdirs, files in os.walk(os.path.join(root, tree)):
            subdirs.sort()
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(d, f), root)


def check(root):
    """Return (number of files, violations as "file:line: message",
    notes on stale exceptions)."""
    bad = []
    used = set()
    n_files = 0
    for rel in c_files(root):
        n_files += 1
        if rel.startswith("supervisor/") and layer_of(rel) is None:
            bad.append(f"{rel}:1: is in no layer ({ORDER}); put it in one, "
                       f"or add its folder to tests/check_layers.py")
            continue
        with open(os.path.join(root, rel), errors="replace") as f:
            text = f.read()
        # Blank out comments but keep their newlines, so lines still count.
        text = COMMENT.sub(lambda m: "\n" * m.group().count("\n"), text)
        for m in INCLUDE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            kind, name = m.group(1), m.group(2).strip()
            if kind == '"':
                msg = check_quoted(root, rel, name)
            elif WORKER_ONLY.match(name) and not rel.startswith("worker/"):
                if (rel, name) in EXCEPTIONS:
                    used.add((rel, name))
                    msg = None
                else:
                    msg = f"includes <{name}>: libcurl and OpenSSL " \
                          f"belong to worker/ alone"
            else:
                msg = None
            if msg is not None:
                bad.append(f"{rel}:{line}: {msg}")
    notes = [f"{rel}: known exception <{name}> no longer needed; remove "
             f"it from tests/check_layers.py" for rel, name in EXCEPTIONS
             if (rel, name) not in used and
             os.path.isfile(os.path.join(root, rel))]
    return n_files, bad, notes


def main_check(root, quiet=False):
    n_files, bad, notes = check(root)
    if not quiet:
        for line in bad + notes:
            print(line)
        print(f"layers: {n_files} files checked, {len(bad)} bad includes")
    return 1 if bad or n_files == 0 else 0


# The self-test: a small tree that obeys every rule, then one change per
# rule, each of which must be reported at its file and line (and nothing
# else must be).
CLEAN = {
    "shared/buf.h": '#include <stddef.h>\n',
    "shared/log.h": '#include "buf.h"\n',
    "worker/worker.h": '#include "buf.h"\n',
    "worker/embed.h": '#include "buf.h"\n',
    "worker/worker.c": '#include <curl/curl.h>\n#include "embed.h"\n'
                       '#include "worker.h"\n',
    "supervisor/core/spawn.h": '#include "buf.h"\n',
    "supervisor/core/spawn.c": '#include "core/spawn.h"\n'
                               '#include "worker.h"\n',
    "supervisor/config/config.h": '#include "log.h"\n',
    "supervisor/config/config.c": '#include "config/config.h"\n'
                                  '#include "core/spawn.h"\n',
    "supervisor/engine/engine.h": '#include "config/config.h"\n',
    "supervisor/engine/engine.c": '/* #include "pipe/pipe.h" */\n'
                                  '#include "engine/engine.h"\n'
                                  '#include "core/spawn.h"\n',
    "supervisor/protocol/jsonl.h": '#include "engine/engine.h"\n',
    "supervisor/pipe/pipe.h": '#include "protocol/jsonl.h"\n',
    "supervisor/serve/serve.h": '#include "protocol/jsonl.h"\n',
    "supervisor/batch/batch.h": '#include "engine/engine.h"\n',
    "supervisor/batch/input.h": '#include "batch/batch.h"\n',
    "supervisor/main.c": '#include "pipe/pipe.h"\n#include "serve/serve.h"\n'
                         '#include "batch/batch.h"\n#include "log.h"\n'
                         '#include "worker.h"\n',
}

# (file, its new text, the line and words its one violation must carry)
BROKEN = [
    ("supervisor/engine/engine.c", '#include "engine/engine.h"\n'
     '#include "protocol/jsonl.h"\n', 2, "higher layer"),
    ("supervisor/core/spawn.c", '#include "core/spawn.h"\n'
     '#include "engine/engine.h"\n', 2, "core/ may not include from engine/"),
    ("supervisor/core/spawn.c", '#include "config/config.h"\n', 1,
     "core/ must not include config/"),
    ("supervisor/pipe/pipe.h", '\n\n#include "serve/serve.h"\n', 3,
     "modes do not include each other"),
    ("supervisor/batch/input.h", '#include "pipe/pipe.h"\n', 1,
     "modes do not include each other"),
    ("supervisor/protocol/jsonl.h", '#include "main.c"\n', 1,
     "protocol/ may not include from main.c,"),
    ("supervisor/engine/engine.c", '#include "engine.h"\n', 1,
     'write "engine/engine.h"'),
    ("supervisor/batch/input.h", '#include "../engine/engine.h"\n', 1,
     'write "engine/engine.h"'),
    ("supervisor/pipe/pipe.h", '#include "embed.h"\n', 1,
     'only "worker.h" from worker/'),
    ("supervisor/pipe/pipe.h", '#include <curl/curl.h>\n', 1,
     "libcurl and OpenSSL belong to worker/"),
    ("shared/log.h", '#include <openssl/ssl.h>\n', 1,
     "libcurl and OpenSSL belong to worker/"),
    ("worker/worker.c", '#include "engine/engine.h"\n', 1,
     "worker/ includes only worker/ and shared/"),
    ("shared/log.h", '#include "worker.h"\n', 1,
     "shared/ includes only shared/"),
    ("supervisor/engine/engine.c", '#include "nowhere.h"\n', 1,
     "not in shared/, supervisor/ or worker/"),
    ("supervisor/http/http.c", '#include "buf.h"\n', 1, "is in no layer"),
    ("supervisor/util.c", '', 1, "is in no layer"),
    # A neighbour that shadows a shared header is what the compiler takes.
    ("supervisor/engine/log.h", '', None, None),
    ("supervisor/engine/stats.c", '#include "log.h"\n', 1,
     "reaches supervisor/engine/log.h"),
]


def make_tree(top, files):
    for rel, text in files.items():
        path = os.path.join(top, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def self_test():
    """Run the clean tree and each broken one; print one line per case."""
    failures = 0
    cases = [(None, None, None, None)] + \
        [c for c in BROKEN if c[2] is not None]
    extra = {rel: text for rel, text, line, _ in BROKEN if line is None}
    for rel, text, line, words in cases:
        with tempfile.TemporaryDirectory(prefix="ew-layers-") as top:
            if rel is None:
                make_tree(top, CLEAN)
            else:
                make_tree(top, {**CLEAN, **extra, rel: text})
            _, bad, _ = check(top)
            status = main_check(top, quiet=True)
        if rel is None:
            ok = bad == [] and status == 0
            what = "clean tree: no report, exit 0"
        else:
            want = f"{rel}:{line}: "
            ok = len(bad) == 1 and bad[0].startswith(want) and \
                words in bad[0] and status == 1
            what = f"{rel} = {text!r}: one report '{want}...{words}...', " \
                   f"exit 1"
        print(f"{'ok' if ok else 'FAILED'}: {what}")
        if not ok:
            failures += 1
            print(f"    got exit {status}: {bad}")
    print(f"check_layers self-test: {len(cases) - failures} passed, "
          f"{failures} failed")
    return 1 if failures else 0


def main():
    args = sys.argv[1:]
    if args == ["--self-test"]:
        return self_test()
    if len(args) > 1 or (args and args[0].startswith("-")):
        print(__doc__.split("\n\n")[-1], file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return main_check(args[0] if args else here)


if __name__ == "__main__":
    sys.exit(main())
