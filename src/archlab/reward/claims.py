"""Claims of the reward family; each experiment lives in its own module, registered here with its rule, written
from issue 17 before the first run."""

from __future__ import annotations

from archlab.lab.registry import claim
from archlab.reward.overoptimization import RULE as OVEROPTIMIZATION_RULE
from archlab.reward.overoptimization import overoptimization

claim(
    "reward.overoptimization",
    statement="Optimising a proxy reward model by best-of-n raises the proxy score for ever but the gold score only "
    "up to a point, after which it falls (Goodhart); more preference data raises the peak and delays it.",
    source="Gao, Schulman, Hilton 2023 (Scaling Laws for Reward Model Overoptimization, arXiv 2210.10760)",
    rule=OVEROPTIMIZATION_RULE,
    threads=1,
)(overoptimization)
