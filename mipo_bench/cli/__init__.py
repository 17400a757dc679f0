"""The `mipo-bench` command line: each verb parses its arguments, calls one workflow and prints."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
