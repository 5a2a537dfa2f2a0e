"""dualsam's Keras 3 backend (TensorFlow). TFSamModel lands here; see the project issues for its status."""
