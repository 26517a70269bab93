"""Where `/me`'s cost goes, counted instead of timed: the same figures on a quiet machine and a
busy one, to tell a change that helps from noise.

    python bench/cost.py                 # the limit, /me JSON and HTML: about a minute
    python bench/cost.py --functions 25  # and the functions that cost /me more than the limit

Each target runs in a process of its own under valgrind's callgrind with a simulated cache
(`--cache-mb`, 1 MiB of last-level cache by default: the share a request gets while the load
generator, the upstream and the other worker use the same cache), against bench/upstream.py:
the app (file store) or the limit (bench/limit_app.py) called as a WSGI app, signed in and
warmed up, then `--requests` requests counted. Per request it prints the instructions, the
first- and last-level cache misses, and the cycles they stand for (callgrind's estimate:
instructions + 10 per first-level miss + 100 per last-level miss), with the limit's over
each target's. System calls and the kernel are not counted: docs/performance.md says why that
leaves the comparison fair, and `bench/run.py` measures them.

`--functions` needs Python 3.12 or newer: its perf trampolines (`PYTHONPERFSUPPORT`) give
every Python function a piece of machine code of its own, which callgrind counts, and a map
(/tmp/perf-PID.map) that names it. It needs valgrind (Debian and Ubuntu: `apt-get install
valgrind`) and the dev requirements; it installs nothing itself.
"""

import argparse
import bisect
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, the tests

