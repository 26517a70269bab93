"""What a fork does first, done to copies of the project, whose own tests then run there:
renaming the app, its port, its cookies, its scopes and the page a sign-in lands on in the one
place (config.py), moving two pages to other paths, adding
the README's page and action, and each removal recipe of docs/forking.md applied exactly
as written, leave the fork's quick suite (ruff and mypy in it) green, and the slow tests the
change touches.

Two copies, both renamed: one also gets the page, the action and the flow inspector's removal,
the other runs without sandbox mode. The two removals are kept apart, so that neither hides a
gap in the other (a test file one deletes may be what the other breaks), and every test file
runs renamed in at least one of them: a test welded to a default fails here. Each copy runs
the whole quick suite, not a list of files that would go stale."""

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree

import pytest
from conftest import NOT_COPIED, OWN_PORTS, ROOT, process_environ

from config import DEFAULT_PORT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("copies of the project")]

RENAMED = {
    "APP_NAME": '"Acme on-call desk"',
    "DEFAULT_PORT": "5150",
    "DEFAULT_SANDBOX_PORT": "5151",
    "CALLBACK_PATH": '"/oauth/ilert/done"',
    "SESSION_COOKIE": '"acme_sid"',
    "LOGOUT_NOTICE_COOKIE": '"acme_signed_out"',
    "SIGN_IN_COOKIE_PREFIX": '"acme-pending-"',
    "DEFAULT_SCOPES": '"profile alert:r"',  # the rest granted on demand
    "LANDING_PAGE": '"pages.alerts"',
}
MOVED = {"/token-info": "/access-token", "/alert-sources": "/sources"}.items()  # pages' paths


def copy_of_project(tmp_path):
    """The project's files (what a fork starts from) in a folder of their own."""
    copy = tmp_path / "fork"
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    return copy


def run(copy, *command, timeout=600):
    """Run `command` (python's arguments) in the copy, in a clean environment."""
    return subprocess.run(
        [sys.executable, *command],
        cwd=copy,
        env=process_environ(PYTHONDONTWRITEBYTECODE="1"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def quick_suite_passes(copy):
    """The copy's quick suite (`-m "not slow"`: every test file, ruff and mypy among them)
    passes, nothing skipped; returns the ids of the tests that passed."""
    results = copy / "quick-suite.xml"
    finished = run(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                   "-m", "not slow", f"--junitxml={results}")  # fmt: skip
    summary = finished.stdout.strip().splitlines()[-1] if finished.stdout.strip() else ""
    assert finished.returncode == 0, finished.stdout[-6000:] + finished.stderr[-2000:]
    assert "failed" not in summary and "skipped" not in summary, summary
    passed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in ElementTree.parse(results).iter("testcase")
        if not any(case.find(outcome) is not None for outcome in ("failure", "error", "skipped"))
    ]
    return passed


def edit(path, remove=(), replace=()):
    """Delete the lines of `path` that are exactly `remove` (stripped), and `replace` pieces of
    text; each must be found once, so that the recipe and the code stay in step."""
    text = path.read_text()
    for old, new in replace:
        assert text.count(old) == 1, f"{path.name}: {old!r}"
        text = text.replace(old, new)
    lines = text.splitlines(keepends=True)
    for line in remove:
        found = [i for i, each in enumerate(lines) if each.strip() == line]
        assert len(found) == 1, f"{path.name}: {line!r} found {len(found)} times"
        del lines[found[0]]
    path.write_text("".join(lines))


def rename(copy):
    """Rename the app, its port, its callback path, its cookies, its default scopes and its
    landing page in config.py's block, and move two pages."""
    config = copy / "config.py"
    text = config.read_text()
    for name, value in RENAMED.items():
        text, count = re.subn(rf"^{name} = .*?(  #.*)?$", rf"{name} = {value}\1", text, flags=re.M)
        assert count == 1, f"config.py has no one line for {name}"
    config.write_text(text)
    # and two pages move, as a fork moves them: the tests ask the app where they are
    edit(
        copy / "views" / "pages.py",
        replace=[(f'@page("{old}",', f'@page("{new}",') for old, new in MOVED],
    )
    shown = run(copy, "-c", "import config; print(config.DEFAULT_REDIRECT_URI, config.APP_NAME)")
    assert shown.stdout.strip() == "http://localhost:5150/oauth/ilert/done Acme on-call desk"
    # What the project ships for a deployment names no port of its own, so none is left stale.
    for shipped in (copy / "deploy").iterdir():
        assert str(DEFAULT_PORT) not in shipped.read_text(), shipped.name


def readme_blocks(section):
    """The code blocks of the README's `## <section>`, in order."""
    with open(f"{ROOT}/README.md") as file:
        readme = file.read()
    text = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [textwrap.dedent(block) for block in re.findall(r"```\w+\n(.*?)```", text, re.S)]


def add_the_readmes_page_and_action(copy):
    """README's "Add a page of your own" and "Add an action of your own", done as written in
    two files each. A fork that has done them already (its README shows what it did) is
    checked as it is."""
    view, template = readme_blocks("Add a page of your own")
    action_view, button = readme_blocks("Add an action of your own")
    pages = copy / "views" / "pages.py"
    defined = {getattr(node, "name", None) for node in ast.parse(pages.read_text()).body}
    if {node.name for node in ast.parse(view + action_view).body} <= defined:
        return
    pages.write_text(pages.read_text() + "\n\n" + view + "\n\n" + action_view)
    (copy / "templates" / "incidents.html").write_text(template)
    edit(
        copy / "templates" / "alert_sources.html",
        replace=[("hidden_label=source.name) }}{% endif %}</td>",
                  "hidden_label=source.name) }}\n        " + button.strip() + "{% endif %}</td>")],
    )  # fmt: skip


def remove_the_flow_inspector(copy):
    """docs/forking.md's "Remove the flow inspector", as written."""
    for name in ("inspector.py", "templates/flow_inspector.html", "tests/test_flow_inspector.py"):
        (copy / name).unlink()
    edit(
        copy / "app.py",
        remove=["import inspector", "inspector.init_app(app)"],
        replace=[
            ('        FLOW_INSPECTOR=settings["FLOW_INSPECTOR"] or sandbox_mode,\n', ""),
        ],
    )
    edit(copy / "logs.py", replace=[('"views", "inspector", ', '"views", ')])
    edit(copy / "pyproject.toml", replace=[('"inspector.py", ', "")])
    edit(
        copy / "config.py",
        remove=[
            '"FLOW_INSPECTOR": check.boolean("FLOW_INSPECTOR", get("FLOW_INSPECTOR", "false")),'
        ],
    )
    edit(
        copy / ".env.example",
        replace=[
            (
                "# Show the flow inspector (/flow-inspector): this session's sign-in and API "
                "calls step by\n# step, secrets hidden. Always on in sandbox mode.\n"
                "# FLOW_INSPECTOR=false\n\n",
                "",
            )
        ],
    )


def without_functions(path, names):
    """Delete the top-level functions `names` (with their decorators) from the module `path`."""
    source = path.read_text()
    lines = source.splitlines(keepends=True)
    found = {
        node.name: node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name in names
    }
    assert set(found) == set(names), f"{path.name} lacks {set(names) - set(found)}"
    for node in sorted(found.values(), key=lambda node: -node.lineno):
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        del lines[first : node.end_lineno]
    path.write_text("".join(lines))


def run_without_sandbox_mode(copy):
    """docs/forking.md's "Run without sandbox mode", as written (its ruff command included)."""
    for name in ("tests/test_sandbox_mode.py", "scripts/screenshots.py"):
        (copy / name).unlink()
    edit(
        copy / "app.py",
        remove=[
            'sandbox_mode = settings["ILERT_CLIENT_ID"] is None',
            "# With FLASK_DEBUG, a supervisor process only watches files and restarts the serving",
            "# child: it must not hold the sandbox's port.",
            'supervisor = settings["FLASK_DEBUG"] and not is_running_from_reloader()',
            "if sandbox_mode:",
            "environ.update(_start_sandbox(settings, serve=not supervisor))",
        ],
        replace=[("create_app(environ, sandbox_mode=sandbox_mode)", "create_app(environ)")],
    )
    without_functions(copy / "app.py", ["_start_sandbox", "_sandbox_secret_key"])
    tidy = subprocess.run(
        ["bash", "-c", "ruff check --fix . && ruff format ."], cwd=copy, capture_output=True,
        env=process_environ(PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]),
    )  # fmt: skip
    assert tidy.returncode == 0, tidy.stdout + tidy.stderr


