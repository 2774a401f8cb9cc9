"""The atlas: every claim's statement, source, rule, measurements, verdict and figure on one static page."""

from archlab.atlas.build import RESULT_KEYS, build_atlas, run_atlas

__all__ = ["RESULT_KEYS", "build_atlas", "run_atlas"]
