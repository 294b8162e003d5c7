"""The structures discover tries, one per kind of law, and their default order.

``n`` inputs; "log" means on ``log |y|``, for a one-signed target:

- :class:`SparseSum` -- ``c_0 + sum_k c_k f_k(x_{i_k})``, a few library functions
  (:mod:`kanscience.discover._sparse`), on y and on log;
- :class:`AdditiveKAN` -- ``sum_i g_i(x_i)`` as the KAN ``[n, 1]``, on y and on log;
- :class:`TwoFunctionSum` -- one variable, ``c_1 f_1(a_1 x + b_1) + c_2 f_2(a_2 x + b_2)
  + d`` by matching pursuit (:mod:`kanscience.discover._pursuit`);
- :class:`LogProduct` -- ``prod_i exp(g_i(x_i))`` read off the additive KAN on log;
- :class:`PowerMonomial` -- a power law times a function of one monomial;
- :class:`SurrogateKAN` -- a dense KAN of width ``2n + 1`` trained only as a smooth model
  of the data, for the decomposition tests;
- :class:`PairReduction` -- a symmetry or scaling law of a pair of variables found on the
  surrogate: the problem again with fewer or better variables (recursive);
- :class:`Separation` -- additive or multiplicative separability found on the surrogate:
  one problem per group (recursive);
- :class:`AffineSplit` -- ``A(rest) + x_k B(rest)`` for a variable the surrogate is affine
  in: two problems of one variable fewer (recursive);
- :class:`ProductKAN` -- ``prod_i g_i(x_i)`` (on log) and ``f(prod_i g_i(x_i))`` (on y);
- :class:`FunctionOfSum` -- ``f(sum_i g_i(x_i))`` as ``[n, 1, 1]``;
- :class:`HiddenKAN` -- sums of pairwise products ``[n, [0, n // 2], 1]`` and a hidden
  layer ``[n, h, 1]``, on y and on log.
"""

from __future__ import annotations

from ._affine import affine_branch
from ._kan_fits import kan_branch, log_product_branch, product_branch, surrogate_branch
from ._power import power_branch
from ._pursuit import pursuit_branch
from ._reduce import symmetry_branch
from ._search import Search
from ._sparse import SparseSum
from ._split import split_branch
from ._structure import Context, Structure

__all__ = [
    "AdditiveKAN",
    "AffineSplit",
    "FunctionOfSum",
    "HiddenKAN",
    "LogProduct",
    "PairReduction",
    "PowerMonomial",
    "ProductKAN",
    "Separation",
    "SparseSum",
    "SurrogateKAN",
    "TwoFunctionSum",
    "default_structures",
]

# a surrogate split by separability must reach R^2 > 0.999; pair reductions are tested
# against the surrogate's own error and their sub-problems run on the real data, so a
# rougher surrogate (R^2 > 0.99) is enough to propose them
_SEPARATION_ERROR = 0.03
_REDUCTION_ERROR = 0.1


class AdditiveKAN(Structure):
    direct = True

    def __init__(self, on_log: bool) -> None:
        self.on_log, self.name = on_log, f"additive{'(log)' if on_log else ''}"

    def propose_and_fit(self, search: Search, context: Context) -> None:
        transform = context.transforms[int(self.on_log)]
        trained = kan_branch(search, [context.n, 1], transform, False)
        if self.on_log:
            context.log_model = trained


class TwoFunctionSum(Structure):
    name, direct = "two-function-sum", True

    def applies(self, context: Context) -> bool:
        return context.n == 1

    def propose_and_fit(self, search: Search, context: Context) -> None:
        pursuit_branch(search)


class LogProduct(Structure):
    name, on_log, direct = "log-product", True, True

    def applies(self, context: Context) -> bool:
        return context.has_log and context.n >= 2

    def propose_and_fit(self, search: Search, context: Context) -> None:
        if context.log_model is not None:
            log_product_branch(search, context.log_model, context.transforms[1])


class PowerMonomial(Structure):
    name, on_log, direct = "power-monomial", True, True

    def propose_and_fit(self, search: Search, context: Context) -> None:
        power_branch(search)


