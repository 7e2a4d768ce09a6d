"""The differentiable family as parts: a relaxation, an α objective, an α-gradient, modifiers and a selection rule.

docs/methods.md#the-differentiable-harness
"""
