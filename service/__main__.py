"""`python -m service`: the same entry point as the `service` console script."""

from service.cli import main

main()
