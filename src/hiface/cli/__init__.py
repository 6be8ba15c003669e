"""Command-line interface: `hiface <command>`; each command lives in its own module."""
