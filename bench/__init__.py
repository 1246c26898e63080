"""``make bench``: cold start, warm CPU and round trips of the webhook and the processor.

Dev-only (never deployed). ``python -m bench.run [--quick]`` runs every section in its own
interpreter and writes bench/results/latest.json; see bench/run.py for the sections.
"""
