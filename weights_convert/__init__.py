"""dualsam's weight converter between Meta, PyTorch and Keras checkpoints; see the project issues for its status."""
