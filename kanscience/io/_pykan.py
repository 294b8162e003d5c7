"""Conversion to and from pykan's ``MultKAN`` (the optional ``pykan`` extra).

pykan stores symbolic edges as ``(out, in)`` tables and ours as ``(in, out)``; everything
else maps one to one, so a converted model computes the same function to rounding. One
difference of meaning: a pykan symbolic edge whose function is the zero function still
adds its offset ``mask * d``, where ours adds nothing; :func:`from_pykan` moves those
offsets into the subnode biases (which pykan and ours both add after the edges).

Examples
--------
>>> from kanscience import KAN, to_pykan, from_pykan   # doctest: +SKIP
>>> model = KAN([2, 3, 1], grid=5, seed=0)               # doctest: +SKIP
>>> back = from_pykan(to_pykan(model))                    # doctest: +SKIP
"""

from __future__ import annotations

import random
from typing import Any, cast

import numpy as np
import torch

from ..core import KAN, ZERO_FUNCTION, KANLayer

__all__ = ["from_pykan", "to_pykan"]


def _import_pykan() -> Any:
    try:
        import kan  # noqa: F401
        from kan.MultKAN import MultKAN
        from kan.utils import SYMBOLIC_LIB
    except ImportError as error:  # pragma: no cover - exercised without the extra
        raise ImportError(
            "pykan interop needs the optional extra: pip install 'kanscience[pykan]'"
        ) from error
    return MultKAN, SYMBOLIC_LIB


def _kan_layers(model: KAN) -> list[KANLayer]:
    return [cast(KANLayer, layer) for layer in model.layers]


def from_pykan(pykan_model: Any, library: Any = None) -> KAN:
    """Build a :class:`~kanscience.KAN` computing the same function as a pykan model.

    Parameters
    ----------
    pykan_model : kan.MultKAN
    library : FunctionLibrary, optional
        Library resolving the symbolic function names (default: the built-in one).

    Returns
    -------
    KAN
        Same dtype as the pykan model's parameters.

    Raises
    ------
    ValueError
        If the pykan model selects a subset of its inputs (``input_id``) or uses a symbolic
        function that ``library`` does not know.
    """
    _import_pykan()
    source = pykan_model
    input_id = source.input_id.long().cpu()
    if not torch.equal(input_id, torch.arange(source.width_in[0])):
        raise ValueError(
            "pykan_model uses a pruned input selection (input_id); apply it to the data "
            "and rebuild, or prune with kanscience instead"
        )
    layers = source.act_fun
    dtype = layers[0].coef.dtype
    arity = source.mult_arity
    model = KAN(
        width=[list(map(int, w)) for w in source.width],
        grid=[int(layer.num) for layer in layers],
        k=[int(layer.k) for layer in layers],
        mult_arity=arity if isinstance(arity, int) else [list(a) for a in arity],
        base_fun=source.base_fun_name,
        affine_trainable=bool(source.affine_trainable),
        grid_eps=float(source.grid_eps),
        grid_range=(float(source.grid_range[0]), float(source.grid_range[1])),
        sp_trainable=bool(source.sp_trainable),
        sb_trainable=bool(source.sb_trainable),
        library=library,
        dtype=dtype,
        allow_large=True,  # the pykan model holds these parameters already
    )
    with torch.no_grad():
        for index, (ours, theirs, symbolic) in enumerate(
            zip(_kan_layers(model), layers, source.symbolic_fun)
        ):
            ours.grid.copy_(theirs.grid)
            ours.coef.copy_(theirs.coef)
            ours.scale_base.copy_(theirs.scale_base)
            ours.scale_sp.copy_(theirs.scale_sp)
            ours.mask.copy_(theirs.mask)
            enabled = 1.0 if source.symbolic_enabled else 0.0
            ours.symbolic_mask.copy_(symbolic.mask.t() * enabled)
            ours.symbolic_affine.copy_(symbolic.affine.transpose(0, 1))
            for j, row in enumerate(symbolic.funs_name):
                for i, name in enumerate(row):
                    if name not in ours.library and name != "0":
                        raise ValueError(
                            f"pykan layer {index} edge ({i}, {j}) uses symbolic function "
                            f"{name!r}, unknown to the library; pass library= with it"
                        )
                    ours.symbolic_names[i][j] = name
            ours.invalidate_symbolic_cache()
            for name in ("node_scale", "node_bias", "subnode_scale", "subnode_bias"):
                getattr(model, name)[index].copy_(getattr(source, name)[index])
            _fold_zero_function_offsets(ours, model.subnode_scale[index], model.subnode_bias[index])
    return model


