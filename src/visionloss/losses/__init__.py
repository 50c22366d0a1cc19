"""The loss families, one file each: the functions and their thin ``nn.Module`` wrappers."""
