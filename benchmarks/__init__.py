"""Performance benchmarks of lxcfs-fuse against Debian's lxcfs 5.0.3 (docs/performance.md).

``python3 -m benchmarks`` runs everything, prints a table and writes JSON to
``benchmarks/results/``; ``--quick`` is a smoke-sized run.
"""
