"""Data layer: image sources, class imbalance, cached uint8 tensors."""
