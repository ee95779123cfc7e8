"""`python -m mlchaos` is the `mlchaos` command."""

from mlchaos.cli import main

main()
