"""Proves: man/embedwatch.1 lists exactly the options of the option table (as `embedwatch help CMD` prints them), each with the same argument and under the subsection of its commands, and man/embedwatch-worker.1 every option of `embedwatch-worker --help`.

When an option is added to supervisor/config/options.c, this test names
the man page entry it still needs (and where it goes)."""
import os
import re
import subprocess

import harness as h

MAN = os.path.join(h.ROOT, "man", "embedwatch.1")
WORKER_MAN = os.path.join(h.ROOT, "man", "embedwatch-worker.1")
COMMANDS = ("pipe", "batch", "serve")

# "  -o, --output OUT      output file ..." / "  --insecure   ..."
# The argument follows one space; two or more start the help text.
HELP_ROW = re.compile(r"^  (?:-(\w), )?--([\w-]+)(?: (?! )('[^']*'|\S+))?")
# ".It Fl o , Fl -output Ar OUT" / ".It Fl -header Ar "'Name: v'""
MAN_ROW = re.compile(r"^\.It Fl (?:(\w) , Fl )?-([\w-]+)(?: Ar (.+))?$")


def help_groups(command):
    """{title: {name: (letter, arg)}} from `embedwatch help COMMAND`."""
    p = subprocess.run([h.EMBEDWATCH, "help", command], capture_output=True,
                       text=True, timeout=60)
    h.check(p.returncode == 0, f"help {command}: exit {p.returncode}",
            p.stderr)
    groups, title = {}, None
    for line in p.stdout.splitlines():
        if line.endswith("options:") and not line.startswith(" "):
            title = line[:-1]
            groups[title] = {}
        elif title is not None:
            m = HELP_ROW.match(line)
            if m:
                groups[title][m.group(2)] = (m.group(1), m.group(3))
    return groups


def man_title(help_title):
    """The man subsection for a help group: "options" is "Options for
    every command", "batch options" stays as it is."""
    return ("Options for every command" if help_title == "options"
            else help_title)


def man_groups():
    """{subsection: {name: (letter, arg)}} of the OPTIONS section."""
    groups, title, in_options = {}, None, False
    with open(MAN) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith(".Sh "):
                in_options = line == ".Sh OPTIONS"
                title = None
            elif in_options and line.startswith(".Ss "):
                title = line[4:]
                groups[title] = {}
            elif in_options and title is not None:
                m = MAN_ROW.match(line)
                if m:
                    arg = m.group(3)
                    if arg is not None and arg.startswith('"'):
                        arg = arg.strip('"')
                    groups[title][m.group(2)] = (m.group(1), arg)
    return groups


def scenario():
    wanted = {}
    for command in COMMANDS:
        for title, rows in help_groups(command).items():
            wanted.setdefault(man_title(title), {}).update(rows)
    h.check(len(wanted.get("Options for every command", {})) > 20,
            "help lists the common options", wanted)
    got = man_groups()
    problems = []
    for section, rows in wanted.items():
        for name, (letter, arg) in rows.items():
            entry = (f".It Fl {letter + ' , Fl ' if letter else ''}-{name}"
                     f"{' Ar ' + arg if arg else ''}")
            have = got.get(section, {}).get(name)
            if have is None:
                where = [s for s, r in got.items() if name in r]
                problems.append(
                    f"--{name}: add '{entry}' under '.Ss {section}' in "
                    "man/embedwatch.1" +
                    (f" (it is under {where})" if where else ""))
            elif have != (letter, arg):
                problems.append(f"--{name}: man/embedwatch.1 has {have}, "
                                f"the table {(letter, arg)}; want '{entry}'")
    for section, rows in got.items():
        for name in rows:
            if name not in wanted.get(section, {}):
                problems.append(f"--{name}: in man/embedwatch.1 under "
                                f"'{section}' but not in the option table "
                                "there")
    h.check(not problems, "man page and option table differ:\n  " +
            "\n  ".join(problems))

    p = subprocess.run([h.WORKER, "--help"], capture_output=True, text=True,
                       timeout=60)
    h.check(p.returncode == 0, "worker --help", p.stderr)
    worker_opts = set(re.findall(r"--([a-z][\w-]*)", p.stdout))
    with open(WORKER_MAN) as f:
        man_text = f.read()
    man_opts = set(re.findall(r"^\.It Fl (?:h , Fl )?-([\w-]+)", man_text,
                              re.M))
    h.check(worker_opts <= man_opts, "embedwatch-worker(1) lacks "
            f"{sorted(worker_opts - man_opts)}")
    h.check(man_opts <= worker_opts | {"help", "version"},
            "embedwatch-worker(1) has options the worker lacks: "
            f"{sorted(man_opts - worker_opts)}")


h.main(scenario)
