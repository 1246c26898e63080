"""Operator CLI (not shipped to Lambda)."""
