"""The PyTorch stages."""
