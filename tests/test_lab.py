"""`make lab`: JupyterLab starts, opens a chapter's `.py` as a notebook and runs the .venv kernel.

The test starts the real target (`make lab`, the OS choosing a free loopback port), finds the port and
its own token in the server's runtime file, asks the REST API what a reader's browser would ask, and
shuts the server down. Config and runtime folders are temporary, so it sees Lab as a new user does.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "notebooks/00_overview.py"
START_TIMEOUT_S = 45.0

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or not (ROOT / ".venv" / "bin" / "jupyter").exists(),
    reason="needs make and the project's .venv",
)


@dataclass(frozen=True)
class Lab:
    """A running `make lab`: its base URL, token and server process id."""

    url: str
    token: str
    pid: int

    def call(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        """JSON request to the server's REST API with the token; returns the decoded reply."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"token {self.token}")
        with urllib.request.urlopen(request, timeout=15) as reply:
            text = reply.read().decode()
        return json.loads(text) if text else {}


def _wait_for_server(proc: subprocess.Popen, runtime: Path, log: Path) -> dict:
    """The server's runtime record (port, pid) once it answers, or fail with its log."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"make lab exited with {proc.returncode}:\n{log.read_text()}")
        for record in runtime.glob("jpserver-*.json"):
            info = json.loads(record.read_text())
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{info['port']}/api", timeout=5)
            except OSError:  # the record is written just before the server listens
                continue
            return info
        time.sleep(0.5)
    pytest.fail(f"make lab did not answer within {START_TIMEOUT_S} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("lab")
    runtime = home / "runtime"
    log = home / "lab.log"
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(
        JUPYTER_TOKEN=token,
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
    )
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "lab", "LAB_PORT=0", "LAB_BROWSER=--no-browser"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        info = _wait_for_server(proc, runtime, log)
        print(f"make lab answered after {time.monotonic() - started:.1f} s")
        server = Lab(url=f"http://127.0.0.1:{info['port']}", token=token, pid=int(info["pid"]))
        yield server
        server.call("/api/shutdown", method="POST")
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:  # our own session only: make, its shell and the server
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
    assert not list(runtime.glob("jpserver-*.json")), "the server left its runtime record behind"


def test_chapter_opens_as_a_notebook(lab: Lab) -> None:
    model = lab.call(f"/api/contents/{CHAPTER}")
    assert model["type"] == "notebook"
    assert model["format"] == "json"
    expected = jupytext.read(ROOT / CHAPTER)
    cells = model["content"]["cells"]
    assert [c["cell_type"] for c in cells] == [c.cell_type for c in expected.cells]
    assert [c["source"] for c in cells] == [c.source for c in expected.cells]
    assert cells[0]["cell_type"] == "markdown"
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1, "papermill needs exactly one parameters cell"
    assert model["content"]["metadata"]["kernelspec"]["name"] == "python3"


def test_python_files_open_with_jupytext_by_default(lab: Lab) -> None:
    settings = lab.call("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    viewers = settings["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers["python"] == "Jupytext Notebook"


def _proc_strings(pid: str, name: str) -> list[str]:
    """NUL-separated strings of /proc/<pid>/<name> (cmdline, environ)."""
    return Path(f"/proc/{pid}/{name}").read_bytes().decode().split("\0")


def test_kernel_is_the_venv_python_with_the_book_environment(lab: Lab) -> None:
    specs = lab.call("/api/kernelspecs")
    assert specs["default"] == "python3"
    assert specs["kernelspecs"]["python3"]["spec"]["language"] == "python"
    kernel = lab.call("/api/kernels", method="POST", body={"name": "python3"})
    try:
        children = Path(f"/proc/{lab.pid}/task/{lab.pid}/children")
        if not children.exists():
            pytest.skip("no /proc to read the kernel's command line")
        kernels = [
            pid
            for pid in children.read_text().split()
            if "ipykernel_launcher" in _proc_strings(pid, "cmdline")
        ]
        assert len(kernels) == 1
        python = Path(_proc_strings(kernels[0], "cmdline")[0])
        assert python.parent == ROOT / ".venv" / "bin"
        assert python.name.startswith("python")
        environ = dict(s.split("=", 1) for s in _proc_strings(kernels[0], "environ") if "=" in s)
        assert environ["NLTK_DATA"] == str(ROOT / ".data" / "nltk_data")
        assert environ["HF_HUB_OFFLINE"] == environ["TRANSFORMERS_OFFLINE"] == "1"
    finally:
        lab.call(f"/api/kernels/{kernel['id']}", method="DELETE")
