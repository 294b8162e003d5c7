"""pykan's ``model.fit`` spelling on :func:`kanscience.fit`.

pykan's flat options map onto fit's grouped ones: ``lamb``, ``lamb_l1``, ``lamb_entropy``,
``lamb_coef``, ``lamb_coefdiff`` and ``reg_metric`` onto a :class:`~kanscience.train.Penalty`
(none when ``lamb == 0``); ``update_grid``, ``grid_update_num``, ``start_grid_update_step``
and ``stop_grid_update_step`` onto a :class:`~kanscience.train.GridSchedule` (none when
``update_grid`` is False).

Examples
--------
>>> from kanscience import KAN, create_dataset
>>> data = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, seed=0)
>>> results = fit_pykan(KAN([2, 3, 1], seed=0), data, steps=3, lamb=1e-3, progress=False)
>>> sorted(results), len(results["train_loss"])
(['reg', 'test_loss', 'train_loss'], 3)
>>> options_from_pykan({"lamb": 0.01, "update_grid": False, "steps": 5})
{'steps': 5, 'penalty': Penalty(lamb=0.01, l1=1.0, entropy=2.0, coef=0.0, coef_diff=0.0, \
metric='edge_forward_spline_n'), 'grid_schedule': None}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor

from ..core import KAN, Dataset
from ..train import GridSchedule, Penalty, fit

__all__ = ["PYKAN_FIT_OPTIONS", "fit_pykan", "options_from_pykan"]

# pykan's flat names of what fit groups, with pykan's defaults
PYKAN_FIT_OPTIONS: Mapping[str, Any] = {
    "lamb": 0.0,
    "lamb_l1": 1.0,
    "lamb_entropy": 2.0,
    "lamb_coef": 0.0,
    "lamb_coefdiff": 0.0,
    "reg_metric": "edge_forward_spline_n",
    "update_grid": True,
    "grid_update_num": 10,
    "start_grid_update_step": -1,
    "stop_grid_update_step": 50,
}


def options_from_pykan(options: Mapping[str, Any]) -> dict[str, Any]:
    """fit's keyword options from a mix of pykan's flat ones and fit's own.

    The names of :data:`PYKAN_FIT_OPTIONS` (missing ones take pykan's defaults) become
    ``penalty`` and ``grid_schedule``; every other option is passed through.

    Raises
    ------
    ValueError
        If ``options`` gives both a flat name and the group it belongs to.
    """
    rest = {k: v for k, v in options.items() if k not in PYKAN_FIT_OPTIONS}
    flat = {**PYKAN_FIT_OPTIONS, **{k: v for k, v in options.items() if k in PYKAN_FIT_OPTIONS}}
    for group, names in (
        (
            "penalty",
            ("lamb", "lamb_l1", "lamb_entropy", "lamb_coef", "lamb_coefdiff", "reg_metric"),
        ),
        (
            "grid_schedule",
            ("update_grid", "grid_update_num", "start_grid_update_step", "stop_grid_update_step"),
        ),
    ):
        given = sorted(set(names) & set(options))
        if group in rest and given:
            raise ValueError(f"give {group} or pykan's {given}, not both")
    if "penalty" not in rest:
        penalty = Penalty(
            flat["lamb"],
            l1=flat["lamb_l1"],
            entropy=flat["lamb_entropy"],
            coef=flat["lamb_coef"],
            coef_diff=flat["lamb_coefdiff"],
            metric=flat["reg_metric"],
        )
        rest["penalty"] = penalty if penalty.active else None
    if "grid_schedule" not in rest:
        rest["grid_schedule"] = (
            GridSchedule(
                flat["grid_update_num"],
                start=flat["start_grid_update_step"],
                stop=flat["stop_grid_update_step"],
            )
            if flat["update_grid"]
            else None
        )
    return rest


def fit_pykan(
    model: KAN,
    dataset: Dataset | Mapping[str, Tensor],
    opt: str = "LBFGS",
    steps: int = 100,
    log: int = 1,
    lamb: float = 0.0,
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
    update_grid: bool = True,
    grid_update_num: int = 10,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    lr: float = 1.0,
    start_grid_update_step: int = -1,
    stop_grid_update_step: int = 50,
    batch: int = -1,
    metrics: Sequence[Callable[[], float]] | None = None,
    save_fig: bool = False,
    in_vars: Any = None,
    out_vars: Any = None,
    beta: float = 3,
    save_fig_freq: int = 1,
    img_folder: str = "./video",
    singularity_avoiding: bool = False,
    y_th: float = 1000.0,
    reg_metric: str = "edge_forward_spline_n",
    display_metrics: Any = None,
    **options: Any,
) -> dict[str, list[float]]:
    """pykan's ``model.fit(dataset, ...)``: the same signature and defaults, on :func:`fit`.

    ``fit_pykan(model, data, lamb=0.01, update_grid=False)`` is
    ``fit(model, data, opt="LBFGS", penalty=Penalty(lamb=0.01), grid_schedule=None)``.
    pykan's ``log`` and ``display_metrics`` (what its progress bar prints) and the figure
    options used only with ``save_fig`` are accepted and ignored; ``options`` are fit's
    other keywords (``seed``, ``progress``, ``max_iter``, ``callbacks``...).

    Returns
    -------
    dict
        pykan's results: ``train_loss``, ``test_loss``, ``reg`` and one list per metric.

    Raises
    ------
    ValueError
        For ``save_fig=True`` (kanscience writes no files during training; plot the
        model with :mod:`kanscience.plot` instead), and for what :func:`fit` rejects.
    """
    del log, in_vars, out_vars, beta, save_fig_freq, img_folder, display_metrics
    if save_fig:
        raise ValueError(
            "save_fig=True is not supported: fit writes no files (plot the model with "
            "kanscience.plot after training)"
        )
    flat = {
        "lamb": lamb,
        "lamb_l1": lamb_l1,
        "lamb_entropy": lamb_entropy,
        "lamb_coef": lamb_coef,
        "lamb_coefdiff": lamb_coefdiff,
        "reg_metric": reg_metric,
        "update_grid": update_grid,
        "grid_update_num": grid_update_num,
        "start_grid_update_step": start_grid_update_step,
        "stop_grid_update_step": stop_grid_update_step,
    }
    history = fit(
        model,
        dataset,
        opt=opt,
        steps=steps,
        loss_fn=loss_fn,
        lr=lr,
        batch=batch,
        metrics=metrics,
        singularity_avoiding=singularity_avoiding,
        y_th=y_th,
        **options_from_pykan({**flat, **options}),
    )
    return history.as_dict()