TARGETS = ("limit", "/me JSON", "/me HTML")
ACCEPT = {"/me JSON": "application/json", "/me HTML": "text/html,*/*;q=0.8"}
# Ir, then the first-level misses (instructions, data read and written), then the last-level.
EVENTS = ("Ir", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw")
WARM_UP = 40  # requests before counting: imports, first connections, caches of the app


def cycles(counts: list[int]) -> int:
    """callgrind's cycle estimate: instructions, 10 per first-level and 100 per last-level miss."""
    return counts[0] + 10 * sum(counts[1:4]) + 100 * sum(counts[4:7])


def measure(target: str, upstream: str, requests_counted: int) -> None:
    """In the process callgrind runs: build `target`, sign in, warm up, then switch counting on
    for `requests_counted` WSGI calls (callgrind starts with it off)."""
    import requests
    from werkzeug.test import EnvironBuilder

    import config
    from bench import limit_app
    from bench.run import app_environ
    from ilert.oauth import TOKEN_PATH

    port = config.DEFAULT_PORT  # only named in the redirect URI: nothing listens on it
    environ = app_environ(upstream, port, Path(tempfile.mkdtemp(prefix="ilert-cost-")))
    environ["SESSION_TYPE"] = "filesystem"
    grant = {"grant_type": "authorization_code", "code": "cost"}
    token = requests.post(f"{upstream}{TOKEN_PATH}", data=grant)
    environ |= {"BENCH_API_URL": upstream, "BENCH_ACCESS_TOKEN": token.json()["access_token"]}
    environ["TMPDIR"] = os.environ["TMPDIR"]  # where callgrind_control finds this process
    os.environ.clear()
    os.environ.update(environ)  # what the limit reads on every call, as under gunicorn
    if target == "limit":
        wsgi, path, headers = limit_app.create_app(), "/limit", {}
    else:
        import app

        wsgi, path = app.create_app(dict(environ)), "/me"
        headers = {"Accept": ACCEPT[target], "Cookie": _signed_in(wsgi, port)}
    base = EnvironBuilder(path, base_url=f"http://127.0.0.1:{port}", headers=headers)
    request_environ = base.get_environ() | {"REMOTE_ADDR": "127.0.0.1"}

    def call() -> None:
        statuses = []
        answer = wsgi(dict(request_environ), lambda status, *_: statuses.append(status))
        body = b"".join(answer)
        getattr(answer, "close", lambda: None)()
        if statuses != ["200 OK"]:  # an error page would be counted as a /me
            raise RuntimeError(f"{target} answered {statuses}: {body[:300]!r}")

    for _ in range(WARM_UP):
        call()
    counting = ["callgrind_control", "--instr=on", str(os.getpid())]
    subprocess.run(counting, check=True, capture_output=True)
    for _ in range(requests_counted):
        call()
    subprocess.run([*counting[:1], "--instr=off", *counting[2:]], check=True, capture_output=True)


def _signed_in(wsgi, port: int) -> str:
    """Sign in through the upstream (it redirects straight back with a code): the Cookie."""
    import requests

    browser = wsgi.test_client()
    base_url = f"http://localhost:{port}"
    to_ilert = browser.get("/login", base_url=base_url).headers["Location"]
    back = requests.get(to_ilert, allow_redirects=False).headers["Location"]
    if browser.get(back, base_url=base_url).status_code not in (302, 303):
        raise RuntimeError("the sign-in did not end at /me")
    name = wsgi.config["SESSION_COOKIE_NAME"]
    cookie = browser.get_cookie(name)
    if cookie is None:
        raise RuntimeError(f"the sign-in set no {name} cookie")
    return f"{name}={cookie.value}"


def run(
    target: str, upstream: str, args: argparse.Namespace, work: Path
) -> tuple[Path, subprocess.Popen]:
    """Start `target`'s process under callgrind: its output file, and the process."""
    out = work / f"{TARGETS.index(target)}.callgrind"
    cache = f"{int(args.cache_mb * 1024 * 1024)},16,64"
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--cache-sim=yes"]
    command += ["--I1=32768,8,64", "--D1=32768,8,64", f"--LL={cache}"]
    command += [f"--callgrind-out-file={out}", sys.executable, __file__, "--measure", target]
    command += ["--upstream", upstream, "--requests", str(args.requests)]
    environ = {"PATH": os.environ["PATH"], "PYTHONHASHSEED": "0", "TMPDIR": str(work)}
    if args.functions:
        environ["PYTHONPERFSUPPORT"] = "1"
    with (work / f"{TARGETS.index(target)}.log").open("w") as log:
        return out, subprocess.Popen(command, env=environ, stdout=log, stderr=subprocess.STDOUT)


def counts(out: Path) -> tuple[list[int], dict[str, list[int]]]:
    """The program's totals, and each Python function's inclusive counts (found by the address
    of its trampoline in the process's perf map; empty without one)."""
    with out.open(errors="replace") as head:
        pid = re.search(r"^pid: (\d+)", head.read(4000), re.M)
    if pid is None:
        raise RuntimeError(f"{out} names no process")
    command = ["callgrind_annotate", "--inclusive=yes", "--threshold=100"]
    command += [f"--show={','.join(EVENTS)}", str(out)]
    annotated = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    names = _perf_map(Path(f"/tmp/perf-{pid.group(1)}.map"))
    starts = [start for start, _, _ in names]
    totals, functions = [0] * len(EVENTS), {}
    for line in annotated.splitlines():
        numbers = []
        for field in re.sub(r"\([^)]*\)", " ", line).split()[: len(EVENTS)]:
            if not re.fullmatch(r"[\d,]+|\.", field):
                break
            numbers.append(0 if field == "." else int(field.replace(",", "")))
        if len(numbers) < len(EVENTS):
            continue
        if "PROGRAM TOTALS" in line:
            totals = numbers
        # A trampoline's address; `'2` and so on mark a recursive call's deeper levels, which
        # the outermost level's inclusive counts already hold.
        address = re.search(r"\?\?\?:0x([0-9a-f]+)(?![0-9a-f'])", line)
        if address and starts:
            at = int(address.group(1), 16)
            found = bisect.bisect_right(starts, at) - 1
            start, size, name = names[found] if found >= 0 else (0, 0, "")
            if start <= at < start + size:  # functions of one name (two lambdas): added up
                before = functions.get(name, [0] * len(EVENTS))
                functions[name] = [a + b for a, b in zip(before, numbers, strict=True)]
    return totals, functions


def _perf_map(path: Path) -> list[tuple[int, int, str]]:
    """(start, size, "module:function") of each trampoline, in address order."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        start, size, name = line.split(" ", 2)
        entries.append((int(start, 16), int(size, 16), name.removeprefix("py::")))
    path.unlink()
    return sorted(entries)


def print_tables(results: dict, args: argparse.Namespace) -> None:
    """Per request: the counts and cycles of each target, the limit's cycles over its; then,
    with --functions, the Python functions whose cycles differ most between `/me` and the
    limit."""
    each = args.requests
    limit = cycles(results["limit"][0])
    print(f"\nPer request ({each} counted, {args.cache_mb:g} MiB of last-level cache):\n")
    print("| target | instructions | L1 misses | LL misses | cycles (est.) | limit's / this |")
    print("|---|---|---|---|---|---|")
    for target, (totals, _) in results.items():
        ratio = "" if target == "limit" else f"{limit / cycles(totals):.2f}"
        print(
            f"| {target} | {totals[0] / each / 1e6:.2f} M | {sum(totals[1:4]) / each / 1e3:.1f} k"
            f" | {sum(totals[4:7]) / each / 1e3:.2f} k | {cycles(totals) / each / 1e6:.2f} M"
            f" | {ratio} |"
        )
    if not args.functions:
        return
    for target in TARGETS[1:]:
        theirs, mine = results["limit"][1], results[target][1]
        if not mine:
            print("\nNo functions named: no perf map (/tmp/perf-PID.map) was found.")
            return
        print(f"\nThousand cycles per request, inclusive, {target} against the limit:\n")
        print("| limit | /me | difference | function |\n|---|---|---|---|")
        zero = [0] * len(EVENTS)
        difference = {
            name: (cycles(mine.get(name, zero)) - cycles(theirs.get(name, zero))) / each
            for name in set(mine) | set(theirs)
        }
        # A function only one side calls that holds most of its request (the app's
        # middlewares, the limit's view) is the road, not a cost: left out.
        road = {
            name
            for side, other, total in ((mine, theirs, target), (theirs, mine, "limit"))
            for name, found in side.items()
            if name not in other and cycles(found) > cycles(results[total][0]) / 2
        }
        shown_names = sorted(set(difference) - road, key=lambda n: -abs(difference[n]))
        for name in shown_names[: args.functions]:
            shown = re.sub(r"^(.*?):(/.*/(site-packages|python3\.\d+)/)?", r"\1:", name)
            shown = shown.replace(f"{Path(__file__).resolve().parent.parent}/", "")
            before = cycles(theirs.get(name, zero)) / each / 1e3
            after = cycles(mine.get(name, zero)) / each / 1e3
            print(f"| {before:.0f} | {after:.0f} | {difference[name] / 1e3:+.0f} | `{shown}` |")


def arguments(argv: list | None = None) -> argparse.Namespace:
    """The command line, checked (so are docs/performance.md's commands, by tests/test_docs)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="counted per target (100)")
    parser.add_argument("--cache-mb", type=float, default=1, help="last-level cache, MiB (1)")
    parser.add_argument("--functions", type=int, default=0, help="show this many functions")
    parser.add_argument("--measure", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list | None = None) -> None:
    args = arguments(argv)
    if args.measure:
        measure(args.measure, args.upstream, args.requests)
        return
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate"):
        if not shutil.which(tool):
            sys.exit(
                f"{tool} is missing: install valgrind (Debian/Ubuntu: apt-get install valgrind)"
            )
    if args.functions and sys.version_info < (3, 12):
        sys.exit("--functions needs Python 3.12 or newer (its perf trampolines name functions)")
    from tests.conftest import ServerProcess, free_port, process_environ

    with tempfile.TemporaryDirectory(prefix="ilert-cost-") as folder:
        work = Path(folder)
        port = free_port()
        upstream = ServerProcess(
            [sys.executable, Path(__file__).parent / "upstream.py", str(port)],
            process_environ(),
            port,
            work / "upstream.log",
        )
        upstream.start()
        started = {}
        try:
            for target in TARGETS:  # one by one: a failed start still stops those before it
                started[target] = run(target, f"http://127.0.0.1:{port}", args, work)
            results = {}
            for target, (out, process) in started.items():
                failed = process.wait()
                results[target] = counts(out) if not failed else ([0], {})
                if not results[target][0][0]:
                    log = (work / f"{TARGETS.index(target)}.log").read_text()[-3000:]
                    sys.exit(f"{target}: nothing was counted\n{log}")
        finally:
            for _, process in started.values():  # also on an error or Ctrl-C
                process.terminate()
                process.wait()
            upstream.stop()
    print_tables(results, args)


if __name__ == "__main__":
    main()
