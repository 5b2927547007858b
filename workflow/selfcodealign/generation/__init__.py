"""Text generation backends behind one interface (see ``base.py``)."""

from selfcodealign.generation.base import Backend, Completion, SamplingSettings, load_backend

__all__ = ["Backend", "Completion", "SamplingSettings", "load_backend"]
