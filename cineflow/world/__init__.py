"""Flatland: a deterministic 2D physics world with exact ground truth (DESIGN section 2)."""
