"""Datasets, validation, buckets and the latent cache."""
