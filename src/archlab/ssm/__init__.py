"""State space models: HiPPO, S4D, Mamba (selective SSM), linear attention as a recurrent model, hybrids with
attention, and their claims."""
