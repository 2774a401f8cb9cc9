"""State space models: HiPPO, S4D, Mamba (selective SSM), hybrids with attention, and their claims."""
