"""Build the C scanner and CSV parser; everything else is declared in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "poolpipe._scan",
            sources=["src/poolpipe/_scan.c"],
            extra_compile_args=["-O3", "-Wall", "-Wextra"],
        ),
        Extension(
            "poolpipe._csv",
            sources=["src/poolpipe/_csv.c"],
            extra_compile_args=["-O3", "-Wall", "-Wextra"],
        ),
    ]
)
