"""Configuration files and short programs shown on the documentation pages, each run by a test."""
