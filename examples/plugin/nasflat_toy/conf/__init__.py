"""The plugin's Hydra config groups (space/, evaluator/), appended to nasflat's search path."""
