"""Physics discoveries, end to end: each module is one case, runnable as
``python -m physics_examples.<name>``, with ``main(steps=..., seed=..., ...) -> CaseResult``.

Every case goes from sampled data to a closed-form law with no manual step and checks
itself: the law must equal the reference up to the case's gauge after snapping, its
coefficients must be within 2% before snapping, no spurious term may exceed 1% of the
leading one, and a numerical criterion on fresh samples must hold. ``main`` never prints;
run as a script, a case prints a short report.

Each result also carries the data of a plot of the learned versus the true law
(``CaseResult.panels``, see :mod:`kanscience.physics._panels`), in the law's gauge so that the
curves coincide when the law is right; ``result.plot(path)`` draws it, and
``python -m physics_examples.<name> --plot out.png`` writes it.

Cases: :mod:`~physics_examples.harmonic_oscillator`,
:mod:`~physics_examples.isotropic_oscillator`, :mod:`~physics_examples.pendulum`,
:mod:`~physics_examples.relativistic_particle`, :mod:`~physics_examples.schwarzschild`,
:mod:`~physics_examples.neo_hookean`; and the development cases beyond them
(``shared/PHYSICS_CASES.md``): :mod:`~physics_examples.sir_epidemic` (D1),
:mod:`~physics_examples.plummer` (D2), :mod:`~physics_examples.duffing_trajectories` (D3),
:mod:`~physics_examples.cart_pole` (D4), :mod:`~physics_examples.elastic_pendulum` (D5),
:mod:`~physics_examples.neo_hookean_cauchy` (D6), :mod:`~physics_examples.damped_oscillator`
(D7).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from matplotlib.figure import Figure

from kanscience.physics import LawPanel, plot_law_comparison

__all__ = ["CASES", "CaseResult", "run_as_script", "uniform"]

CASES = (
    "harmonic_oscillator",
    "isotropic_oscillator",
    "pendulum",
    "relativistic_particle",
    "schwarzschild",
    "neo_hookean",
    "sir_epidemic",
    "plummer",
    "duffing_trajectories",
    "damped_oscillator",
    "cart_pole",
    "elastic_pendulum",
    "neo_hookean_cauchy",
)


@dataclass
class CaseResult:
    """The law a case recovered and how it checked itself.

    Attributes
    ----------
    name : str
    law : Any
        The recovered law (a sympy expression, or a list for several).
    reference : Any
        The law it should be (same form).
    checks : dict of str -> bool
        Named pass/fail checks; ``passed`` is their conjunction.
    metrics : dict of str -> float
        The numbers behind the checks.
    seconds : float
        Wall time of ``main``.
    details : Any
        The library's full result object.
    panels : list of LawCurves, LawParity or LawContours
        The learned versus the true law, as :meth:`plot` draws it.
    """

    name: str
    law: Any
    reference: Any
    checks: dict[str, bool] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    details: Any = None
    panels: list[LawPanel] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    def report(self) -> str:
        """A short human-readable report."""
        lines = [
            f"{self.name}: {'PASSED' if self.passed else 'FAILED'} in {self.seconds:.1f} s",
            f"  recovered: {self.law}",
            f"  reference: {self.reference}",
        ]
        lines += [f"  {'ok ' if ok else 'BAD'} {name}" for name, ok in self.checks.items()]
        lines += [f"  {name} = {value:.3g}" for name, value in self.metrics.items()]
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike | None = None) -> Figure:
        """The learned versus the true law (:attr:`panels`) on one Figure.

        Parameters
        ----------
        path : str or PathLike, optional
            Also save the figure there (format from the suffix). Nothing is written otherwise.

        Returns
        -------
        matplotlib.figure.Figure
            ``fig.axes[i]`` shows ``panels[i]``.
        """
        if not self.panels:
            raise ValueError(f"{self.name} has no plot data (its main stores it in panels)")
        verdict = "passed" if self.passed else "FAILED"
        return plot_law_comparison(
            self.panels, title=f"{self.name}: learned vs true law ({verdict})", path=path
        )


def uniform(n: int, ranges: Sequence[tuple[float, float]], seed: int) -> torch.Tensor:
    """``n`` float64 samples uniform in the box ``ranges`` (private generator)."""
    generator = torch.Generator().manual_seed(int(seed))
    lo = torch.tensor([r[0] for r in ranges], dtype=torch.float64)
    hi = torch.tensor([r[1] for r in ranges], dtype=torch.float64)
    return lo + (hi - lo) * torch.rand(n, len(ranges), generator=generator, dtype=torch.float64)


def run_as_script(
    main: Callable[..., CaseResult], description: str, argv: Sequence[str] | None = None
) -> int:
    """Parse ``--steps/--seed/--n`` (when ``main`` takes them) and ``--plot PATH``, run,
    print the report, and write the learned-versus-true plot to ``PATH`` when asked."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--n", type=int, default=None, help="number of samples")
    parser.add_argument(
        "--plot",
        default=None,
        metavar="PATH",
        help="write the learned-versus-true plot there (e.g. out.png)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny tensors: more threads only add overhead
    path = args.plot
    options = {k: v for k, v in vars(args).items() if v is not None and k != "plot"}
    result = main(**options)
    print(result.report())
    if path is not None:
        if result.panels:
            result.plot(path)
            print(f"  plot written to {path}")
        else:
            print("  no plot data: nothing written")
    return 0 if result.passed else 1
