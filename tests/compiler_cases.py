"""Formula table shared by the compiler tests and benchmark: (name, formula, variables, ranges).

The 50 Feynman equations of :func:`kanscience.load_feynman` (their ranges), the KAN 2.0
compiler examples, neo-Hookean elasticity, and formulas exercising each rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from kanscience import load_feynman


@dataclass(frozen=True)
class Case:
    name: str
    formula: str | list[str]
    variables: tuple[str, ...]
    ranges: dict[str, tuple[float, float]]

    def expressions(self) -> list[sympy.Expr]:
        local = {v: sympy.Symbol(v, real=True) for v in self.variables}
        items = self.formula if isinstance(self.formula, list) else [self.formula]
        return [sympy.parse_expr(f, local_dict=local) for f in items]


def _case(name: str, formula, ranges: dict[str, tuple[float, float]]) -> Case:
    return Case(name, formula, tuple(ranges), ranges)


_F = [f"F{i}{j}" for i in (1, 2, 3) for j in (1, 2, 3)]
_F_RANGES = {f: ((0.9, 1.1) if f[1] == f[2] else (-0.1, 0.1)) for f in _F}
_DET3 = "(F11*(F22*F33-F23*F32)-F12*(F21*F33-F23*F31)+F13*(F21*F32-F22*F31))"
_J2 = "(F11*F22-F12*F21)"
_F2_RANGES = {
    "F11": (0.8, 1.2),
    "F12": (-0.2, 0.2),
    "F21": (-0.2, 0.2),
    "F22": (0.8, 1.2),
    "mu": (0.5, 2.0),
    "lam": (0.5, 2.0),
}
_XY = {"x": (0.5, 2.0), "y": (0.5, 2.0)}

EXTRA_CASES: list[Case] = [
    # KAN 2.0 (Liu et al. 2024) compiler examples
    _case("kan2.product", "x*y", {"x": (-1.0, 1.0), "y": (-1.0, 1.0)}),
    _case("kan2.velocity_addition", "(u+v)/(1+u*v)", {"u": (-0.9, 0.9), "v": (-0.9, 0.9)}),
    _case("kan2.exp_sin", "exp(sin(pi*x)+y**2)", {"x": (-1.0, 1.0), "y": (-1.0, 1.0)}),
    _case("kan2.norm", "sqrt(x**2+y**2)", {"x": (-1.0, 1.0), "y": (-1.0, 1.0)}),
    _case(
        "kan2.relativistic_mass",
        "m0/sqrt(1-v**2/c**2)",
        {"m0": (0.5, 2.0), "v": (0.0, 0.9), "c": (1.0, 2.0)},
    ),
    # neo-Hookean elasticity: 2-D energy, 2-D first Piola stress, the 3-D stress-like form
    _case(
        "neohookean.energy2d",
        f"mu/2*(F11**2+F12**2+F21**2+F22**2-2)-mu*log({_J2})+lam/2*log({_J2})**2",
        _F2_RANGES,
    ),
    _case("neohookean.stress2d", f"mu*(F11-F22/{_J2})+lam*log({_J2})*F22/{_J2}", _F2_RANGES),
    _case(
        "neohookean.stress3d",
        f"mu*(F11**2+F12**2+F13**2-1)+lam*log({_DET3})",
        {**_F_RANGES, "mu": (0.5, 2.0), "lam": (0.5, 2.0)},
    ),
    # rewrites and patterns
    _case("pow.7", "x**7", _XY | {}),
    _case("pow.-7", "x**(-7)+y", _XY),
    _case("pow.5/2", "x**(5/2)*y", _XY),
    _case("pow.-3/2", "(x+y)**(-3/2)", _XY),
    _case("pow.1/3", "x**(1/3)+y**2.7", _XY),
    _case("pow.variable", "x**y", _XY),
    _case("pow.constant_base", "2**x*y", _XY),
    _case("sinh", "sinh(x*y)", _XY),
    _case("sec_csc_cot", "sec(x)+csc(y)+cot(x+y)", {"x": (0.2, 1.0), "y": (0.2, 1.0)}),
    _case("asinh_acosh", "asinh(x)+acosh(y+1)", _XY),
    _case("max_min", "Max(x, y)-Min(x, 2*y)", _XY),
    _case("gaussian", "exp(-(x-y)**2/2)", _XY),
    _case("sigmoid", "1/(1+exp(-x*y))+2/(3+exp(y))", _XY),
    _case("cosh_pair", "1/(exp(x*y)+exp(-x*y))", _XY),
    _case("same_source", "sin(x)+x**2+exp(x)", _XY),
    _case("shared", "sin(x*y)+cos(x*y)*x*y+(x*y)**2", _XY),
    _case("nested_unary", "log(1+exp(sin(x)))*tanh(atan(y))", _XY),
    _case("abs_sign", "Abs(x-y)*sign(x-1)+acos(y/3)+asin(x/3)+atanh(y/3)", _XY),
    _case("constant_factors", "pi*E*sqrt(2)*x/3+log(2)", _XY),
    _case("two_outputs", ["x*y", "x+y"], _XY),
    _case("repeated_output", ["x*y", "x*y", "x"], _XY),
    _case("sum_after_product", ["x*y+1", "sin(x)"], _XY),
    _case("identity", "x", _XY),
    _case("unused_variable", "x**2", {"x": (0.5, 2.0), "y": (0.5, 2.0), "z": (0.0, 1.0)}),
]

FEYNMAN_CASES: list[Case] = [
    Case(f"feynman.{eq.id}", eq.formula, eq.variables, dict(eq.ranges)) for eq in load_feynman()
]

CASES: list[Case] = FEYNMAN_CASES + EXTRA_CASES
