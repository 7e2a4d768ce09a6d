"""Reproduction of published tables: the published numbers as data (``published``) and the command that reruns a
table at a chosen scale and prints ours next to theirs."""
