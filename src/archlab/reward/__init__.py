"""Reward models: Bradley-Terry reward heads on archlab sequence backbones, preference data, best-of-n against a
proxy reward, and the claims about recovering a gold reward and over-optimising a proxy (Gao et al. 2023)."""

from archlab.reward.best_of_n import BestOfN, best_of_n, bon_kl, bon_probabilities
from archlab.reward.calibration import Reliability, expected_calibration_error, reliability
from archlab.reward.features import FeatureReward, FeatureRewardConfig
from archlab.reward.losses import bradley_terry_loss, pairwise_accuracy, preference_probability
from archlab.reward.model import RewardConfig, RewardModel
from archlab.reward.preferences import Preference, read_preferences
from archlab.reward.synthetic import GoldReward, PairBatch, PreferenceSetup

__all__ = ["BestOfN", "FeatureReward", "FeatureRewardConfig", "GoldReward", "PairBatch", "Preference",
           "PreferenceSetup", "Reliability", "RewardConfig", "RewardModel", "best_of_n", "bon_kl",
           "bon_probabilities", "bradley_terry_loss", "expected_calibration_error", "pairwise_accuracy",
           "preference_probability", "read_preferences", "reliability"]
