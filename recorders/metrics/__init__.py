"""Pure torch metrics the recorders compute: attention, weights, activations (tensors in, tensors out)."""
