"""The claim lab: ``Claim``, ``Evidence``, ``Scale``, the ``@claim`` registry, the runner and the verdict over seeds."""

from archlab.lab.claim import Claim, Evidence, Scale
from archlab.lab.registry import all_claims, claim, get_claim
from archlab.lab.runner import ClaimResult, run_claim
from archlab.lab.seeds import ClaimVerdict, run_claim_seeds

__all__ = [
    "Claim", "ClaimResult", "ClaimVerdict", "Evidence", "Scale", "all_claims", "claim", "get_claim", "run_claim",
    "run_claim_seeds",
]
