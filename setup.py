"""The one compiled piece: kanscience.core._loops, the B-spline layer loops (C).

Everything else is in pyproject.toml. The extension is optional: without a C compiler the
package installs and the same features come from torch operations (slower on small
networks, equal to rounding).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """Optimize where the compiler takes GCC/Clang flags (MSVC keeps its defaults)."""

    def build_extensions(self):
        if self.compiler.compiler_type == "unix":
            for extension in self.extensions:
                extension.extra_compile_args += ["-O3", "-fno-math-errno", "-ffp-contract=fast"]
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "kanscience.core._loops",
            sources=["kanscience/core/_loops.c"],
            depends=["kanscience/core/_loops_body.h"],
            optional=True,
        )
    ],
    cmdclass={"build_ext": BuildExt},
)
