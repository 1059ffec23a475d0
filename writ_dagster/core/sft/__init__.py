"""SFT sets: filtering, near-duplicate removal, decontamination, mixture, split and export."""