def _fold_zero_function_offsets(layer: KANLayer, scale: torch.Tensor, bias: torch.Tensor) -> None:
    """Move ``mask * d`` of zero-function symbolic edges into the subnode bias (in place).

    pykan evaluates ``c * 0 + d`` on such an edge; ours skips it. The subnode affine map
    ``scale * (edges + offset) + bias`` equals ``scale * edges + (bias + scale * offset)``.
    """
    zero = torch.tensor(
        [[name == ZERO_FUNCTION for name in row] for row in layer.symbolic_names],
        device=layer.symbolic_mask.device,
    )
    offsets = (layer.symbolic_mask * layer.symbolic_affine[..., 3] * zero).sum(dim=0)
    bias.add_(scale * offsets)
    layer.symbolic_affine[..., 3].masked_fill_(zero, 0.0)


def to_pykan(model: KAN) -> Any:
    """A pykan ``MultKAN`` computing the same function as ``model``.

    The pykan model is built with ``auto_save=False`` so that nothing is written, and with
    the global torch, numpy and ``random`` generators restored afterwards (pykan seeds them).
    """
    MultKAN, SYMBOLIC_LIB = _import_pykan()
    cfg = model.config()
    arity = cfg["mult_arity"]
    homogeneous = sorted({a for layer in arity for a in layer})
    pykan_arity: Any = arity if len(homogeneous) > 1 else (homogeneous or [2])[0]
    dtype = _kan_layers(model)[0].coef.dtype
    default_dtype = torch.get_default_dtype()
    generator_states = (random.getstate(), np.random.get_state())
    try:
        with torch.random.fork_rng():  # pykan seeds the global generators
            torch.set_default_dtype(dtype)  # pykan builds in the default dtype
            target = MultKAN(
                width=[list(w) for w in cfg["width"]],
                grid=cfg["grid"] if len(set(cfg["grid"])) > 1 else cfg["grid"][0],
                k=cfg["k"] if len(set(cfg["k"])) > 1 else cfg["k"][0],
                mult_arity=pykan_arity,
                base_fun=cfg["base_fun"],
                affine_trainable=cfg["affine_trainable"],
                grid_eps=cfg["grid_eps"],
                grid_range=list(cfg["grid_range"]),
                sp_trainable=cfg["sp_trainable"],
                sb_trainable=cfg["sb_trainable"],
                auto_save=False,
                save_act=True,
                seed=cfg["seed"],
            )
    finally:
        torch.set_default_dtype(default_dtype)
        random.setstate(generator_states[0])
        np.random.set_state(generator_states[1])
    with torch.no_grad():
        for index, (ours, theirs, symbolic) in enumerate(
            zip(_kan_layers(model), target.act_fun, target.symbolic_fun)
        ):
            theirs.grid.data = ours.grid.detach().clone()
            theirs.coef.data = ours.coef.detach().clone()
            theirs.scale_base.data = ours.scale_base.detach().clone()
            theirs.scale_sp.data = ours.scale_sp.detach().clone()
            theirs.mask.data = ours.mask.detach().clone()
            symbolic.mask.data = ours.symbolic_mask.t().clone()
            symbolic.affine.data = ours.symbolic_affine.transpose(0, 1).clone()
            for i, row in enumerate(ours.symbolic_names):
                for j, name in enumerate(row):
                    if name not in SYMBOLIC_LIB:
                        raise ValueError(
                            f"layer {index} edge ({i}, {j}) uses {name!r}, which pykan's "
                            "SYMBOLIC_LIB does not have"
                        )
                    fn, fn_sympy, _, fn_safe = SYMBOLIC_LIB[name]
                    symbolic.funs_name[j][i] = name
                    symbolic.funs[j][i] = fn
                    symbolic.funs_sympy[j][i] = fn_sympy
                    symbolic.funs_avoid_singularity[j][i] = fn_safe
            for name in ("node_scale", "node_bias", "subnode_scale", "subnode_bias"):
                getattr(target, name)[index].data = getattr(model, name)[index].detach().clone()
    return target
