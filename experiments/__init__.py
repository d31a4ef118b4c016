"""What users run: strong/weak pairing, order dependence, evaluations and benchmarks."""
