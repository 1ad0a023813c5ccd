"""Training: the GAN losses (`latentkit.train.losses`) and the training loop."""
