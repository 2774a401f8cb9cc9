"""The claim lab: ``Claim``, ``Evidence``, ``Scale``, the ``@claim`` registry and the runner."""

from archlab.lab.claim import Claim, Evidence, Scale
from archlab.lab.registry import all_claims, claim, get_claim
from archlab.lab.runner import ClaimResult, run_claim

__all__ = ["Claim", "ClaimResult", "Evidence", "Scale", "all_claims", "claim", "get_claim", "run_claim"]
