"""The provenance block that closes each chapter: what produced the numbers on the page.

`provenance_block(profile)` displays, as HTML, the profile, every run record this kernel wrote or
reused (name, 12-character config hash, seed, trained or reused), the seeds, the checkout's git
commit, the chapter's wall time (since the kernel process started), the kernel's peak resident
memory, and the machine (platform, CPUs, torch version and threads, GPU).
"""

from __future__ import annotations

import html
import resource
import sys
import time
from dataclasses import dataclass

import psutil
import torch
from IPython.display import HTML, display

from fashion_lib.engine.records import (
    HASH_CHARS,
    TouchedRun,
    git_commit,
    machine_info,
    touched_records,
)


@dataclass(frozen=True)
class RunLine:
    """One run record as the block lists it."""

    name: str
    config_hash: str
    seed: int
    reused: bool


@dataclass(frozen=True)
class Provenance:
    """Everything the block shows, gathered once.

    Attributes:
        profile: the profile the chapter ran under.
        runs: the run records this kernel touched, first touch first.
        git_commit: the checkout's commit ("+dirty" with local changes), or None outside git.
        wall_time_s: seconds since the kernel process started.
        peak_memory_mib: peak resident memory of the kernel process.
        machine: platform, python, torch, CPU count and GPU (`records.machine_info`), plus
            torch's intra-op thread count.
    """

    profile: str
    runs: tuple[RunLine, ...]
    git_commit: str | None
    wall_time_s: float
    peak_memory_mib: float
    machine: dict[str, object]

    @property
    def seeds(self) -> list[int]:
        """The distinct seeds of the runs, ascending."""
        return sorted({run.seed for run in self.runs})


def _run_line(touched: TouchedRun) -> RunLine:
    record = touched.record
    return RunLine(
        name=record.name,
        config_hash=record.config_hash[:HASH_CHARS],
        seed=record.seed,
        reused=touched.reused,
    )


def peak_memory_mib() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def collect(profile: str) -> Provenance:
    """Gather the provenance of the running kernel for a chapter run under `profile`."""
    return Provenance(
        profile=profile,
        runs=tuple(_run_line(t) for t in touched_records()),
        git_commit=git_commit(),
        wall_time_s=time.time() - psutil.Process().create_time(),
        peak_memory_mib=peak_memory_mib(),
        machine={**machine_info(), "torch_threads": torch.get_num_threads()},
    )


def _cell(text: object) -> str:
    return f"<td>{html.escape(str(text))}</td>"


def render_html(prov: Provenance) -> str:
    """The block as an HTML fragment: a summary list, then a folded table of the run records."""
    m = prov.machine
    gpu = m.get("gpu") or "none"
    seeds = ", ".join(str(s) for s in prov.seeds) or "none (no run record touched)"
    facts = [
        ("Profile", prov.profile),
        ("Git commit", prov.git_commit or "not a git checkout"),
        ("Seeds", seeds),
        ("Chapter wall time", f"{prov.wall_time_s:.1f} s (since the kernel started)"),
        ("Peak memory", f"{prov.peak_memory_mib:.0f} MiB (kernel process, resident)"),
        (
            "Machine",
            f"{m['platform']}; Python {m['python']}; {m['cpus']} CPUs; torch {m['torch']} "
            f"with {m['torch_threads']} threads; GPU: {gpu}",
        ),
    ]
    items = "".join(f"<li><b>{html.escape(k)}:</b> {html.escape(str(v))}</li>" for k, v in facts)
    if prov.runs:
        rows = "".join(
            "<tr>"
            + _cell(r.name)
            + f"<td><code>{html.escape(r.config_hash)}</code></td>"
            + _cell(r.seed)
            + _cell("reused" if r.reused else "trained")
            + "</tr>"
            for r in prov.runs
        )
        reused = sum(r.reused for r in prov.runs)
        n = len(prov.runs)
        summary = f"{n} run record{'s' if n != 1 else ''}: {n - reused} trained, {reused} reused"
        table = (
            f"<details><summary>{summary}</summary>"
            "<table><thead><tr><th>Run record</th><th>Config hash</th><th>Seed</th>"
            f"<th>This kernel</th></tr></thead><tbody>{rows}</tbody></table></details>"
        )
    else:
        table = "<p>This chapter wrote and reused no run record.</p>"
    return f'<div class="provenance"><ul>{items}</ul>{table}</div>'


def provenance_block(profile: str) -> None:
    """Display the provenance block of the running chapter (the last cell of each notebook)."""
    display(HTML(render_html(collect(profile))))
