"""Teaching helpers of the chapters: the library's own source beside an equation, and checks.

A chapter shows an equation, then the code that implements it *included from the library* with
`show_source` (never a copy that could drift), then a tiny worked example computed by hand and
compared with the library by `check_equal`, which prints one line a reader can trust because the
chapter would fail otherwise.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable

import pandas as pd
import torch
from IPython.display import Markdown, display

__all__ = ["ShapeLog", "check_equal", "show_source", "source_of"]


def source_of(obj: Callable | type, *, docstring: bool = False) -> str:
    """The source of a library function or class as written, without its docstring by default.

    Args:
        obj: a function, method or class of the library.
        docstring: keep the docstring (it states the paper's equation and our choices).
    """
    source = textwrap.dedent(inspect.getsource(obj))
    node = ast.parse(source).body[0]
    if docstring or ast.get_docstring(node) is None:
        return source
    doc = node.body[0]  # the docstring expression: drop its lines
    lines = source.splitlines(keepends=True)
    return "".join(lines[: doc.lineno - 1] + lines[doc.end_lineno :])


def show_source(*objects: Callable | type, docstring: bool = False) -> None:
    """Display the library source of `objects` as one highlighted block, headed by where it lives."""
    parts = []
    for obj in objects:
        where = f"{obj.__module__}.{obj.__qualname__}"
        parts.append(f"# {where}\n{source_of(obj, docstring=docstring).rstrip()}\n")
    display(Markdown("```python\n" + "\n\n".join(parts) + "```"))


def check_equal(
    name: str, by_hand: torch.Tensor | float, library: torch.Tensor | float, atol: float = 1e-6
) -> None:
    """Assert a hand computation equals the library's, and say so in one line.

    Raises:
        AssertionError: naming the quantity and both values.
    """
    hand_t = torch.as_tensor(by_hand, dtype=torch.float64)
    lib_t = torch.as_tensor(library, dtype=torch.float64)
    same = hand_t.shape == lib_t.shape and torch.allclose(hand_t, lib_t, atol=atol, rtol=0)
    assert same, f"{name}: by hand {hand_t.tolist()} != library {lib_t.tolist()}"
    value = f"{lib_t.item():.6f}" if lib_t.numel() == 1 else f"shape {tuple(lib_t.shape)}"
    print(f"{name}: by hand == library ({value})")


class ShapeLog:
    """The shapes of the tensors a chapter computes step by step, printed as they come.

    ``log(step, name, tensor)`` prints one aligned line and keeps it; ``frame()`` is the table of
    every line so far, for the chapter's summary.
    """

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, tuple[int, ...]]] = []

    def __call__(self, step: str, name: str, tensor: torch.Tensor) -> None:
        """Record and print the shape of `tensor`, computed at `step` and called `name`."""
        self.rows.append((step, name, tuple(tensor.shape)))
        print(f"{step:<8} {name:<26} {tuple(tensor.shape)}")

    def frame(self) -> pd.DataFrame:
        """Every recorded shape: columns step, tensor, shape."""
        return pd.DataFrame(self.rows, columns=["step", "tensor", "shape"])
