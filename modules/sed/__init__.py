"""Sound event detection: annotations, clip cutting and metrics."""
