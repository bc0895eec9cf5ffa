"""Layer tables of cxrdet's models: each named block's output shape and parameter count at a given input size.

Generic over any ``nn.Module``: the blocks are the model's top-level children by default, or the dotted module
names given (``backbone.block1``). One forward pass (eval mode, no grad, batch 1) with forward hooks records each
block's output shape; parameters are counted per block and for the whole model. The table's text (written into
the configs' headers as comment lines) reads back with :func:`parse_layer_table`, so tests compare a config's
header with the model. Used by TJ-Net's and the fracture CNNs' configs and tests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

TOTAL = "total"


@dataclass(frozen=True)
class LayerRow:
    """One row: the block's name, its output shape for one image (``None`` if it did not run), its parameters."""

    name: str
    output_shape: tuple[int, ...] | None
    params: int


def _shape(output: object) -> tuple[int, ...] | None:
    if isinstance(output, torch.Tensor):
        return tuple(int(s) for s in output.shape[1:])
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        for item in output:
            shape = _shape(item)
            if shape is not None:
                return shape
    return None


def count_parameters(module: nn.Module) -> int:
    """All parameters of ``module`` (trainable or not)."""
    return sum(p.numel() for p in module.parameters())


def layer_table(model: nn.Module, input_size: Sequence[int], blocks: Sequence[str] | None = None) -> list[LayerRow]:
    """Rows for ``blocks`` (default: the top-level children) and a final ``total`` row (the whole model).

    Args:
        model: any module whose ``model(x)`` accepts a ``1 x C x H x W`` tensor (BaseModels: 'tensor' mode).
        input_size: ``(C, H, W)`` of one image.
        blocks: dotted names of the modules to list, in order.

    Returns:
        One :class:`LayerRow` per block then the total (its ``output_shape`` is ``None``).
    """
    names = list(blocks) if blocks is not None else [name for name, _ in model.named_children()]
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise KeyError(f"layer_table: no module named {missing} in {type(model).__name__}")
    shapes: dict[str, tuple[int, ...] | None] = {n: None for n in names}
    handles = []
    for name in names:

        def hook(_module: nn.Module, _args: object, output: object, name: str = name) -> None:
            shapes[name] = _shape(output)

        handles.append(modules[name].register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros((1, *[int(s) for s in input_size]), device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    rows = [LayerRow(n, shapes[n], count_parameters(modules[n])) for n in names]
    return [*rows, LayerRow(TOTAL, None, count_parameters(model))]


def format_layer_table(rows: Sequence[LayerRow]) -> str:
    """The rows as a fixed-width text table (``name  output shape  params``; shapes as ``64 x 128 x 128``)."""
    cells = [("block", "output", "params")]
    for row in rows:
        shape = " x ".join(str(s) for s in row.output_shape) if row.output_shape else "-"
        cells.append((row.name, shape, f"{row.params:,}"))
    w0 = max(len(c[0]) for c in cells)
    w1 = max(len(c[1]) for c in cells)
    w2 = max(len(c[2]) for c in cells)
    return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c:>{w2}}" for a, b, c in cells)


_ROW = re.compile(r"^(?P<name>\S+)\s{2,}(?P<shape>-|\d+(?: x \d+)*)\s{2,}(?P<params>[\d,]+)$")


def parse_layer_table(text: str, prefix: str = "") -> list[LayerRow]:
    """Read back the rows of a :func:`format_layer_table` text, each line optionally behind ``prefix`` ("# ").

    Lines that are not table rows (the header, prose around the table) are skipped.
    """
    rows = []
    for line in text.splitlines():
        if prefix:
            if not line.startswith(prefix):
                continue
            line = line[len(prefix) :]
        match = _ROW.match(line.strip())
        if not match:
            continue
        shape_text = match["shape"]
        shape = None if shape_text == "-" else tuple(int(s) for s in shape_text.split(" x "))
        rows.append(LayerRow(match["name"], shape, int(match["params"].replace(",", ""))))
    return rows
