"""Data access: the only modules that import boto3."""
