"""What a fork does first, done to a copy of the project, whose own tests then run there:
renaming the app, its port and its cookies in the one place (config.py) breaks no test; the
README's page and action are checked without being named; and each removal recipe of
docs/forking.md, applied exactly as written, leaves ruff, mypy and the quick suite green."""

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, process_environ

from config import DEFAULT_PORT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("copies of the project")]

# The suite's core: pages, actions, sign-in, scopes, sessions, cookies, settings.
CORE = [
    "tests/test_pages.py",
    "tests/test_actions.py",
    "tests/test_grant.py",
    "tests/test_flow.py",
    "tests/test_hardening.py",
    "tests/test_secrets.py",
    "tests/test_sessions.py",
    "tests/test_config.py",
]
NOT_COPIED = shutil.ignore_patterns(
    ".git", "instance", "__pycache__", ".*_cache", ".venv", "venv", "*.pyc", "screenshots"
)
RENAMED = {
    "APP_NAME": '"Acme on-call desk"',
    "DEFAULT_PORT": "5150",
    "DEFAULT_SANDBOX_PORT": "5151",
    "CALLBACK_PATH": '"/oauth/ilert/done"',
    "SESSION_COOKIE": '"acme_sid"',
    "LOGOUT_NOTICE_COOKIE": '"acme_signed_out"',
    "SIGN_IN_COOKIE_PREFIX": '"acme-pending-"',
}


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


def assert_green(copy, tests):
    """ruff, mypy and `tests` (without the slow ones) pass in the copy."""
    for check in (["-m", "ruff", "check", "."], ["-m", "ruff", "format", "--check", "."]):
        finished = run(copy, *check)
        assert finished.returncode == 0, finished.stdout + finished.stderr
    finished = run(copy, "-m", "mypy")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    finished = run(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                   "-m", "not slow", *tests)  # fmt: skip
    summary = finished.stdout.strip().splitlines()[-1] if finished.stdout.strip() else ""
    assert finished.returncode == 0, finished.stdout[-6000:] + finished.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed[1]) > 100 and "failed" not in summary, summary


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


def test_renaming_the_app_its_port_and_its_cookies_in_config_breaks_no_test(tmp_path):
    copy = copy_of_project(tmp_path)
    config = copy / "config.py"
    text = config.read_text()
    for name, value in RENAMED.items():
        text, count = re.subn(rf"^{name} = .*?(  #.*)?$", rf"{name} = {value}\1", text, flags=re.M)
        assert count == 1, f"config.py has no one line for {name}"
    config.write_text(text)
    shown = run(copy, "-c", "import config; print(config.DEFAULT_REDIRECT_URI, config.APP_NAME)")
    assert shown.stdout.strip() == "http://localhost:5150/oauth/ilert/done Acme on-call desk"
    # What the project ships for a deployment names no port of its own, so none is left stale.
    for shipped in (copy / "deploy").iterdir():
        assert str(DEFAULT_PORT) not in shipped.read_text(), shipped.name
    assert_green(copy, CORE)


def test_removing_the_flow_inspector_as_the_docs_say_breaks_no_other_test(tmp_path):
    copy = copy_of_project(tmp_path)
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
    assert "inspector" not in run(copy, "-m", "mypy").stdout
    assert_green(copy, ["tests"])


def readme_blocks(section):
    """The code blocks of the README's `## <section>`, in order."""
    with open(f"{ROOT}/README.md") as file:
        readme = file.read()
    text = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [textwrap.dedent(block) for block in re.findall(r"```\w+\n(.*?)```", text, re.S)]


def test_the_readmes_page_and_action_are_checked_without_being_named(tmp_path):
    """README's "Add a page of your own" and "Add an action of your own", done as written in
    two files each: the suite's registry tests, browser walk and axe-core check them, and
    nothing that passed before fails."""
    copy = copy_of_project(tmp_path)
    view, template = readme_blocks("Add a page of your own")
    action_view, button = readme_blocks("Add an action of your own")
    pages = copy / "views" / "pages.py"
    pages.write_text(pages.read_text() + "\n\n" + view + "\n\n" + action_view)
    (copy / "templates" / "incidents.html").write_text(template)
    edit(
        copy / "templates" / "alert_sources.html",
        replace=[("hidden_label=source.name) }}{% endif %}</td>",
                  "hidden_label=source.name) }}\n        " + button.strip() + "{% endif %}</td>")],
    )  # fmt: skip
    collected = run(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                    "--collect-only", "tests/test_pages.py")  # fmt: skip
    assert "[pages.incidents]" in collected.stdout
    assert "[pages.delete_alert_source]" in collected.stdout
    assert_green(copy, CORE)
    walked = run(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                 "tests/test_browser.py", "-k", "every_page or axe")  # fmt: skip
    assert walked.returncode == 0, walked.stdout[-6000:]


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


def test_running_without_sandbox_mode_as_the_docs_say_breaks_no_other_test(tmp_path):
    copy = copy_of_project(tmp_path)
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
    stopped = run(copy, "app.py", timeout=60)  # no client id: it stops, and says what to set
    assert stopped.returncode == 3
    assert stopped.stderr.startswith("Configuration error: ILERT_CLIENT_ID is not set")
    assert_green(copy, ["tests"])
    started = run(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                  "tests/test_app_py.py")  # fmt: skip
    assert started.returncode == 0, started.stdout[-6000:]