class SurrogateKAN(Structure):
    name = "surrogate"

    def applies(self, context: Context) -> bool:
        return context.depth > 0 and context.n >= 2 and context.surrogate is None

    def propose_and_fit(self, search: Search, context: Context) -> None:
        # Kolmogorov's width 2n + 1: the surrogate is judged by accuracy, not simplicity
        width = [context.n, 2 * context.n + 1, 1]
        surrogate_branch(search, width, context.transforms[0])


class PairReduction(Structure):
    """Also below the last level of decomposition when the parent gave a surrogate (as
    :class:`AffineSplit`)."""

    name, share = "pair-reduction", 0.7
    decomposes = True

    def applies(self, context: Context) -> bool:
        return context.n >= 2 and (context.depth > 0 or context.surrogate is not None)

    def propose_and_fit(self, search: Search, context: Context) -> None:
        surrogate = context.best_surrogate(search, _REDUCTION_ERROR)
        if surrogate is not None:
            symmetry_branch(search, surrogate, context.depth, context.explore)


class Separation(Structure):
    name, share = "separation", 0.7
    decomposes = True

    def applies(self, context: Context) -> bool:
        return context.depth > 0 and context.n >= 2

    def propose_and_fit(self, search: Search, context: Context) -> None:
        surrogate = context.best_surrogate(search, _SEPARATION_ERROR)
        if surrogate is not None:
            split_branch(search, surrogate, context.depth, context.explore)


class AffineSplit(Structure):
    """Also below the last level of decomposition when the parent gave a surrogate: each
    split removes a variable, so the recursion ends."""

    name, share = "affine", 0.7
    decomposes = True

    def applies(self, context: Context) -> bool:
        return context.n >= 2 and (context.depth > 0 or context.surrogate is not None)

    def propose_and_fit(self, search: Search, context: Context) -> None:
        surrogate = context.best_surrogate(search, _SEPARATION_ERROR)
        if surrogate is not None:
            affine_branch(search, surrogate, context.depth, context.explore)


class ProductKAN(Structure):
    def __init__(self, on_log: bool) -> None:
        self.on_log = on_log
        self.name = "product(log)" if on_log else "f(product)"

    def applies(self, context: Context) -> bool:
        return context.n >= 2 and super().applies(context)

    def propose_and_fit(self, search: Search, context: Context) -> None:
        product_branch(search, context.transforms[int(self.on_log)], free=not self.on_log)


class FunctionOfSum(Structure):
    name = "f(sum)"

    def applies(self, context: Context) -> bool:
        return context.n >= 2

    def propose_and_fit(self, search: Search, context: Context) -> None:
        kan_branch(search, [context.n, 1, 1], context.transforms[0], False)


class HiddenKAN(Structure):
    share = 0.5

    def __init__(self, on_log: bool, pairwise: bool) -> None:
        self.on_log, self.pairwise = on_log, pairwise
        self.name = f"{'pairwise-products' if pairwise else 'hidden'}{'(log)' if on_log else ''}"

    def applies(self, context: Context) -> bool:
        return super().applies(context) and (context.n >= 2 or not self.pairwise)

    def propose_and_fit(self, search: Search, context: Context) -> None:
        n = context.n
        width = [n, [0, max(1, n // 2)], 1] if self.pairwise else [n, context.hidden, 1]
        kan_branch(search, width, context.transforms[int(self.on_log)], True)


def default_structures() -> tuple[Structure, ...]:
    """The structures in the order they are tried (cheapest and commonest first)."""
    return (
        SparseSum(),
        AdditiveKAN(on_log=False),
        AdditiveKAN(on_log=True),
        TwoFunctionSum(),
        LogProduct(),
        PowerMonomial(),
        SurrogateKAN(),
        PairReduction(),
        Separation(),
        AffineSplit(),
        ProductKAN(on_log=False),
        FunctionOfSum(),
        ProductKAN(on_log=True),
        HiddenKAN(on_log=False, pairwise=True),
        HiddenKAN(on_log=False, pairwise=False),
        HiddenKAN(on_log=True, pairwise=False),
    )
