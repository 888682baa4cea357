"""Training: loop, parallelism applied from outside the model, checkpoints, VAE training."""
