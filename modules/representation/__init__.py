"""Representation learning in auDeep's five steps: preprocess audio to spectrograms (netCDF),
train recurrent sequence-to-sequence autoencoders, generate representations, evaluate them with
cross-validated classifiers, and fuse / export / import feature sets."""
