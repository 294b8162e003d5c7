"""A lean L-BFGS with strong-Wolfe line search on one flat parameter vector.

The algorithm is the one of ``torch.optim.LBFGS`` (the same inverse-Hessian
approximation, cubic interpolation, Wolfe constants c1 = 1e-4, c2 = 0.9), so a fit follows
the same path as pykan's up to rounding; the bookkeeping is leaner: the inverse Hessian is
applied in compact matrix form, gradients are gathered with one ``cat``, parameters
move with one fused ``_foreach_add_``, the line search never clones the parameters, and
the change tolerance is relative to the loss (pykan's 1e-32 absolute tolerances never
stop, which costs it ~20 evaluations per step long after the loss stopped moving).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["FlatLBFGS"]


def _cubic_minimum(
    x1: float,
    f1: float,
    g1: float,
    x2: float,
    f2: float,
    g2: float,
    bounds: tuple[float, float] | None = None,
) -> float:
    """Minimizer of the cubic interpolating (x1, f1, g1) and (x2, f2, g2) within bounds."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    square = d1 * d1 - g1 * g2
    if square >= 0:
        d2 = math.sqrt(square)
        if x1 <= x2:
            position = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            position = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(position, lo), hi)
    return (lo + hi) / 2.0


class FlatLBFGS:
    """L-BFGS over a list of tensors treated as one vector.

    Parameters
    ----------
    params : sequence of Tensor
        Leaf tensors with ``requires_grad``; updated in place.
    lr : float
        Initial step length factor.
    max_iter : int
        Iterations per :meth:`step` (pykan: 20).
    max_eval : int, optional
        Function evaluations per step (default ``max_iter * 5 // 4``).
    tolerance_grad : float
        Stop when the largest gradient entry falls below this.
    tolerance_change : float
        Stop when the loss changes by less than this fraction of itself, or the step by
        less than this much.
    history_size : int
    """

    def __init__(
        self,
        params: Sequence[Tensor],
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 10,
    ) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("FlatLBFGS got no parameter that requires grad")
        self.numels = [p.numel() for p in self.params]
        self.lr, self.max_iter = lr, max_iter
        self.max_eval = max_eval if max_eval is not None else max_iter * 5 // 4
        self.tolerance_grad, self.tolerance_change = tolerance_grad, tolerance_change
        self.history_size = history_size
        self.n_iter = 0
        self.n_evaluations = 0
        self._dirs: list[Tensor] = []
        self._steps: list[Tensor] = []
        self._direction: Tensor | None = None
        self._t = 0.0
        self._h_diag = 1.0
        self._prev_grad: Tensor | None = None

    # ---------------------------------------------------------------- state
    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """Everything a later :meth:`step` depends on: ``(tensors, scalars)``.

        The stored pairs (``s.i``, ``y.i``), the last direction and gradient, and the
        counters and step lengths; :meth:`load_state` of a fresh optimizer over the same
        parameters then continues exactly as this one would.
        """
        tensors = {f"s.{i}": s for i, s in enumerate(self._steps)}
        tensors.update({f"y.{i}": y for i, y in enumerate(self._dirs)})
        if self._direction is not None:
            tensors["direction"] = self._direction
        if self._prev_grad is not None:
            tensors["prev_grad"] = self._prev_grad
        scalars = {
            "pairs": len(self._steps),
            "n_iter": self.n_iter,
            "n_evaluations": self.n_evaluations,
            "t": self._t,
            "h_diag": self._h_diag,
        }
        return tensors, scalars

    def load_state(self, tensors: dict[str, Tensor], scalars: dict[str, Any]) -> None:
        """Continue from :meth:`state` (tensors move to the parameters' device and dtype).

        Raises
        ------
        KeyError, TypeError, ValueError
            If the state is incomplete or its vectors do not match the parameters.
        """
        reference = self.params[0]
        size = sum(self.numels)

        def vector(name: str) -> Tensor:
            value = tensors[name].to(device=reference.device, dtype=reference.dtype)
            if value.shape != (size,):
                raise ValueError(
                    f"L-BFGS state {name!r} has shape {tuple(value.shape)}, expected ({size},)"
                )
            return value

        pairs = int(scalars["pairs"])
        if not 0 <= pairs <= self.history_size:
            raise ValueError(f"L-BFGS state has {pairs} pairs; history_size is {self.history_size}")
        self._steps = [vector(f"s.{i}") for i in range(pairs)]
        self._dirs = [vector(f"y.{i}") for i in range(pairs)]
        self._direction = vector("direction") if "direction" in tensors else None
        self._prev_grad = vector("prev_grad") if "prev_grad" in tensors else None
        self.n_iter, self.n_evaluations = int(scalars["n_iter"]), int(scalars["n_evaluations"])
        self._t, self._h_diag = float(scalars["t"]), float(scalars["h_diag"])

    # ---------------------------------------------------------------- vectors
    def flat_params(self) -> Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    def set_flat_params(self, flat: Tensor) -> None:
        with torch.no_grad():
            for p, value in zip(self.params, flat.split(self.numels)):
                p.copy_(value.view_as(p))

    def _flat_grad(self) -> Tensor:
        return torch.cat(
            [
                (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                for p in self.params
            ]
        )

    def _move(self, step: float, direction: Tensor) -> None:
        with torch.no_grad():
            views = [v.view_as(p) for v, p in zip(direction.split(self.numels), self.params)]
            # one fused update; torch's stubs do not export the _foreach ops
            torch._foreach_add_(self.params, views, alpha=step)  # type: ignore[attr-defined]

    def _evaluate(self, closure: Callable[[], Tensor]) -> tuple[float, Tensor]:
        for p in self.params:
            p.grad = None
        with torch.enable_grad():
            loss = float(closure())
        self.n_evaluations += 1
        return loss, self._flat_grad()

    # ---------------------------------------------------------------- search
    def _strong_wolfe(
        self,
        closure,
        t: float,
        d: Tensor,
        loss: float,
        grad: Tensor,
        gtd: float,
        c1: float = 1e-4,
        c2: float = 0.9,
        max_ls: int = 25,
    ) -> tuple[float, Tensor, float, int]:
        """Line search along d from the current point; leaves the parameters at the start."""
        d_norm = float(d.abs().max())
        position = 0.0  # how far the parameters currently sit along d

        def value_at(step: float) -> tuple[float, Tensor, float]:
            nonlocal position
            self._move(step - position, d)
            position = step
            f, g = self._evaluate(closure)
            return f, g, float(g.dot(d))

        f_new, g_new, gtd_new = value_at(t)
        evals = 1
        t_prev, f_prev, g_prev, gtd_prev = 0.0, loss, grad, gtd
        done = False
        iteration = 0
        bracket: list[float] = []
        while iteration < max_ls:
            if f_new > loss + c1 * t * gtd or (iteration > 1 and f_new >= f_prev):
                bracket, bracket_f = [t_prev, t], [f_prev, f_new]
                bracket_g, bracket_gtd = [g_prev, g_new.clone()], [gtd_prev, gtd_new]
                break
            if abs(gtd_new) <= -c2 * gtd:
                bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
                done = True
                break
            if gtd_new >= 0:
                bracket, bracket_f = [t_prev, t], [f_prev, f_new]
                bracket_g, bracket_gtd = [g_prev, g_new.clone()], [gtd_prev, gtd_new]
                break
            min_step = t + 0.01 * (t - t_prev)
            max_step = t * 10
            tmp = t
            t = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, (min_step, max_step))
            t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.clone(), gtd_new
            f_new, g_new, gtd_new = value_at(t)
            evals += 1
            iteration += 1
        if iteration == max_ls:
            bracket, bracket_f, bracket_g = [0.0, t], [loss, f_new], [grad, g_new]
            bracket_gtd = [gtd, gtd_new]

        insufficient = False
        low, high = (0, 1) if len(bracket) == 2 and bracket_f[0] <= bracket_f[-1] else (1, 0)
        while not done and iteration < max_ls:
            if abs(bracket[1] - bracket[0]) * d_norm < self.tolerance_change:
                break
            t = _cubic_minimum(
                bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
            )
            hi_b, lo_b = max(bracket), min(bracket)
            eps = 0.1 * (hi_b - lo_b)
            if min(hi_b - t, t - lo_b) < eps:
                if insufficient or t >= hi_b or t <= lo_b:
                    t = hi_b - eps if abs(t - hi_b) < abs(t - lo_b) else lo_b + eps
                    insufficient = False
                else:
                    insufficient = True
            else:
                insufficient = False
            f_new, g_new, gtd_new = value_at(t)
            evals += 1
            iteration += 1
            if f_new > loss + c1 * t * gtd or f_new >= bracket_f[low]:
                bracket[high], bracket_f[high] = t, f_new
                bracket_g[high], bracket_gtd[high] = g_new.clone(), gtd_new
                low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
            else:
                if abs(gtd_new) <= -c2 * gtd:
                    done = True
                elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                    bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                    bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
                bracket[low], bracket_f[low] = t, f_new
                bracket_g[low], bracket_gtd[low] = g_new.clone(), gtd_new
        t = bracket[low] if len(bracket) > 1 else bracket[0]
        self._move(-position, d)
        return (
            bracket_f[low] if len(bracket) > 1 else bracket_f[0],
            bracket_g[low] if len(bracket) > 1 else bracket_g[0],
            t,
            evals,
        )

    def _inverse_hessian_times(self, grad: Tensor) -> Tensor:
        """``H grad`` for the L-BFGS inverse-Hessian approximation, in compact form.

        Byrd, Nocedal & Schnabel (1994): with S, Y the stored steps and gradient changes
        (oldest first), R = triu(S^T Y), D = diag(S^T Y) and gamma the initial scaling,
        ``H g = gamma g + S^T u - gamma Y^T w`` where ``w = R^-1 (S g)`` and
        ``u = R^-T ((D + gamma Y Y^T) w - gamma Y g)``. The same matrix as the two-loop
        recursion, in a dozen tensor operations instead of four per stored pair.
        """
        gamma = self._h_diag
        if not self._steps:
            return grad * gamma
        steps, changes = torch.stack(self._steps), torch.stack(self._dirs)  # (m, n)
        sy = steps @ changes.t()
        upper = torch.triu(sy)
        w = torch.linalg.solve_triangular(upper, (steps @ grad)[:, None], upper=True)
        inner = (torch.diag(torch.diagonal(sy)) + gamma * (changes @ changes.t())) @ w
        u = torch.linalg.solve_triangular(
            upper.t(), inner - gamma * (changes @ grad)[:, None], upper=False
        )
        return gamma * grad + steps.t() @ u[:, 0] - gamma * (changes.t() @ w[:, 0])

    # ---------------------------------------------------------------- step
    def step(self, closure: Callable[[], Tensor]) -> float:
        """Run up to ``max_iter`` iterations; ``closure`` computes the loss and its backward."""
        loss, grad = self._evaluate(closure)
        first_loss = loss
        evals = 1
        if float(grad.abs().max()) <= self.tolerance_grad:
            return first_loss
        for iteration in range(1, self.max_iter + 1):
            self.n_iter += 1
            if self._direction is None or self._prev_grad is None:
                d = -grad
                self._dirs, self._steps, self._h_diag = [], [], 1.0
            else:
                y = grad - self._prev_grad
                s = self._direction * self._t
                ys = float(y.dot(s))
                if ys > 1e-10:
                    if len(self._dirs) == self.history_size:
                        self._dirs.pop(0)
                        self._steps.pop(0)
                    self._dirs.append(y)
                    self._steps.append(s)
                    self._h_diag = ys / float(y.dot(y))
                d = -self._inverse_hessian_times(grad)
            self._prev_grad = grad
            prev_loss = loss
            # the first step is scaled to unit length in the L1 norm (as torch's LBFGS)
            t = min(1.0, 1.0 / float(grad.abs().sum())) * self.lr if self.n_iter == 1 else self.lr
            gtd = float(grad.dot(d))
            if gtd > -self.tolerance_change * max(abs(loss), 1e-30):
                self._direction = d
                self._t = 0.0
                break
            loss, grad, t, ls_evals = self._strong_wolfe(closure, t, d, loss, grad, gtd)
            self._move(t, d)
            self._direction, self._t = d, t
            evals += ls_evals
            if iteration == self.max_iter or evals >= self.max_eval:
                break
            if float(grad.abs().max()) <= self.tolerance_grad:
                break
            if float(d.abs().max()) * abs(t) <= self.tolerance_change:
                break
            if abs(loss - prev_loss) <= self.tolerance_change * max(abs(prev_loss), 1e-30):
                break
        return first_loss
