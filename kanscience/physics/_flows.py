"""The flow ``dx/dt`` of sampled trajectories, by local polynomial (Savitzky-Golay) fits.

Each sample's velocity is the slope at its time of a least-squares polynomial of degree
``order`` fitted to the ``2 h + 1`` samples nearest in index (a window shifted inwards at
the ends of a trajectory). Times need not be evenly spaced. The half-width ``h`` comes from
the data by the *discrepancy principle*: the noise ``sigma`` of each coordinate is estimated
from the residuals of the narrowest fit (corrected for its degrees of freedom), and the
widest window is taken whose residuals stay within ``1.5 sigma``. Noise-free samples keep a
narrow window (the fit's bias would show at once); noisy ones get a wide one that averages
the noise out. The estimated standard error of each velocity (``sigma`` through the
derivative weights of the fit) is returned with the flow, so that the conservation checks
downstream can set their tolerances from it.

Examples
--------
>>> t = torch.linspace(0, 6, 120, dtype=torch.float64)
>>> x = torch.stack([torch.sin(t), torch.cos(t)], 1)
>>> est = estimate_flow([(t, x)])
>>> bool((est.velocities - torch.stack([torch.cos(t), -torch.sin(t)], 1)).abs().max() < 1e-5)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["FlowEstimate", "TrajectoriesLike", "estimate_flow"]

TrajectoriesLike = Sequence[tuple[object, object]] | tuple[object, object]

_DISCREPANCY = 1.05  # residual RMS allowed, in units of the estimated noise


@dataclass(frozen=True)
class FlowEstimate:
    """Velocities estimated from trajectories.

    Attributes
    ----------
    states : Tensor (n, d)
        Every sample of every trajectory, in order, float64.
    velocities : Tensor (n, d)
        The estimated ``dx/dt`` at each state.
    times : Tensor (n,)
    trajectory : Tensor (n,) of int
        Index of the trajectory of each sample.
    standard_error : Tensor (n, d)
        Standard error of each velocity from the estimated noise (bias not included).
    noise : Tensor (d,)
        Estimated noise standard deviation of each coordinate (pooled over trajectories).
    half_width : int
        The window half-width chosen (in samples, one for all trajectories).
    """

    states: Tensor
    velocities: Tensor
    times: Tensor
    trajectory: Tensor
    standard_error: Tensor
    noise: Tensor
    half_width: int

    @property
    def relative_error(self) -> float:
        """RMS over samples of ``|standard error| / |velocity|``: the flow's relative
        uncertainty, the floor of any conservation residual measured against it."""
        speed = self.velocities.norm(dim=1).clamp_min(1e-300)
        return float((self.standard_error.norm(dim=1) / speed).pow(2).mean().sqrt())


def _as_float64(value: object, name: str) -> Tensor:
    if isinstance(value, Tensor):
        tensor = value.detach().to(torch.float64)
    elif isinstance(value, (np.ndarray, list, tuple)):
        tensor = torch.as_tensor(np.asarray(value, dtype=np.float64))
    else:
        raise TypeError(f"{name} must be a tensor or an array, got {type(value).__name__}")
    return tensor


def _split(trajectories: object) -> list[tuple[Tensor, Tensor]]:
    """``[(t (m,), x (m, d)), ...]`` from a list of pairs or a pair of stacked arrays."""
    if (
        isinstance(trajectories, tuple)
        and len(trajectories) == 2
        and not isinstance(trajectories[0], tuple)
    ):
        times = _as_float64(trajectories[0], "trajectory times")
        states = _as_float64(trajectories[1], "trajectory states")
        if states.ndim == 3:  # (n_traj, m, d) with times (n_traj, m) or (m,)
            if times.ndim == 1:
                times = times.expand(states.shape[0], -1)
            return [(times[k], states[k]) for k in range(states.shape[0])]
        return [(times, states)]
    if not isinstance(trajectories, Sequence) or isinstance(trajectories, str):
        raise TypeError(
            "trajectories must be a list of (times, states) pairs or a pair (times, states) "
            f"of stacked arrays, got {type(trajectories).__name__}"
        )
    pairs = []
    for k, item in enumerate(trajectories):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"trajectories[{k}] must be a pair (times, states)")
        pairs.append(
            (
                _as_float64(item[0], f"trajectories[{k}] times"),
                _as_float64(item[1], f"trajectories[{k}] states"),
            )
        )
    return pairs


def _check(pairs: list[tuple[Tensor, Tensor]], order: int) -> int:
    if not pairs:
        raise ValueError("trajectories must hold at least one trajectory, got none")
    dims = set()
    for k, (t, x) in enumerate(pairs):
        if x.ndim == 1:
            raise ValueError(
                f"trajectories[{k}] states must have shape (m, d), got {tuple(x.shape)}"
            )
        if t.ndim != 1 or x.ndim != 2 or t.shape[0] != x.shape[0]:
            raise ValueError(
                f"trajectories[{k}] must be times (m,) and states (m, d) with the same m, "
                f"got {tuple(t.shape)} and {tuple(x.shape)}"
            )
        if t.shape[0] < order + 3:
            raise ValueError(
                f"trajectories[{k}] has {t.shape[0]} samples; at least {order + 3} are needed "
                f"for a local polynomial of degree {order}"
            )
        if not bool(torch.isfinite(t).all() and torch.isfinite(x).all()):
            raise ValueError(f"trajectories[{k}] contains NaN or Inf")
        if not bool((t[1:] > t[:-1]).all()):
            raise ValueError(f"trajectories[{k}] times must be strictly increasing")
        dims.add(x.shape[1])
    if len(dims) != 1:
        raise ValueError(f"all trajectories must have the same dimension, got {sorted(dims)}")
    return dims.pop()


def _local_fits(
    t: Tensor, x: Tensor, first: Tensor, length: Tensor, half: int, order: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Local fits at every sample of the concatenated trajectories.

    ``first`` and ``length`` give, per sample, where its trajectory starts in ``t``/``x``
    and its number of samples. Returns the slopes (n, d), the residuals scaled by
    ``1 / sqrt(1 - leverage)`` (variance ``sigma^2`` where the fit is unbiased), and the
    norms of the derivative weights (n,)."""
    n = t.shape[0]
    width = torch.clamp(length, max=2 * half + 1)
    if not bool((width == width[0]).all()):  # short trajectories: narrower windows there
        width = width.min().expand(n)
    w = int(width[0])
    position = torch.arange(n) - first
    start = first + (position - half).clamp(min=0).minimum(length - w)
    index = start[:, None] + torch.arange(w)[None, :]  # (n, w)
    scale = (t[index[:, -1]] - t[index[:, 0]]).clamp_min(1e-300)[:, None] / 2
    u = (t[index] - t[:, None]) / scale  # (n, w), centred on each sample, in [-2, 2]
    powers = u[..., None] ** torch.arange(order + 1, dtype=torch.float64)  # (n, w, p)
    gram = powers.transpose(1, 2) @ powers  # (n, p, p): well conditioned for u = O(1)
    pinv = torch.linalg.solve(gram, powers.transpose(1, 2))  # (n, p, w)
    coefficients = pinv @ x[index]  # (n, p, d)
    rows, centre = torch.arange(n), torch.arange(n) - start
    fitted = (powers @ coefficients)[rows, centre]  # the fit at each sample itself
    leverage = (powers @ pinv)[rows, centre, centre]
    residual = (x - fitted) / (1 - leverage).clamp_min(1e-6).sqrt()[:, None]
    return coefficients[:, 1] / scale, residual, pinv[:, 1].norm(dim=1) / scale[:, 0]


