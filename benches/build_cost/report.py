#!/usr/bin/env python3
"""The markdown report of ./run, from the files its builds left in --results.

Per project and profile (PROJECT-PROFILE.*): .time (`/usr/bin/time -f '%U %S %e'` of cargo), .log
(cargo's stderr), .html (cargo's timings), .rustc (./rustc-cpu's log: CPU of each rustc), .tree
(`cargo tree -e normal,build --prefix none`), .metadata (`cargo metadata`), .size (bytes: as built,
then stripped); PROJECT.lock says what happened to its Cargo.lock.
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
from collections import defaultdict

TOP = 10
# The crates whose provenance the telemark-min section traces (`cargo tree -i` style).
WATCH = [
    "opentelemetry", "opentelemetry_sdk", "opentelemetry-otlp", "opentelemetry-proto",
    "opentelemetry-http", "prost", "prost-derive", "tonic", "tonic-prost", "tower", "hyper",
    "hyper-util", "h2", "backtrace", "gimli", "object", "addr2line", "serde-saphyr",
    "tracing-subscriber",
]


def sh(*cmd, cwd=None):
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def read(path):
    with open(path) as f:
        return f.read()


def units_of(html):
    """UNIT_DATA of a cargo timings page, with `rmeta` (seconds from the unit's start to its
    metadata: the end of the frontend section, or older cargo's `rmeta_time`) and `kind`."""
    m = re.search(r"const UNIT_DATA = (\[.*?\n\]);", html, re.S)
    if not m:
        sys.exit("report: no UNIT_DATA in the timings page (cargo's format changed?)")
    units = json.loads(m.group(1))
    for u in units:
        rmeta = u.get("rmeta_time")
        for name, sec in u.get("sections") or []:
            if name == "frontend":
                rmeta = sec["end"]
        u["rmeta"] = rmeta
        t = u["target"].strip()
        if t == "build-script (run)" or u.get("mode") == "run-custom-build":
            u["kind"] = "build script run"
        elif t == "build-script":
            u["kind"] = "build script"
        elif t == "":
            u["kind"] = "lib"
        else:  # ` NAME "bin"`, ` NAME "example"`, …
            u["kind"] = t.rsplit(" ", 1)[-1].strip('"')
    return units


def rustc_cpu(path):
    """(package, version, 'build script' or 'crate') -> [user, sys, wall] summed."""
    cpu = defaultdict(lambda: [0.0, 0.0, 0.0])
    for line in read(path).splitlines():
        pkg, ver, crate, _ctype, u, s, e = line.split("\t")
        key = (pkg, ver, "build script" if crate.startswith("build_script_") else "crate")
        c = cpu[key]
        c[0] += float(u)
        c[1] += float(s)
        c[2] += float(e)
    return cpu


def cpu_key(u):
    if u["kind"] == "build script run":
        return None
    return (u["name"], u["version"], "build script" if u["kind"] == "build script" else "crate")


class Build:
    def __init__(self, results, project, profile):
        r = os.path.join(results, f"{project}-{profile}")
        self.project, self.profile = project, profile
        user, sys_, wall = (float(x) for x in read(r + ".time").split()[-3:])
        self.user, self.sys, self.wall = user, sys_, wall
        self.cpu = user + sys_
        log = read(r + ".log")
        compiling = re.findall(r"^\s*Compiling (\S+) (v\S+)", log, re.M)
        self.compiling = len(compiling)
        self.compiling_distinct = len(set(compiling))
        self.units = units_of(read(r + ".html"))
        self.rustc = rustc_cpu(r + ".rustc")
        for u in self.units:
            k = cpu_key(u)
            c = self.rustc.get(k) if k else None
            u["cpu"] = c[0] + c[1] if c else None
        self.rustc_cpu = sum(c[0] + c[1] for c in self.rustc.values())
        self.packages = {(u["name"], u["version"]) for u in self.units}
        tree = {re.sub(r" \(\*\)$", "", line).strip() for line in read(r + ".tree").splitlines()}
        self.tree = len({line for line in tree if line})
        sizes = [int(x) for x in read(r + ".size").split()]
        self.size = sizes[0]
        self.stripped = sizes[1] if len(sizes) > 1 else None
        self.metadata = json.loads(read(r + ".metadata"))

    def kinds(self, kind):
        return sum(1 for u in self.units if u["kind"] == kind)

    def by_package(self):
        """(name, version) -> [duration, rustc CPU] summed over its units."""
        agg = defaultdict(lambda: [0.0, 0.0])
        for u in self.units:
            a = agg[(u["name"], u["version"])]
            a[0] += u["duration"]
            a[1] += u["cpu"] or 0.0
        return agg


def mb(n):
    return f"{n:,} ({n / 1e6:.1f} MB, {n / 2**20:.1f} MiB)"


def fmt(x, digits=1):
    return "—" if x is None else f"{x:.{digits}f}"


def summary_table(builds):
    cols = [f"{b.project} ({b.profile})" for b in builds]
    rows = [
        ("CPU, user + sys (s)", [f"**{b.cpu:.1f}**" for b in builds]),
        ("  user / sys (s)", [f"{b.user:.1f} / {b.sys:.1f}" for b in builds]),
        ("  of which rustc, crate by crate (s)", [f"{b.rustc_cpu:.1f}" for b in builds]),
        ("wall (s)", [f"{b.wall:.1f}" for b in builds]),
        ("crates compiled (`Compiling` lines)", [f"**{b.compiling}**" for b in builds]),
        ("packages in `cargo tree -e normal,build` (incl. the program)", [str(b.tree) for b in builds]),
        ("timings units: crates + build scripts + their runs",
         [f"{len(b.units) - b.kinds('build script') - b.kinds('build script run')}"
          f" + {b.kinds('build script')} + {b.kinds('build script run')} = {len(b.units)}" for b in builds]),
        ("sum of unit durations (s)", [f"{sum(u['duration'] for u in b.units):.1f}" for b in builds]),
        ("binary (bytes)", [f"**{mb(b.size)}**" for b in builds]),
        ("binary, stripped (bytes)", [mb(b.stripped) if b.stripped else "—" for b in builds]),
    ]
    out = ["| | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    out += [f"| {name} | " + " | ".join(vals) + " |" for name, vals in rows]
    return out


def unit_label(u):
    return u["name"] if u["kind"] == "lib" else f"{u['name']} ({u['kind']})"


def top_table(b):
    out = [f"#### {b.project} ({b.profile}): top {TOP} units by duration", "",
           "| # | unit | version | duration (s) | rmeta at (s) | rustc CPU (s) |",
           "|---:|---|---|---:|---:|---:|"]
    for i, u in enumerate(sorted(b.units, key=lambda u: -u["duration"])[:TOP], 1):
        out.append(f"| {i} | {unit_label(u)} | {u['version']} | {u['duration']:.1f} | {fmt(u['rmeta'])} | {fmt(u['cpu'])} |")
    out += ["", f"#### {b.project} ({b.profile}): top {TOP} packages by rustc CPU", "",
            "| # | package | version | rustc CPU (s) | share of the build's CPU |", "|---:|---|---|---:|---:|"]
    for i, ((name, ver), (_d, c)) in enumerate(sorted(b.by_package().items(), key=lambda kv: -kv[1][1])[:TOP], 1):
        out.append(f"| {i} | {name} | {ver} | {c:.1f} | {100 * c / b.cpu:.0f}% |")
    return out


def graph(metadata):
    """Package ids by name, and the normal/build dependency edges (dev edges left out)."""
    pkgs = {p["id"]: p for p in metadata["packages"]}
    edges = {}
    for node in metadata["resolve"]["nodes"]:
        deps = set()
        for d in node.get("deps", []):
            if any(k["kind"] in (None, "build") for k in d.get("dep_kinds", [])):
                deps.add(d["pkg"])
        edges[node["id"]] = deps
    return pkgs, edges, metadata["resolve"]["root"]


def reachable(edges, root, cut=frozenset()):
    """Packages reachable from root, not following the edges in cut ((from, to) pairs)."""
    seen, todo = {root}, [root]
    while todo:
        n = todo.pop()
        for d in edges.get(n, ()):
            if d not in seen and (n, d) not in cut:
                seen.add(d)
                todo.append(d)
    return seen


def attribution(b, repo):
    """Which of telemark's direct dependencies each crate of the tree comes from."""
    pkgs, edges, root = graph(b.metadata)
    all_ = reachable(edges, root)
    names = defaultdict(int)
    for i in all_:
        names[pkgs[i]["name"]] += 1
    # A name alone, unless several versions of it are in the tree.
    short = lambda i: pkgs[i]["name"] + (f" {pkgs[i]['version']}" if names[pkgs[i]["name"]] > 1 else "")
    name = lambda i: f"{pkgs[i]['name']} {pkgs[i]['version']}"
    repo = os.path.realpath(repo)
    here = os.path.dirname(os.path.realpath(__file__))
    ours = {i for i in all_ if pkgs[i]["source"] is None
            and os.path.realpath(pkgs[i]["manifest_path"]).startswith(repo + os.sep)
            and not os.path.realpath(pkgs[i]["manifest_path"]).startswith(here + os.sep)}
    cost = b.by_package()
    cpu = lambda ids: sum(cost.get((pkgs[i]["name"], pkgs[i]["version"]), (0, 0))[1] for i in ids)
    # Direct external dependencies of telemark's own crates, and what cutting each one removes.
    direct = defaultdict(set)  # dep id -> which of our crates depend on it
    for o in ours:
        for d in edges.get(o, ()):
            if d not in ours:
                direct[d].add(o)
    by_name = {pkgs[i]["name"]: i for i in all_}
    enabled = {n["id"]: set(n.get("features", [])) for n in b.metadata["resolve"]["nodes"]}

    def gone_without(deps):
        """What leaves the tree when our crates stop depending on deps (features aside)."""
        cut = frozenset((o, d) for d in deps for o in ours | {root} if d in edges.get(o, ()))
        return all_ - reachable(edges, root, cut)

    rows = []
    for d, users in direct.items():
        of = ", ".join(sorted(pkgs[o]["name"].replace("telemark-", "") for o in users))
        rows.append((name(d), of, gone_without({d}), reachable(edges, d) - ours))
    rows.sort(key=lambda r: (-cpu(r[2]), r[0]))
    # The optional dependencies behind the default features, each feature's together.
    groups = []
    for o in sorted(ours, key=lambda o: pkgs[o]["name"]):
        for feat, enables in sorted(pkgs[o]["features"].items()):
            if feat not in enabled.get(o, ()):
                continue
            deps = {by_name[e[4:]] for e in enables if e.startswith("dep:") and e[4:] in by_name}
            if deps:
                gone = gone_without(deps)
                groups.append((f"feature `{feat}` of {pkgs[o]['name']}: "
                               + ", ".join(sorted(pkgs[d]["name"] for d in deps)), gone))
    out = [f"### {b.project}: where its crates come from", "",
           "Each direct dependency of telemark's own crates ("
           + ", ".join(sorted(pkgs[o]["name"] for o in ours))
           + "): the crates that only it brings (they would leave the tree with it, features aside),"
           " their rustc CPU in this build, and all the crates under it. Then the same for the"
           " optional dependencies of each enabled feature, together (the whole stack behind it, including"
           " what a replacement might keep).", "",
           "| direct dependency | of | only through it: crates | their rustc CPU (s) | all crates under it |",
           "|---|---|---:|---:|---:|"]
    for n, of, gone, via in rows:
        out.append(f"| {n} | {of} | {len(gone)} | {cpu(gone):.1f} | {len(via)} |")
    for label, gone in groups:
        out.append(f"| {label} | | {len(gone)} | {cpu(gone):.1f} | |")
    out += ["", "The crates only through each (rustc CPU in s):", ""]
    for n, _of, gone, _via in rows:
        if len(gone) > 1:
            listed = sorted(gone, key=lambda i: (-cpu({i}), name(i)))
            out.append(f"- **{n}** ({cpu(gone):.1f} s): " + ", ".join(f"{short(i)} {cpu({i}):.1f}" for i in listed))
    for label, gone in groups:
        listed = sorted(gone, key=lambda i: (-cpu({i}), name(i)))
        out.append(f"- **{label}** ({len(gone)} crates, {cpu(gone):.1f} s): "
                   + ", ".join(f"{short(i)} {cpu({i}):.1f}" for i in listed))
    # Reverse view of the watched crates: who depends on them, and through which direct dependency.
    rdeps = defaultdict(set)
    for n, ds in edges.items():
        if n in all_:
            for d in ds:
                rdeps[d].add(n)
    out += ["", "The watched crates (`cargo tree -i` style): their dependents, and the direct dependencies"
            " of telemark's crates they are reached through.", "",
            "| crate | rustc CPU (s) | depended on by | reached through |", "|---|---:|---|---|"]
    for w in WATCH:
        found = sorted(i for i in all_ if pkgs[i]["name"] == w)
        for i in found:
            through = sorted(short(d) for d in direct if i in reachable(edges, d) and d != i)
            if i in direct:
                through = [short(i) + " (direct)"] + through
            dependents = sorted(short(r) for r in rdeps[i])
            out.append(f"| {name(i)} | {cpu({i}):.1f} | {', '.join(dependents)} | {', '.join(through)} |")
        if not found:
            out.append(f"| {w} | — | not in the tree | |")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", default="")
    ap.add_argument("--command", default="benches/build_cost/run")
    ap.add_argument("projects", nargs="+")
    a = ap.parse_args()

    builds = []
    for p in a.projects:
        for profile in ("release", "dev"):
            if os.path.exists(os.path.join(a.results, f"{p}-{profile}.time")):
                builds.append(Build(a.results, p, profile))

    head = sh("git", "rev-parse", "HEAD", cwd=a.repo)
    subject = sh("git", "log", "-1", "--format=%s", cwd=a.repo)
    dirty = sh("git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benches/build_cost", cwd=a.repo)
    cpu_model = "?"
    try:
        cpu_model = next(l.split(":", 1)[1].strip() for l in read("/proc/cpuinfo").splitlines() if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    def saved(name, default):
        path = os.path.join(a.results, name)
        return read(path).strip() if os.path.exists(path) else default
    when = saved("when", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    load = saved("load", "?")
    out = [
        "# Build cost of a minimal telemark program",
        "",
        f"- telemark: `{head}`{' **with uncommitted changes**' if dirty not in ('', '?') else ''} — {subject if len(subject) <= 90 else subject[:89] + '…'}",
        f"- measured: {when}, "
        f"{sh('rustc', '-V')}, {sh('cargo', '-V')}",
        f"- machine: {os.cpu_count()} CPUs ({cpu_model}), load average {load} at the end"
        " (shared: compare CPU seconds, not wall time)",
    ]
    for p in a.projects:
        lock = os.path.join(a.results, f"{p}.lock")
        if os.path.exists(lock):
            out.append(f"- {p}/Cargo.lock: {read(lock).strip()}")
    out += [
        f"- command: `{a.command}`",
        "- method: each build cold, in a fresh target dir, one after the"
        " other; CPU is `/usr/bin/time` over the whole cargo process tree; rustc CPU per crate from the"
        " RUSTC_WRAPPER `rustc-cpu` (a binary's includes linking; build-script runs and cargo itself are"
        " the rest); durations are cargo's `--timings` (wall time of each unit, so they stretch when the"
        " machine is busy); \"rmeta at\" is when the unit's metadata was ready (dependents could start).",
        "",
        "## Summary",
        "",
    ]
    out += summary_table(builds)
    out += ["", "## Slowest units", ""]
    for b in builds:
        out += top_table(b) + [""]
    for b in builds:
        if b.project == "telemark-min" and b.profile == "release":
            out += ["## Provenance", ""] + attribution(b, a.repo) + [""]
    text = "\n".join(out).rstrip() + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
        stem = a.out[:-3] if a.out.endswith(".md") else a.out
        with open(stem + ".units.tsv", "w") as f:
            f.write("project\tprofile\tunit\tversion\tkind\tstart_s\tduration_s\trmeta_s\trustc_cpu_s\n")
            for b in builds:
                for u in sorted(b.units, key=lambda u: -u["duration"]):
                    f.write(f"{b.project}\t{b.profile}\t{u['name']}\t{u['version']}\t{u['kind']}\t{u['start']:.2f}\t"
                            f"{u['duration']:.2f}\t{fmt(u['rmeta'], 2)}\t{fmt(u['cpu'], 2)}\n")


if __name__ == "__main__":
    main()
