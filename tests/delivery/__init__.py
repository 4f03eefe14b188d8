"""Delivery: the GitHub workflows, Dependabot, pre-commit and the rename script, checked offline."""
