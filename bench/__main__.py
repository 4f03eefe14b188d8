"""`python -m bench`: the whole suite (bench/run.py)."""

from bench.run import main

raise SystemExit(main())