def _candidate_halves(shortest: int, order: int) -> list[int]:
    narrow = order // 2 + 1
    largest = max(narrow, (shortest - 1) // 4)
    grid = np.unique(np.geomspace(narrow, largest, 12).round().astype(int))
    return sorted({narrow, *(int(h) for h in grid)})


def _choose(
    t: Tensor, x: Tensor, first: Tensor, length: Tensor, order: int
) -> tuple[tuple[Tensor, Tensor, Tensor], Tensor, int]:
    """The fits at the widest half-width whose residual RMS (per coordinate, pooled over
    trajectories) stays within ``_DISCREPANCY`` times that of the narrowest (the noise
    ``sigma``), the noise, and the half-width."""
    halves = _candidate_halves(int(length.min()), order)
    chosen = _local_fits(t, x, first, length, halves[0], order)
    sigma = chosen[1].pow(2).mean(0).sqrt()
    floor = 1e-13 * float(x.abs().max())
    half = halves[0]
    for trial in halves[1:]:
        fits = _local_fits(t, x, first, length, trial, order)
        if not bool((fits[1].pow(2).mean(0).sqrt() <= _DISCREPANCY * sigma + floor).all()):
            break
        chosen, half = fits, trial
    return chosen, sigma, half


def estimate_flow(trajectories: TrajectoriesLike, order: int = 6) -> FlowEstimate:
    """Estimate ``dx/dt`` along sampled trajectories (see the module docstring).

    Parameters
    ----------
    trajectories : list of (times, states), or (times, states) stacked
        Each trajectory as times (m,) and states (m, d) (tensors or arrays); or one pair
        with states (n_trajectories, m, d) and times (n_trajectories, m) or (m,).
    order : int
        Degree of the local polynomials (>= 2).

    Returns
    -------
    FlowEstimate

    Raises
    ------
    ValueError
        For NaN or Inf, times that do not increase strictly, fewer than ``order + 3``
        samples in a trajectory, or mismatched shapes.
    """
    if isinstance(order, bool) or not isinstance(order, int) or order < 2:
        raise ValueError(f"order must be an int >= 2, got {order!r}")
    pairs = _split(trajectories)
    _check(pairs, order)
    t = torch.cat([t for t, _ in pairs])
    x = torch.cat([x for _, x in pairs])
    sizes = torch.tensor([t.shape[0] for t, _ in pairs])
    first = torch.repeat_interleave(torch.cumsum(sizes, 0) - sizes, sizes)
    length = torch.repeat_interleave(sizes, sizes)
    (slopes, _, weights), noise, half = _choose(t, x, first, length, order)
    return FlowEstimate(
        states=x,
        velocities=slopes,
        times=t,
        trajectory=torch.repeat_interleave(torch.arange(len(pairs)), sizes),
        standard_error=weights[:, None] * noise[None, :],
        noise=noise,
        half_width=half,
    )
