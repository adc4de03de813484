"""`guide bench`: speed, memory and scale measured side by side in one run, written to BENCHMARKS.md + JSON."""
