"""Training a learned Lagrangian on observed accelerations, in phases.

Each phase is one :func:`kanscience.fit` run whose objective is an Euler-Lagrange loss of
the mass matrix and force side ``(M, F)`` (from
:meth:`~kanscience.physics.LearnedLagrangian.euler_lagrange`): the residual of
:func:`kanscience.physics.residual_loss` (no inverse of ``M``) or the relative acceleration
error of :func:`kanscience.physics.acceleration_loss`. :func:`training_phases` says which
optimizer runs each (Adam moves a MultKAN with multiplication nodes off the prior, where
L-BFGS stalls). A step that turns the loss NaN or Inf stops the training with the last
good model restored (``fit``'s guard); the caller hears of it through ``diverged``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..core import KAN, Dataset
from ..train import Batch, GridSchedule, TrainingDivergedError, fit
from ._euler_lagrange import acceleration_error_of, residual_of
from ._lagrangian_network import LearnedLagrangian

__all__ = [
    "Phase",
    "TrainingRecord",
    "race_starts",
    "start_seeds",
    "training_phases",
    "train_lagrangian",
]

Loss = Callable[[Tensor, Tensor, Tensor], Tensor]  # (M, F, a) -> loss


@dataclass(frozen=True)
class Phase:
    """One :func:`kanscience.fit` run: its loss, optimizer, steps and learning rate."""

    loss: Loss
    opt: str
    steps: int
    lr: float = 1.0
    grid_updates: int = 0


@dataclass
class TrainingRecord:
    """Held-out loss after each step (all phases), and the divergence that stopped it."""

    history: list[float] = field(default_factory=list)
    diverged: str = ""
    learned: LearnedLagrangian | None = None


def training_phases(
    steps: int, residual_fraction: float, adam_steps: int, mechanical: bool
) -> list[Phase]:
    """The phases of :func:`fit_lagrangian`.

    General form: ``steps`` L-BFGS steps split ``residual_fraction`` : ``1 -
    residual_fraction`` between the residual and the accelerations (L-BFGS suits a
    one-layer network, linear in its coefficients). Mechanical form (a deeper MultKAN, on
    which L-BFGS stalls from the prior): ``adam_steps`` Adam steps on the residual at a
    learning rate of 3e-2, as many at 1e-2, then all ``steps`` in L-BFGS on the residual;
    no acceleration phase (through ``M^-1`` it can leave the definite region, and the
    formula's own refit under the residual fixes the constants anyway).
    """
    first = round(residual_fraction * steps)
    if mechanical:
        phases = [
            Phase(residual_of, "Adam", adam_steps, 3e-2),
            Phase(residual_of, "Adam", adam_steps, 1e-2),
            Phase(residual_of, "LBFGS", steps),
        ]
    else:
        phases = [
            Phase(residual_of, "LBFGS", first),
            Phase(acceleration_error_of, "LBFGS", steps - first),
        ]
    return [p for p in phases if p.steps > 0]


def train_lagrangian(
    learned: LearnedLagrangian,
    x: Tensor,
    qddot: Tensor,
    train: Tensor,
    test: Tensor,
    phases: list[Phase],
    seed: int,
) -> TrainingRecord:
    """Train ``learned`` on the states ``x = [q, qdot]`` (rows ``train``; held out:
    ``test``) and the accelerations ``qddot``, phase after phase (``learned.model`` is
    trained in place; ``record.learned`` is ``learned``)."""
    dof = x.shape[1] // 2
    record = TrainingRecord()
    current: dict[str, Loss] = {}

    def objective(m: KAN, batch: Batch) -> Tensor:
        rows = (train if batch.split == "train" else test)[batch.index]
        states = x[rows]
        lagrangian = learned.with_model(m)
        mass, force = lagrangian.euler_lagrange(states[:, :dof], states[:, dof:], True)
        return current["loss"](mass, force, qddot[rows])

    # the network's own inputs (q alone in the mechanical form), no labels: the objective
    # finds its states and accelerations by the batch's row index
    inputs = x[:, : learned.model.n_in]
    data = Dataset(inputs[train], inputs[train, :0], inputs[test], inputs[test, :0])
    for phase in phases:
        current["loss"] = phase.loss
        try:
            record.history += fit(
                learned.model,
                data,
                opt=phase.opt,
                steps=phase.steps,
                lr=phase.lr,
                objective=objective,
                grid_schedule=(
                    GridSchedule(updates=phase.grid_updates, stop=phase.steps // 2)
                    if phase.grid_updates
                    else None
                ),
                progress=False,
                seed=seed,
            ).test_loss
        except TrainingDivergedError as error:
            record.diverged = str(error)
            break
    record.learned = learned
    return record


STARTS = 3
"""Starting networks raced by :func:`fit_lagrangian` in the mechanical form."""


def start_seeds(seed: int, count: int) -> list[int]:
    """``seed`` and ``count - 1`` further seeds drawn from it (the starts of a race)."""
    generator = torch.Generator().manual_seed(int(seed))
    return [int(seed)] + torch.randint(2**31 - 1, (count - 1,), generator=generator).tolist()


def race_starts(
    starts: Sequence[LearnedLagrangian],
    x: Tensor,
    qddot: Tensor,
    train: Tensor,
    test: Tensor,
    phases: list[Phase],
    seed: int,
) -> TrainingRecord:
    """Train each of ``starts`` through the first phase, keep the one with the lowest
    held-out loss, and train it through the remaining phases.

    A deep MultKAN trained by Adam on the Euler-Lagrange residual lands in a good or a bad
    basin depending on its random start (whether a multiplication node takes up a product);
    the held-out loss after the first phase tells them apart, so a few starts cost less
    than a few full trainings (the race ends at a phase boundary: an Adam run cut short
    and restarted would lose its moment estimates). The record's history is the
    winner's."""
    if len(starts) == 1 or not phases:
        return train_lagrangian(starts[0], x, qddot, train, test, phases, seed)
    head, tail = phases[:1], phases[1:]
    raced = [train_lagrangian(start, x, qddot, train, test, head, seed) for start in starts]
    finished = [r for r in raced if not r.diverged and r.history]
    best = min(finished or raced, key=lambda r: r.history[-1] if r.history else float("inf"))
    if best.diverged or best.learned is None:
        return best
    record = train_lagrangian(best.learned, x, qddot, train, test, tail, seed)
    record.history = best.history + record.history
    record.diverged = best.diverged or record.diverged
    return record
