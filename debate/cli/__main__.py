"""`python -m debate.cli`: the `debate` command."""

from debate.cli import main

main()
