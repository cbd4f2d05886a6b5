"""Build the C scanner and CSV parser; everything else is declared in pyproject.toml.

Both extensions are optional: where one does not compile (no compiler, say), the install goes
on with a warning and poolpipe uses its slower Python path for that stage.
"""

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

FLAGS = ["-O3", "-Wall", "-Wextra"]
BUILD_ERRORS = (CCompilerError, CompileError, ExecError, LinkError, PlatformError, OSError)
"""What a missing or failing compiler raises."""


class OptionalBuildExt(build_ext):
    """build_ext that warns, instead of failing, when an extension does not compile."""

    def run(self):
        """Build every extension that can be built."""
        try:
            super().run()
        except BUILD_ERRORS as exc:
            self._skipped("the C extensions", exc)

    def build_extension(self, ext):
        """Build one extension, or say why not and go on."""
        try:
            super().build_extension(ext)
        except BUILD_ERRORS as exc:
            self._skipped(ext.name, exc)

    def _skipped(self, what, exc):
        print(
            f"WARNING: {what} could not be built ({exc}); poolpipe will use its slower"
            " Python path instead",
            file=sys.stderr,
        )


setup(
    cmdclass={"build_ext": OptionalBuildExt},
    ext_modules=[
        Extension(
            "poolpipe.sum._scan",
            sources=["src/poolpipe/sum/_scan.c"],
            depends=["src/poolpipe/sum/_scan_line.h"],
            extra_compile_args=FLAGS,
        ),
        Extension(
            "poolpipe.train._csv",
            sources=["src/poolpipe/train/_csv.c"],
            extra_compile_args=FLAGS,
        ),
    ],
)
