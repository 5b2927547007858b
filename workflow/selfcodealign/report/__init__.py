"""The ``report`` stage: the data funnel, the loss curve, and the paper's tables with ours."""
