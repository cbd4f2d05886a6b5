"""poolpipe: chunked parallel work over files, exact and measured."""

__version__ = "0.1.0"
