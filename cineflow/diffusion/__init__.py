"""The mathematics around the networks: the training objective, samplers, conditions."""
