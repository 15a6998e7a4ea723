"""Training layer: the one engine, models, on-device augmentation, optimiser, schedule, per-sample records."""
