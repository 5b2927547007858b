"""The ``report`` stage: pass@1 against the paper, the data funnel and the loss curve."""
