"""ovlt_train — thin trl SFT / GRPO adapters and the self-improvement round loop."""

__version__ = "0.1.0"
