"""Claims of the reward family; each experiment lives in its own module, registered here with its rule, written
from issue 17 before the first run."""

from __future__ import annotations

from archlab.lab.registry import claim
from archlab.reward.label_noise import NOISE_RULE, label_noise
from archlab.reward.overoptimization import RULE as OVEROPTIMIZATION_RULE
from archlab.reward.overoptimization import overoptimization
from archlab.reward.recovery import RECOVERY_RULE, bradley_terry_recovers

claim(
    "reward.overoptimization",
    statement="Optimising a proxy reward model by best-of-n raises the proxy score for ever but the gold score only "
    "up to a point, after which it falls (Goodhart); more preference data raises the peak and delays it.",
    source="Gao, Schulman, Hilton 2023 (Scaling Laws for Reward Model Overoptimization, arXiv 2210.10760)",
    rule=OVEROPTIMIZATION_RULE,
    threads=1,
)(overoptimization)

claim(
    "reward.bradley-terry-recovers",
    statement="A reward model fitted by the Bradley-Terry likelihood on pairs labelled by a gold reward recovers the "
    "gold ranking of held-out items, better with more pairs.",
    source="Bradley and Terry 1952; Stiennon et al. 2020; Ouyang et al. 2022 (InstructGPT)",
    rule=RECOVERY_RULE,
    threads=1,
)(bradley_terry_recovers)

claim(
    "reward.label-noise",
    statement="Labels flipped at rate e cap a Bradley-Terry proxy's agreement with those labels near 1 - e, while the "
    "ordering it learns from them still matches the gold ordering.",
    source="Gao, Schulman, Hilton 2023 (arXiv 2210.10760, synthetic gold labeller); Natarajan et al. 2013 (learning "
    "with noisy labels)",
    rule=NOISE_RULE,
    threads=1,
)(label_noise)
