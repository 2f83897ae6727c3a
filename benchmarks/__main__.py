"""``python3 -m benchmarks``: see ``benchmarks.run``."""

from benchmarks.run import main

main()
