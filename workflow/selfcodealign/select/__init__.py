"""Stage 3: execute every response with its tests, then select the training data."""
