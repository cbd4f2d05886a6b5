"""Build the C scanner and CSV parser; everything else is declared in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "poolpipe.sum._scan",
            sources=["src/poolpipe/sum/_scan.c"],
            extra_compile_args=["-O3", "-Wall", "-Wextra"],
        ),
        Extension(
            "poolpipe.train._csv",
            sources=["src/poolpipe/train/_csv.c"],
            extra_compile_args=["-O3", "-Wall", "-Wextra"],
        ),
    ]
)
