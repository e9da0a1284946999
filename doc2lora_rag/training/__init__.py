"""Meta-training of the hypernetwork; never imported by the core package."""
