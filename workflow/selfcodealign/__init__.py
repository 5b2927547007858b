"""SelfCodeAlign: a code LLM writes, tests and learns from its own instruction data.

All workflow logic lives in this package; the Snakemake rules call ``python -m selfcodealign``.
"""

__version__ = "0.1.0"
