"""Feature-level GAN for class imbalance: extractor CNN, generator, discriminator, classifier (issue 11)."""