def test_a_renamed_fork_with_the_readmes_page_and_action_and_no_flow_inspector(tmp_path):
    """The page and the action are checked by the suite's registry tests, its browser walk and
    axe-core without being named there; without the inspector no other test fails."""
    copy = copy_of_project(tmp_path)
    rename(copy)
    add_the_readmes_page_and_action(copy)
    remove_the_flow_inspector(copy)
    passed = quick_suite_passes(copy)
    assert any("[pages.incidents]" in test for test in passed)
    assert any("[pages.delete_alert_source]" in test for test in passed)
    walked = run(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                 "tests/test_browser.py", "-k", "every_page or axe")  # fmt: skip
    assert walked.returncode == 0, walked.stdout[-6000:]


def test_a_renamed_fork_without_sandbox_mode(tmp_path):
    """`python app.py` then asks for a client id; no other test fails."""
    copy = copy_of_project(tmp_path)
    rename(copy)
    run_without_sandbox_mode(copy)
    stopped = run(copy, "app.py", timeout=60)  # no client id: it stops, and says what to set
    assert stopped.returncode == 3
    assert stopped.stderr.startswith("Configuration error: ILERT_CLIENT_ID is not set")
    quick_suite_passes(copy)
    started = run(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                  "tests/test_app_py.py")  # fmt: skip
    assert started.returncode == 0, started.stdout[-6000:]


def test_a_copys_suite_takes_its_ports_from_a_block_this_worker_does_not_use():
    """A copy's suite ran beside this one and picked its servers' ports at random from the
    same range: now and then a server found its port taken by the other suite's. Each test
    process has a block of its own (conftest's `_port_blocks`); here a copy's two workers get
    theirs, as the copy's suite's workers do."""
    code = "import conftest; print(conftest.OWN_PORTS.start, conftest.OWN_PORTS.stop)"

    def ports_of(worker: str) -> range:
        environ = process_environ(
            PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]),
            PYTEST_XDIST_WORKER=worker,
            PYTEST_XDIST_WORKER_COUNT=2,
        )
        printed = subprocess.run([sys.executable, "-c", code], env=environ, cwd=ROOT,
                                 capture_output=True, text=True, check=True)  # fmt: skip
        first, end = map(int, printed.stdout.split())
        return range(first, end)

    blocks = [set(OWN_PORTS), *(set(ports_of(worker)) for worker in ("gw0", "gw1"))]
    assert all(len(block) >= 100 for block in blocks), [len(block) for block in blocks]
    assert len(set.union(*blocks)) == sum(map(len, blocks))
